import json

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from tests.factories import UserFactory, make_workspace
from vaults import services
from vaults.models import Vault, VaultScope
from workspaces.models import AuditEvent

SECRET = "s3cr3t-value-never-logged"


def raw_columns(vault):
    with connection.cursor() as cursor:
        cursor.execute("SELECT content, data FROM vaults_vault WHERE id = %s", [vault.pk])
        return cursor.fetchone()


def audit_text(workspace):
    return json.dumps(list(AuditEvent.objects.for_workspace(workspace).values("action", "before", "after")))


def test_contents_are_encrypted_at_rest(workspace, owner, groups):
    vault = services.group_vault_create(
        workspace=workspace,
        actor=owner,
        name="Storage",
        group=groups["users"],
        fmt="yaml",
        content=f"sdk:\n  aws:\n    s3:\n      secret: {SECRET}\n",
    )
    content, data = raw_columns(vault)
    assert SECRET not in content and SECRET not in data
    assert content.startswith("gAAAA") and data.startswith("gAAAA")  # Fernet tokens
    vault = Vault.objects.get(pk=vault.pk)
    assert SECRET in vault.content
    assert json.loads(vault.data) == {"sdk": {"aws": {"s3": {"secret": SECRET}}}}


def test_group_vault_create_stores_summary_and_audits_paths_without_values(workspace, owner, groups):
    vault = services.group_vault_create(
        workspace=workspace,
        actor=owner,
        name="  Team   storage ",
        group=groups["users"],
        fmt="hocon",
        content=f'sdk.aws.s3 {{ key: "AKIA", secret: "{SECRET}", region: eu }}\napi.files_server: "https://f"',
    )
    assert vault.name == "Team storage"
    assert vault.scope == VaultScope.GROUP and vault.enabled
    assert vault.summary == ["sdk.aws.s3.key", "sdk.aws.s3.secret", "sdk.aws.s3.region"]
    assert (vault.key_count, vault.summary_more) == (4, 1)
    event = AuditEvent.objects.for_workspace(workspace).get(action="vault.create")
    assert event.actor == owner and event.target_id == str(vault.pk)
    assert event.after["group"] == "Users"
    assert event.after["keys"]["added"] == sorted(
        ["sdk.aws.s3.key", "sdk.aws.s3.secret", "sdk.aws.s3.region", "api.files_server"]
    )
    assert SECRET not in audit_text(workspace) and "AKIA" not in audit_text(workspace)


def test_update_audits_a_diff_of_keys(workspace, owner, groups, research):
    vault = services.group_vault_create(
        workspace=workspace, actor=owner, name="V", group=groups["users"], fmt="hocon", content="a: 1\nb: 2"
    )
    services.group_vault_update(
        vault=vault,
        actor=owner,
        name="V2",
        group=research,
        fmt="json",
        content=f'{{"a": 1, "b": "{SECRET}", "c": 3}}',
    )
    event = AuditEvent.objects.for_workspace(workspace).get(action="vault.update")
    assert event.before == {"name": "V", "group": "Users", "format": "hocon"}
    assert event.after == {
        "name": "V2",
        "group": "Research",
        "format": "json",
        "keys": {"added": ["c"], "changed": ["b"]},
    }
    assert SECRET not in audit_text(workspace)


@pytest.mark.parametrize(
    ("fmt", "content", "field"),
    [
        ("hocon", "agent { debug: true }", "content"),
        ("json", '{"a": ', "content"),
        ("yaml", "a: [", "content"),
        ("toml", "a = 1", "format"),
    ],
)
def test_an_invalid_update_changes_nothing(workspace, owner, groups, fmt, content, field):
    vault = services.group_vault_create(
        workspace=workspace, actor=owner, name="V", group=groups["users"], fmt="hocon", content="a: 1"
    )
    events = AuditEvent.objects.count()
    with pytest.raises(ValidationError) as err:
        services.group_vault_update(
            vault=vault, actor=owner, name="Renamed", group=groups["admins"], fmt=fmt, content=content
        )
    assert field in err.value.message_dict
    vault.refresh_from_db()
    assert (vault.name, vault.group, vault.format, vault.content) == ("V", groups["users"], "hocon", "a: 1")
    assert AuditEvent.objects.count() == events


def test_size_limit_has_a_clear_error_and_saves_nothing(workspace, owner, groups, settings):
    settings.PORTAL_VAULT_MAX_BYTES = 1024
    big = "a: " + "x" * 2000
    with pytest.raises(ValidationError) as err:
        services.group_vault_create(
            workspace=workspace, actor=owner, name="Big", group=groups["users"], fmt="hocon", content=big
        )
    assert err.value.message_dict["content"] == ["The vault text is 2 KiB; a vault holds at most 1 KiB."]
    with pytest.raises(ValidationError):
        services.user_vault_save(workspace=workspace, user=owner, actor=owner, fmt="hocon", content=big)
    assert not Vault.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="vault.").exists()


