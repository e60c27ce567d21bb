"""Linking a workspace to its ClearML server: `manage.py portal_upstream`, what a link refuses, and
the single workspace's CLEARML_UPSTREAM_* environment."""

import json
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError

from gateway import services
from gateway.models import LinkSource, UpstreamLink
from workspaces.models import AuditEvent

from .conftest import link

pytestmark = pytest.mark.django_db

STATUS_KEYS = {
    "workspace",
    "url",
    "reachable",
    "server_version",
    "api_version",
    "company",
    "users_mapped",
    "last_error",
}


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.fixture
def secret_files(tmp_path, standin):
    token_file = tmp_path / "token_secret"
    token_file.write_text(standin.token_secret + "\n")
    system_file = tmp_path / "system_secret"
    system_file.write_text(standin.system_secret_key)
    return str(token_file), str(system_file)


def link_args(workspace, standin, secret_files, **changes):
    token_file, system_file = secret_files
    args = {
        "--workspace": workspace.slug,
        "--url": standin.url,
        "--token-secret-file": token_file,
        "--system-access-key": standin.system_access_key,
        "--system-secret-key-file": system_file,
        **changes,
    }
    return ["portal_upstream", "link", *[part for pair in args.items() for part in pair]]


def test_link_status_and_unlink(
    workspace, standin, secret_files, api, member_token, django_capture_on_commit_callbacks
):
    out = run(*link_args(workspace, standin, secret_files))
    assert f"Linked {workspace.slug} to {standin.url}" in out and "server 2.0.0" in out
    stored = UpstreamLink.objects.get(workspace=workspace)
    assert stored.company_id == standin.company_id and stored.company_name == "clearml"
    assert (stored.server_version, stored.api_version) == ("2.0.0", "2.31")
    assert AuditEvent.objects.filter(workspace=workspace, action="upstream.link").exists()
    # Secrets are encrypted at rest.
    raw = UpstreamLink.objects.filter(pk=stored.pk).values_list("token_secret", "system_secret_key").query
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(*raw.sql_with_params())
        token_cipher, system_cipher = cursor.fetchone()
    assert standin.token_secret not in token_cipher and standin.system_secret_key not in system_cipher

    api.call("projects.get_all", {}, token=member_token)  # maps the member
    status = json.loads(run("portal_upstream", "status", "--workspace", workspace.slug, "--json"))
    assert set(status) == STATUS_KEYS
    assert status == {
        "workspace": workspace.slug,
        "url": standin.url,
        "reachable": True,
        "server_version": "2.0.0",
        "api_version": "2.31",
        "company": {"id": standin.company_id, "name": "clearml"},
        "users_mapped": 1,
        "last_error": None,
    }
    listing = json.loads(run("portal_upstream", "status", "--json"))
    assert [row["workspace"] for row in listing] == [workspace.slug]
    assert "reachable" in run("portal_upstream", "status")

    standin.go_down()
    down = json.loads(run("portal_upstream", "status", "--workspace", workspace.slug, "--json"))
    assert down["reachable"] is False and "could not be reached" in down["last_error"]
    assert "NOT reachable" in run("portal_upstream", "status")

    with django_capture_on_commit_callbacks(execute=True):  # the unlink reaches every process's cache
        assert "Unlinked" in run("portal_upstream", "unlink", "--workspace", workspace.slug)
    assert not UpstreamLink.objects.exists()
    assert AuditEvent.objects.filter(workspace=workspace, action="upstream.unlink").exists()
    assert api.call("projects.get_all", {}, token=member_token)[0] == 404  # standalone again
    with pytest.raises(CommandError, match="not linked"):
        run("portal_upstream", "unlink", "--workspace", workspace.slug)


def test_a_link_is_refused_and_nothing_stored_when_the_server_says_no(
    workspace, standin, secret_files, tmp_path
):
    wrong = tmp_path / "wrong"
    wrong.write_text("another-token-secret-0123456789ab")
    with pytest.raises(CommandError, match="token secret does not match"):
        run(*link_args(workspace, standin, secret_files, **{"--token-secret-file": str(wrong)}))
    with pytest.raises(CommandError, match="system credential was refused"):
        run(*link_args(workspace, standin, secret_files, **{"--system-access-key": "NOPE"}))
    with pytest.raises(CommandError, match="could not be reached"):
        run(*link_args(workspace, standin, secret_files, **{"--url": "http://127.0.0.1:9"}))
    with pytest.raises(CommandError, match="http"):
        run(*link_args(workspace, standin, secret_files, **{"--url": "ftp://apiserver"}))
    with pytest.raises(CommandError, match="Cannot read"):
        run(
            *link_args(workspace, standin, secret_files, **{"--token-secret-file": str(tmp_path / "missing")})
        )
    with pytest.raises(CommandError, match="No workspace"):
        run(*link_args(workspace, standin, secret_files, **{"--workspace": "nope"}))
    assert not UpstreamLink.objects.exists()


