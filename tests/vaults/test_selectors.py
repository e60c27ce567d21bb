import pytest

from access.models import GroupMembership
from accounts.models import User
from accounts.services import hidden_args_update
from vaults import selectors, services
from vaults.models import Vault
from workspaces.models import Membership, Role


@pytest.fixture
def vault(workspace, owner):
    def make(name, group, content="a: 1", fmt="hocon", enabled=True):
        return services.group_vault_create(
            workspace=workspace,
            actor=owner,
            name=name,
            group=group,
            fmt=fmt,
            content=content,
            enabled=enabled,
        )

    return make


def names(vaults):
    return [v.name or f"user:{v.user.username}" for v in vaults]


def test_precedence_users_group_first_then_groups_by_name_then_creation_and_own_vault_last(
    workspace, member, groups, make_group, vault
):
    zeta = make_group("zeta", member)
    alpha = make_group("Alpha", member)
    vault("z1", zeta)
    vault("everyone-2", groups["users"])
    services.user_vault_save(workspace=workspace, user=member, actor=member, fmt="hocon", content="own: 1")
    services.user_vault_set_enabled(workspace=workspace, user=member, actor=member, enabled=True)
    vault("a1", alpha)
    vault("everyone-1-later", groups["users"])
    vault("a2", alpha)
    vault("admins-only", groups["admins"])
    expected = ["everyone-2", "everyone-1-later", "a1", "a2", "z1", "user:member"]
    assert names(selectors.vaults_for_user(workspace=workspace, user=member)) == expected
    # The administrator table lists every group vault in the same order.
    table = names(selectors.group_vault_list(workspace=workspace))
    assert table == ["everyone-2", "everyone-1-later", "admins-only", "a1", "a2", "z1"]


def test_admins_get_the_admins_group_vaults(workspace, admin_member, member, groups, vault):
    vault("for admins", groups["admins"])
    assert names(selectors.vaults_for_user(workspace=workspace, user=admin_member)) == ["for admins"]
    assert selectors.vaults_for_user(workspace=workspace, user=member) == []


def test_disabled_vaults_and_other_groups_do_not_apply(
    workspace, member, groups, make_group, vault, admin_member
):
    vault("off", groups["users"], enabled=False)
    vault("elsewhere", make_group("Other", admin_member))
    services.user_vault_save(
        workspace=workspace, user=member, actor=member, fmt="hocon", content="a: 1"
    )  # disabled
    assert selectors.vaults_for_user(workspace=workspace, user=member) == []
    assert names(selectors.vaults_for_user(workspace=workspace, user=member, enabled=False)) == [
        "off",
        "user:member",
    ]
    assert len(selectors.vaults_for_user(workspace=workspace, user=member, enabled=None)) == 2


def test_a_group_the_member_left_stops_applying(workspace, member, research, vault):
    vault("research", research)
    assert names(selectors.vaults_for_user(workspace=workspace, user=member)) == ["research"]
    GroupMembership.objects.filter(group=research, user=member).delete()
    assert selectors.vaults_for_user(workspace=workspace, user=member) == []


def test_a_deleted_group_leaves_its_vault_applying_to_nobody(workspace, member, research, vault):
    kept = vault("research", research)
    research.delete()
    kept.refresh_from_db()
    assert kept.group is None
    assert selectors.vaults_for_user(workspace=workspace, user=member) == []
    assert names(selectors.group_vault_list(workspace=workspace)) == ["research"]


def test_non_members_get_nothing(workspace, member, outsider, groups, vault):
    vault("all", groups["users"])
    services.user_vault_set_enabled(workspace=workspace, user=member, actor=member, enabled=True)
    assert selectors.vaults_for_user(workspace=workspace, user=outsider) == []
    Membership.objects.filter(workspace=workspace, user=member).delete()
    assert selectors.vaults_for_user(workspace=workspace, user=member) == []


def test_api_vault_serves_yaml_as_json(workspace, groups, vault):
    served = selectors.api_vault(vault("y", groups["users"], content="sdk:\n  a: 1\n", fmt="yaml"))
    assert served["format"] == "json" and served["scope"] == "group" and served["type"] == "config"
    assert served["description"] == "y" and served["enabled"] is True and len(served["id"]) == 32


