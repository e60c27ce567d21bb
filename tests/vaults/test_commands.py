import io
import json

import pytest
from django.core.management import CommandError, call_command

from vaults.models import Vault, VaultScope
from workspaces.models import AuditEvent


def run(*args) -> str:
    out = io.StringIO()
    call_command("portal_vaults", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def conf(tmp_path):
    def write(name, text):
        path = tmp_path / name
        path.write_text(text)
        return str(path)

    return write


def test_set_a_group_vault_from_a_file_then_update_it(workspace, groups, conf):
    path = conf("team-storage.yaml", "sdk:\n  aws:\n    s3:\n      key: K1\n")
    out = json.loads(
        run(
            "set",
            "--workspace",
            workspace.slug,
            "--group",
            "users",
            "--format",
            "yaml",
            "--file",
            path,
            "--json",
        )
    )
    assert out["name"] == "team-storage" and out["group"] == "Users" and out["enabled"] is False
    assert out["summary"] == ["sdk.aws.s3.key"]
    vault = Vault.objects.get(pk=out["id"])
    assert vault.scope == VaultScope.GROUP and vault.content.endswith("key: K1\n")
    # Same name: updated in place, enabled on request.
    path = conf("team-storage.yaml", "sdk:\n  aws:\n    s3:\n      key: K2\n")
    run(
        "set",
        "--workspace",
        workspace.slug,
        "--group",
        "Users",
        "--format",
        "yaml",
        "--file",
        path,
        "--enable",
    )
    vault.refresh_from_db()
    assert "K2" in vault.content and vault.enabled
    assert Vault.objects.count() == 1
    actions = set(AuditEvent.objects.filter(action__startswith="vault.").values_list("action", "actor_label"))
    assert actions == {("vault.create", "system"), ("vault.update", "system"), ("vault.enable", "system")}


def test_set_a_members_vault(workspace, member, conf):
    path = conf("mine.conf", "sdk.development.default_output_uri: s3://b/o\n")
    out = run(
        "set",
        "--workspace",
        workspace.slug,
        "--user",
        "MEMBER@example.com",
        "--format",
        "hocon",
        "--file",
        path,
        "--enable",
    )
    assert "enabled" in out
    vault = Vault.objects.get(user=member)
    assert vault.enabled and vault.format == "hocon"


def test_set_with_a_name(workspace, groups, conf):
    path = conf("x.json", '{"a": 1}')
    run(
        "set",
        "--workspace",
        workspace.slug,
        "--group",
        "Admins",
        "--format",
        "json",
        "--file",
        path,
        "--name",
        "Admin tools",
        "--enable",
    )
    assert Vault.objects.get(name="Admin tools").enabled


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--group", "users", "--format", "hocon", "--text", "agent.debug: true"],
            "agent.debug is machine/agent specific",
        ),
        (["--group", "users", "--format", "json", "--text", "{oops"], "Line 1, column 2"),
        (["--group", "nope", "--format", "hocon", "--text", "a: 1"], "No user group 'nope'"),
        (["--user", "outsider@example.com", "--format", "hocon", "--text", "a: 1"], "is not a member"),
    ],
)
def test_set_errors_change_nothing(workspace, groups, outsider, conf, args, message):
    text_index = args.index("--text")
    path = conf("v.conf", args[text_index + 1])
    args = [*args[:text_index], "--file", path]
    with pytest.raises(CommandError, match=message):
        run("set", "--workspace", workspace.slug, *args)
    assert not Vault.objects.exists()


def test_set_refuses_a_missing_or_too_large_file(workspace, groups, conf, settings):
    with pytest.raises(CommandError, match="No such file"):
        run(
            "set",
            "--workspace",
            workspace.slug,
            "--group",
            "users",
            "--format",
            "hocon",
            "--file",
            "/nonexistent.conf",
        )
    settings.PORTAL_VAULT_MAX_BYTES = 1024
    path = conf("big.conf", "a: " + "x" * 4000)
    with pytest.raises(CommandError, match="larger than 1 KiB"):
        run("set", "--workspace", workspace.slug, "--group", "users", "--format", "hocon", "--file", path)
    with pytest.raises(CommandError, match="No workspace"):
        run("set", "--workspace", "nope", "--group", "users", "--format", "hocon", "--file", path)


def test_list_and_export(workspace, groups, member, conf):
    original = "# Team settings\nsdk.aws.s3.region = eu-west-1   // keep\n"
    run(
        "set",
        "--workspace",
        workspace.slug,
        "--group",
        "users",
        "--format",
        "hocon",
        "--file",
        conf("team.conf", original),
        "--enable",
    )
    run(
        "set",
        "--workspace",
        workspace.slug,
        "--user",
        member.email,
        "--format",
        "yaml",
        "--file",
        conf("m.yaml", "a: 1\n"),
    )
    listing = json.loads(run("list", "--workspace", workspace.slug, "--json"))
    assert [(v["scope"], v["name"], v["group"], v["user"], v["enabled"]) for v in listing] == [
        ("group", "team", "Users", None, True),
        ("user", "", None, member.email, False),
    ]
    text = run("list", "--workspace", workspace.slug)
    assert "group:Users" in text and f"user:{member.email}" in text
    assert run("export", "--workspace", workspace.slug, "--id", listing[0]["id"]) == original
    with pytest.raises(CommandError, match="No vault"):
        run("export", "--workspace", workspace.slug, "--id", "0" * 32)
    with pytest.raises(CommandError, match="Not a vault id"):
        run("export", "--workspace", workspace.slug, "--id", "xyz")