def test_a_user_role_credential_cannot_serve_provisioning(workspace, standin):
    alice = standin.create_user("Alice Example")
    key, secret = standin.create_credentials(alice)
    with pytest.raises(ValidationError, match="cannot create users"):
        services.link_create(
            workspace=workspace,
            url=standin.url,
            token_secret=standin.token_secret,
            system_access_key=key,
            system_secret_key=secret,
        )


def test_the_public_default_secrets_are_refused(workspace, standin):
    with pytest.raises(ValidationError, match="public default token secret"):
        services.link_create(
            workspace=workspace,
            url=standin.url,
            token_secret="7E1ua3xP9GT2(cIQOfhjp+gwN6spBeCAmN-XuugYle00I=Wc+u",
            system_access_key=standin.system_access_key,
            system_secret_key=standin.system_secret_key,
        )
    with pytest.raises(ValidationError, match="public default credential"):
        services.link_create(
            workspace=workspace,
            url=standin.url,
            token_secret=standin.token_secret,
            system_access_key="62T8CP7HGBC6647XF9314C2VY67RJO",
            system_secret_key=standin.system_secret_key,
        )


def test_relinking_to_another_server_forgets_the_old_users(
    api, workspace, owner, member_token, clearml_upstream_factory
):
    first = clearml_upstream_factory(token_secret="first-server-token-secret-012345")
    second = clearml_upstream_factory(token_secret="second-server-token-secret-01234")
    link(workspace, first, owner)
    api.call("projects.get_all", {}, token=member_token)
    assert UpstreamLink.objects.get().users.count() == 1
    link(workspace, second, owner)
    assert UpstreamLink.objects.get().users.count() == 0
    from gateway import cache

    cache.reset()  # the on-commit message in a real request; this test's transaction never commits
    assert api.call("projects.get_all", {}, token=member_token)[0] == 200
    assert second.requests_for("auth.create_user") and len(first.requests_for("projects.get_all")) == 1


def test_the_single_workspace_is_linked_by_the_environment(api, settings, workspace, standin, member_token):
    settings.PORTAL_SINGLE_WORKSPACE = True
    settings.CLEARML_UPSTREAM_API_URL = standin.url
    settings.CLEARML_UPSTREAM_TOKEN_SECRET = standin.token_secret
    settings.CLEARML_UPSTREAM_SYSTEM_ACCESS_KEY = standin.system_access_key
    settings.CLEARML_UPSTREAM_SYSTEM_SECRET_KEY = standin.system_secret_key
    settings.CLEARML_UPSTREAM_WORKSPACE = workspace.slug
    assert api.call("projects.get_all", {}, token=member_token)[0] == 200
    stored = UpstreamLink.objects.get()
    assert (stored.workspace, stored.source, stored.company_id) == (
        workspace,
        LinkSource.ENVIRONMENT,
        standin.company_id,
    )
    assert standin.requests_for("projects.get_all")


def test_an_unreachable_environment_server_gives_502_until_it_answers(
    api, settings, workspace, standin, member_token
):
    settings.PORTAL_SINGLE_WORKSPACE = True
    settings.CLEARML_UPSTREAM_API_URL = standin.url
    settings.CLEARML_UPSTREAM_TOKEN_SECRET = standin.token_secret
    settings.CLEARML_UPSTREAM_SYSTEM_ACCESS_KEY = standin.system_access_key
    settings.CLEARML_UPSTREAM_SYSTEM_SECRET_KEY = standin.system_secret_key
    settings.CLEARML_UPSTREAM_WORKSPACE = workspace.slug
    standin.go_down()
    status, body = api.call("projects.get_all", {}, token=member_token)
    assert (status, body["meta"]["result_code"]) == (502, 502)
    stored = UpstreamLink.objects.get()
    assert stored.reachable is False and "could not be reached" in stored.last_error
    standin.come_up()
    services._rechecked.clear()  # the next check is rate-limited to one per RECHECK_INTERVAL
    assert api.call("projects.get_all", {}, token=member_token)[0] == 200
