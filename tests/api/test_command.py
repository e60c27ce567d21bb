"""manage.py portal_credentials create|list|revoke (the ops contract)."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from workspaces.models import AuditEvent, Credential
from workspaces.selectors import personal_workspace_get

from .conftest import basic


def run(*args):
    out = StringIO()
    call_command("portal_credentials", *args, stdout=out)
    return out.getvalue()


def test_create_json_contract(api, member, settings):
    settings.PORTAL_BASE_URL = "https://portal.example.com"
    settings.PORTAL_API_URL = "https://portal.example.com/api"
    settings.PORTAL_FILES_URL = "https://files.example.com"
    result = json.loads(run("create", "--user", "MEMBER@example.com", "--label", "ci", "--json"))
    assert set(result) == {"access_key", "secret_key", "label", "api_server", "web_server", "files_server"}
    assert result["label"] == "ci"
    assert result["api_server"] == "https://portal.example.com/api"
    assert result["web_server"] == "https://portal.example.com/"
    assert result["files_server"] == "https://files.example.com"
    credential = Credential.objects.get(access_key=result["access_key"])
    assert credential.user == member
    assert credential.workspace == personal_workspace_get(user=member)
    assert credential.created_by is None
    assert (
        AuditEvent.objects.get(action="credential.create", target_id=str(credential.pk)).actor_label
        == "system"
    )
    assert api.call("auth.login", auth=basic(result["access_key"], result["secret_key"]))[0] == 200


def test_create_in_a_named_workspace(member, workspace):
    result = json.loads(run("create", "--user", member.email, "--workspace", workspace.slug, "--json"))
    assert Credential.objects.get(access_key=result["access_key"]).workspace == workspace


def test_create_plain_output_is_the_configuration_text(member):
    out = run("create", "--user", member.email, "--label", "box")
    assert "api {\n  # box\n" in out
    assert out.rstrip().endswith("}")


def test_create_refuses_a_workspace_the_user_is_not_in(outsider, workspace):
    with pytest.raises(CommandError, match="not a member"):
        run("create", "--user", outsider.email, "--workspace", workspace.slug)
    assert not Credential.objects.filter(user=outsider).exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create", "--user", "nobody@example.com"], "No user"),
        (["create", "--user", "member@example.com", "--workspace", "nope"], "No workspace"),
        (["list", "--user", "nobody@example.com"], "No user"),
        (["revoke", "--access-key", "NOPE"], "No credentials"),
    ],
)
def test_errors_are_command_errors(member, args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)


def test_create_rejects_a_bad_label(member):
    with pytest.raises(CommandError, match="label"):
        run("create", "--user", member.email, "--label", "x" * 300)


def test_list_json_never_shows_secrets(member, workspace):
    first = json.loads(run("create", "--user", member.email, "--label", "one", "--json"))
    run("create", "--user", member.email, "--workspace", workspace.slug, "--label", "two")
    rows = json.loads(run("list", "--user", member.email, "--json"))
    assert [row["label"] for row in rows] == ["one", "two"]
    assert rows[0]["access_key"] == first["access_key"]
    assert first["secret_key"] not in json.dumps(rows)
    assert {"access_key", "label", "workspace", "created", "last_used", "last_used_from", "revoked"} <= set(
        rows[0]
    )


def test_revoke_then_list(api, member, django_capture_on_commit_callbacks):
    created = json.loads(run("create", "--user", member.email, "--json"))
    token = api.login(created["access_key"], created["secret_key"])
    assert api.call("users.get_current_user", token=token)[0] == 200
    with django_capture_on_commit_callbacks(execute=True):
        assert "Revoked" in run("revoke", "--access-key", created["access_key"])
    assert api.call("users.get_current_user", token=token)[0] == 401
    assert json.loads(run("list", "--user", member.email, "--json")) == []
    (row,) = json.loads(run("list", "--user", member.email, "--all", "--json"))
    assert row["revoked"]
    assert "already revoked" in run("revoke", "--access-key", created["access_key"])


def test_list_plain(member):
    assert "has no credentials" in run("list", "--user", member.email)
    created = json.loads(run("create", "--user", member.email, "--label", "lbl", "--json"))
    out = run("list", "--user", member.email)
    assert created["access_key"] in out and "lbl" in out and "never" in out
