"""Load the demo data once: `manage.py portal_demo` (what `make run` calls).

A demo workspace with an administrator and a few members. Running it again does
nothing, so a developer's own changes survive restarts.
"""

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from access.models import UserGroup
from accounts.models import User
from accounts.services import user_create
from resources.demo import load_resources_demo
from vaults.services import group_vault_create
from workspaces.models import Membership, Role, Workspace
from workspaces.services import membership_add, workspace_create

DEMO_ADMIN = ("admin@example.com", "demo-admin-password")
DEMO_MEMBERS = [("alice@example.com", "alice"), ("bob@example.com", "bob"), ("carol@example.com", "carol")]
DEMO_MEMBER_PASSWORD = "demo-member-password"
DEMO_WORKSPACE = "Demo Lab"
DEMO_VAULT = """sdk {
  aws {
    s3 {
      region: "eu-west-1"
      use_credentials_chain: true
    }
  }
  development {
    default_output_uri: "s3://demo-lab-artifacts/dev"
  }
}
"""


class Command(BaseCommand):
    help = "Load demo data (a workspace with an admin and members) unless it is already there."

    def handle(self, *args, **options):
        email, password = DEMO_ADMIN
        if User.objects.filter(email=email).exists():
            self.stdout.write("Demo data already loaded.")
        else:
            self.load()
            self.stdout.write("Demo data loaded.")
        self.stdout.write(
            f"Demo login: {email} / {password}  (members: alice@example.com … / {DEMO_MEMBER_PASSWORD})"
        )

    @transaction.atomic
    def load(self) -> Workspace:
        email, password = DEMO_ADMIN
        admin = user_create(email=email, password=password, username="admin", is_staff=True)
        workspace = workspace_create(owner=admin, name=DEMO_WORKSPACE)
        members = []
        for member_email, username in DEMO_MEMBERS:
            member = user_create(email=member_email, password=DEMO_MEMBER_PASSWORD, username=username)
            membership_add(workspace=workspace, user=member, role=Role.MEMBER, actor=admin)
            members.append(member)
        alice, bob, carol = members
        # The spec's Example Workflow: pools, profiles, team policies, jobs running and waiting.
        load_resources_demo(
            workspace=workspace, admin=admin, members={"Dev": [alice], "Research": [bob], "Product": [carol]}
        )
        # An administrator vault for the Dev group: alice's SDK sessions get these settings.
        dev = UserGroup.objects.for_workspace(workspace).get(name="Dev")
        group_vault_create(
            workspace=workspace,
            actor=admin,
            name="Dev storage",
            group=dev,
            fmt="hocon",
            content=DEMO_VAULT,
        )
        # The demo administrator's first sign-in lands in Demo Lab, not the empty personal workspace.
        Membership.objects.filter(workspace=workspace, user=admin).update(last_used_at=timezone.now())
        return workspace
