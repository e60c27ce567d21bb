"""Operator commands: `portal_users create|list` (a contract scripts depend on) and `portal_demo`."""

import json
import os
import subprocess
import sys
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection

from accounts.models import User, UserPreferences
from resources.models import Job, JobState
from settings_portal.management.commands.portal_demo import DEMO_ADMIN, DEMO_MEMBERS, DEMO_WORKSPACE
from vaults.models import Vault
from workspaces.models import AuditEvent, Membership, Role, Workspace


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_json_contract(db):
    out = run(
        "portal_users",
        "create",
        "--email",
        "Ada@Example.com",
        "--password",
        "pw-0123456789",
        "--username",
        "ada",
        "--workspace-name",
        "Analytical Engines",
        "--json",
    )
    data = json.loads(out)
    user = User.objects.get(email="ada@example.com")
    workspace = Workspace.objects.get(owner=user, is_personal=True)
    assert data["id"] == user.id.hex and len(data["id"]) == 32
    assert data["email"] == "ada@example.com"
    assert data["workspace"] == {"id": workspace.id.hex, "slug": workspace.slug, "name": "Analytical Engines"}
    assert workspace.slug == "analytical-engines"
    assert data["username"] == "ada" and data["admin"] is False
    assert user.check_password("pw-0123456789")
    assert not user.is_staff
    assert Membership.objects.get(user=user, workspace=workspace).role == Role.OWNER
    assert UserPreferences.objects.filter(user=user).exists()
    assert AuditEvent.objects.filter(action="user.create", workspace=workspace).exists()


def test_create_defaults_and_admin(db):
    data = json.loads(
        run("portal_users", "create", "--email", "root@example.com", "--password", "pw", "--admin", "--json")
    )
    user = User.objects.get(pk=data["id"])
    assert user.is_staff and user.is_superuser and data["admin"] is True
    assert user.username == "root"
    assert data["workspace"]["name"] == "root's workspace"


def test_create_plain_output(db):
    out = run("portal_users", "create", "--email", "x@example.com", "--password", "pw")
    assert out.startswith("Created user x@example.com (x), id ")


def test_create_picks_a_free_username(db):
    run("portal_users", "create", "--email", "sam@one.example", "--password", "pw")
    data = json.loads(
        run("portal_users", "create", "--email", "sam@two.example", "--password", "pw", "--json")
    )
    assert data["username"] == "sam-2"


@pytest.mark.parametrize(
    "args,message",
    [
        (["--email", "dup@example.com", "--password", "pw"], "email: A user with that email already exists."),
        (["--email", "DUP@example.com", "--password", "pw"], "already exists"),
        (["--email", "new@example.com", "--password", ""], "--password must not be empty"),
        (["--email", "new@example.com", "--password", "pw", "--username", "bad name;"], "username:"),
        (["--email", "new@example.com", "--password", "pw", "--username", "dupe"], "That username is taken."),
        (["--email", "not-an-email", "--password", "pw"], "email:"),
        (["--email", "", "--password", "pw"], "email:"),
    ],
)
def test_create_refuses_bad_input_with_a_clear_error(db, args, message):
    run("portal_users", "create", "--email", "dup@example.com", "--password", "pw", "--username", "dupe")
    count = User.objects.count()
    with pytest.raises(CommandError, match=message.replace("(", r"\(")):
        run("portal_users", "create", *args)
    assert User.objects.count() == count


def test_create_requires_email_and_password(db):
    with pytest.raises(CommandError):
        run("portal_users", "create", "--email", "a@example.com")


def test_list_json(db):
    run("portal_users", "create", "--email", "b@example.com", "--password", "pw", "--admin")
    run("portal_users", "create", "--email", "a@example.com", "--password", "pw")
    data = json.loads(run("portal_users", "list", "--json"))
    assert [row["email"] for row in data] == ["a@example.com", "b@example.com"]
    for row in data:
        user = User.objects.get(email=row["email"])
        assert row["id"] == user.id.hex
        assert set(row["workspace"]) == {"id", "slug", "name"}
    assert [row["admin"] for row in data] == [False, True]


def test_list_plain(db):
    run("portal_users", "create", "--email", "b@example.com", "--password", "pw", "--admin")
    out = run("portal_users", "list")
    assert "b@example.com" in out and "1 workspaces admin" in out


def test_list_empty(db):
    assert json.loads(run("portal_users", "list", "--json")) == []


def test_unknown_subcommand_fails(db):
    with pytest.raises(CommandError):
        run("portal_users", "frobnicate")


@pytest.mark.django_db(transaction=True)
def test_create_json_through_manage_py_prints_only_json():
    """The contract as scripts use it: a real process, stdout is one JSON document."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "settings_portal.settings_test",
        "DATABASE_URL": _test_database_url(),
    }
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "portal_users",
            "create",
            "--email",
            "cli@example.com",
            "--password",
            "pw",
            "--json",
        ],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["email"] == "cli@example.com"
    assert User.objects.get(email="cli@example.com").id.hex == data["id"]
    failed = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "portal_users",
            "create",
            "--email",
            "cli@example.com",
            "--password",
            "pw",
        ],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert failed.returncode != 0
    assert "already exists" in failed.stderr
    assert "Traceback" not in failed.stderr


def _test_database_url() -> str:
    params = connection.settings_dict
    host = params.get("HOST") or "127.0.0.1"
    port = params.get("PORT") or 5432
    user = params.get("USER") or "postgres"
    password = f":{params['PASSWORD']}" if params.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{host}:{port}/{params['NAME']}"


# --- portal_demo ------------------------------------------------------------------------------


def test_demo_loads_once(db):
    out = run("portal_demo")
    assert "Demo data loaded." in out
    assert f"Demo login: {DEMO_ADMIN[0]} / {DEMO_ADMIN[1]}" in out
    admin = User.objects.get(email=DEMO_ADMIN[0])
    assert admin.is_staff and admin.check_password(DEMO_ADMIN[1])
    workspace = Workspace.objects.get(name=DEMO_WORKSPACE)
    roles = dict(Membership.objects.filter(workspace=workspace).values_list("user__email", "role"))
    assert roles[DEMO_ADMIN[0]] == Role.OWNER
    assert all(roles[email] == Role.MEMBER for email, _ in DEMO_MEMBERS)
    # The seed's Example Workflow, with jobs flowing: some running, some waiting.
    jobs = Job.objects.for_workspace(workspace)
    assert jobs.filter(state=JobState.RUNNING).exists()
    assert jobs.filter(state=JobState.PENDING).exists()
    # ... and an administrator vault for the Dev group.
    assert Vault.objects.filter(
        workspace=workspace, name="Dev storage", group__name="Dev", enabled=True
    ).exists()
    counts = (
        User.objects.count(),
        Workspace.objects.count(),
        Membership.objects.count(),
        AuditEvent.objects.count(),
    )

    again = run("portal_demo")
    assert "Demo data already loaded." in again
    assert f"Demo login: {DEMO_ADMIN[0]}" in again
    assert counts == (
        User.objects.count(),
        Workspace.objects.count(),
        Membership.objects.count(),
        AuditEvent.objects.count(),
    )


def test_demo_keeps_a_developers_changes(db):
    run("portal_demo")
    admin = User.objects.get(email=DEMO_ADMIN[0])
    admin.username = "renamed"
    admin.save()
    run("portal_demo")
    assert User.objects.get(email=DEMO_ADMIN[0]).username == "renamed"
