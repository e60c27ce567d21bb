import factory

from accounts.models import User
from accounts.services import user_create
from workspaces.models import Role, Workspace
from workspaces.services import membership_add, workspace_create

PASSWORD = "correct horse battery staple"


class UserFactory(factory.Factory):
    """Users made through the real service, so each has preferences and a personal workspace."""

    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    username = factory.Sequence(lambda n: f"user{n}")
    password = PASSWORD
    is_staff = False

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return user_create(**kwargs)

    @classmethod
    def _build(cls, model_class, *args, **kwargs):
        raise NotImplementedError("use create(): users need their workspace")


def make_workspace(*, owner: User, name: str = "Team", members: dict[User, Role] | None = None) -> Workspace:
    workspace = workspace_create(owner=owner, name=name)
    for user, role in (members or {}).items():
        membership_add(workspace=workspace, user=user, role=role, actor=owner)
    return workspace