def test_effective_configuration_merges_in_order_and_names_the_source(
    workspace, member, groups, research, vault
):
    base = vault(
        "base",
        groups["users"],
        content='sdk { aws.s3 { region: "us-east-1", key: "K0" } }\nlist: [1, 2]\nobj { a: 1 }',
    )
    team = vault(
        "team", research, content='{"sdk": {"aws": {"s3": {"region": "eu-west-1"}}}, "obj": 5}', fmt="json"
    )
    services.user_vault_save(
        workspace=workspace,
        user=member,
        actor=member,
        fmt="yaml",
        content="sdk:\n  aws:\n    s3:\n      key: MINE\n",
    )
    services.user_vault_set_enabled(workspace=workspace, user=member, actor=member, enabled=True)
    own = Vault.objects.get(user=member)
    result = selectors.effective_configuration(workspace=workspace, user=member, viewer=member)
    entries = {e.path: e for e in result.entries}
    assert set(entries) == {"sdk.aws.s3.region", "sdk.aws.s3.key", "list", "obj"}
    assert (entries["sdk.aws.s3.region"].value, entries["sdk.aws.s3.region"].source) == ("eu-west-1", team)
    assert entries["sdk.aws.s3.region"].overridden == [base]
    assert (entries["sdk.aws.s3.key"].value, entries["sdk.aws.s3.key"].source) == ("MINE", own)
    assert entries["list"].value == "[1, 2]"
    assert (entries["obj"].value, entries["obj"].source) == ("5", team)  # a scalar replaces the object
    assert [v.name or "own" for v in result.vaults] == ["base", "team", "own"]


def test_effective_configuration_redacts_for_the_viewer(workspace, member, admin_member, groups, vault):
    hidden_args_update(user=member, names=["MY_HIDDEN_VAR"])
    member = User.objects.get(pk=member.pk)
    vault(
        "env",
        groups["users"],
        content='environment { MY_HIDDEN_VAR: "abc", AWS_SECRET_ACCESS_KEY: "xyz", PLAIN: "ok" }\n'
        'sdk.aws.s3 { key: "AKIA", secret: "shh" }\n'
        'agent.extra_docker_arguments: ["-e", "MY_HIDDEN_VAR=abc"]',
    )
    services.user_vault_save(
        workspace=workspace, user=member, actor=member, fmt="hocon", content="mine.note: hello"
    )
    services.user_vault_set_enabled(workspace=workspace, user=member, actor=member, enabled=True)

    def values(viewer):
        result = selectors.effective_configuration(workspace=workspace, user=member, viewer=viewer)
        return {e.path: e.value for e in result.entries}

    own_view = values(member)
    assert own_view["environment.MY_HIDDEN_VAR"] == "********"
    assert own_view["environment.AWS_SECRET_ACCESS_KEY"] == "********"  # a secret-looking name
    assert own_view["sdk.aws.s3.secret"] == "********"
    assert own_view["environment.PLAIN"] == "ok" and own_view["sdk.aws.s3.key"] == "AKIA"
    assert "abc" not in own_view["agent.extra_docker_arguments"]
    assert own_view["mine.note"] == "hello"
    admin_view = values(admin_member)
    assert admin_view["mine.note"] == "********"  # the member's own vault: keys only for others
    assert admin_view["environment.MY_HIDDEN_VAR"] == "********"  # the member's hidden list applies too
    assert admin_view["environment.PLAIN"] == "ok"


def test_admin_vault_table_is_one_query(
    workspace, owner, groups, make_group, vault, django_assert_num_queries
):
    for i in range(5):
        vault(f"v{i}", make_group(f"g{i}"))
    with django_assert_num_queries(1):
        rows = selectors.group_vault_list(workspace=workspace)
        assert [v.group.name for v in rows] == [f"g{i}" for i in range(5)]


def test_member_user_get_finds_members_of_every_role_and_nobody_else(
    workspace, owner, admin_member, member, outsider
):
    # The effective-configuration picker: an administrator may look at any member, an
    # administrator or the owner included, by the hex or the dashed id.
    for user, role in ((owner, Role.OWNER), (admin_member, Role.ADMIN), (member, Role.MEMBER)):
        assert Membership.objects.get(workspace=workspace, user=user).role == role
        assert selectors.member_user_get(workspace=workspace, user_id=user.pk.hex) == user
        assert selectors.member_user_get(workspace=workspace, user_id=str(user.pk)) == user
    listed = {user_id for user_id, _, _ in selectors.member_list(workspace=workspace)}
    assert listed == {owner.pk, admin_member.pk, member.pk}
    assert selectors.member_user_get(workspace=workspace, user_id=str(outsider.pk)) is None
    assert selectors.member_user_get(workspace=workspace, user_id="nope") is None
    Membership.objects.filter(workspace=workspace, user=member).delete()
    assert selectors.member_user_get(workspace=workspace, user_id=member.pk.hex) is None