def test_names_are_unique_per_workspace_and_groups_must_belong_to_it(workspace, owner, groups, make_group):
    services.group_vault_create(
        workspace=workspace, actor=owner, name="Shared", group=groups["users"], fmt="hocon", content=""
    )
    with pytest.raises(ValidationError, match="Another vault"):
        services.group_vault_create(
            workspace=workspace, actor=owner, name="shared", group=groups["admins"], fmt="hocon", content=""
        )
    other_ws = make_workspace(owner=UserFactory(), name="Other")
    foreign = make_group("Foreign", ws=other_ws)
    with pytest.raises(ValidationError, match="user group of this workspace"):
        services.group_vault_create(
            workspace=workspace, actor=owner, name="X", group=foreign, fmt="hocon", content=""
        )
    with pytest.raises(ValidationError, match="Choose the user group"):
        services.group_vault_create(
            workspace=workspace, actor=owner, name="X", group=None, fmt="hocon", content=""
        )
    with pytest.raises(ValidationError, match="Give the vault a name"):
        services.group_vault_create(
            workspace=workspace, actor=owner, name="  ", group=groups["users"], fmt="hocon", content=""
        )


def test_a_workspace_holds_a_bounded_number_of_vaults(workspace, owner, groups, monkeypatch):
    monkeypatch.setattr(services, "MAX_GROUP_VAULTS", 2)
    for name in ("a", "b"):
        services.group_vault_create(
            workspace=workspace, actor=owner, name=name, group=groups["users"], fmt="hocon", content=""
        )
    with pytest.raises(ValidationError, match="at most 2"):
        services.group_vault_create(
            workspace=workspace, actor=owner, name="c", group=groups["users"], fmt="hocon", content=""
        )


def test_user_vault_is_one_per_member_created_disabled(workspace, member):
    vault = services.user_vault_save(
        workspace=workspace, user=member, actor=member, fmt="hocon", content="sdk.a: 1"
    )
    again = services.user_vault_save(
        workspace=workspace, user=member, actor=member, fmt="yaml", content="sdk:\n  a: 2\n"
    )
    assert vault.pk == again.pk and not again.enabled
    assert Vault.objects.filter(scope=VaultScope.USER).count() == 1
    assert again.data.replace(" ", "").replace("\n", "") == '{"sdk":{"a":2}}'
    actions = list(
        AuditEvent.objects.for_workspace(workspace)
        .filter(action__startswith="vault.")
        .values_list("action", "after")
    )
    assert actions[0] == ("vault.update", {"format": "yaml", "keys": {"changed": ["sdk.a"]}})
    assert actions[1] == ("vault.create", {"format": "hocon", "keys": {"added": ["sdk.a"]}})


def test_user_vault_toggle_creates_an_empty_vault_and_audits(workspace, member):
    vault = services.user_vault_set_enabled(workspace=workspace, user=member, actor=member, enabled=True)
    assert vault.enabled and vault.content == ""
    services.user_vault_set_enabled(workspace=workspace, user=member, actor=member, enabled=True)  # no-op
    services.user_vault_set_enabled(workspace=workspace, user=member, actor=member, enabled=False)
    actions = list(
        AuditEvent.objects.for_workspace(workspace)
        .order_by("created_at", "id")
        .values_list("action", flat=True)
    )
    assert [a for a in actions if a.startswith("vault.")] == ["vault.enable", "vault.disable"]


def test_only_members_have_a_vault(workspace, outsider):
    with pytest.raises(ValidationError, match="Only a member"):
        services.user_vault_save(
            workspace=workspace, user=outsider, actor=outsider, fmt="hocon", content="a: 1"
        )
    with pytest.raises(ValidationError, match="Only a member"):
        services.user_vault_set_enabled(workspace=workspace, user=outsider, actor=outsider, enabled=True)
    assert not Vault.objects.exists()


def test_delete_audits_the_key_paths(workspace, owner, groups):
    vault = services.group_vault_create(
        workspace=workspace,
        actor=owner,
        name="Gone",
        group=groups["users"],
        fmt="json",
        content=f'{{"x": {{"y": "{SECRET}"}}}}',
    )
    services.vault_delete(vault=vault, actor=owner)
    assert not Vault.objects.exists()
    event = AuditEvent.objects.for_workspace(workspace).get(action="vault.delete")
    assert event.target_label == "Gone" and event.before["keys"] == ["x.y"]
    assert SECRET not in audit_text(workspace)


def test_nul_characters_are_refused(workspace, member):
    with pytest.raises(ValidationError, match="NUL"):
        services.user_vault_save(
            workspace=workspace, user=member, actor=member, fmt="hocon", content="a: 1\x00"
        )


def test_line_ends_are_normalised(workspace, member):
    vault = services.user_vault_save(
        workspace=workspace, user=member, actor=member, fmt="hocon", content="a: 1\r\nb: 2\r"
    )
    assert vault.content == "a: 1\nb: 2\n"


def test_every_error_is_reported_at_once(workspace, owner, groups):
    services.group_vault_create(
        workspace=workspace, actor=owner, name="Taken", group=groups["users"], fmt="hocon", content=""
    )
    with pytest.raises(ValidationError) as err:
        services.group_vault_create(
            workspace=workspace, actor=owner, name="taken", group=None, fmt="json", content="{"
        )
    assert set(err.value.message_dict) == {"name", "group", "content"}
