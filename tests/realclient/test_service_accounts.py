"""Service accounts with the real clients: the SDK with a service account's key pair, the SDK with
an impersonated token (CLEARML_AUTH_TOKEN), and clearml-agent's own impersonation code path."""

import base64
import json
import urllib.error
import urllib.request

import pytest

from access import services
from vaults import services as vault_services
from workspaces.credentials import configuration_text

pytestmark = [pytest.mark.realclient, pytest.mark.django_db(transaction=True)]

LOGIN = """
    import json, sys
    from clearml.backend_api.session import Session
    from clearml.backend_api.session.session import LoginError
    try:
        session = Session(api_key={key!r}, secret_key={secret!r}, host={host!r})
    except LoginError as exc:
        print(json.dumps({{"error": type(exc).__name__, "message": str(exc)}}))
        sys.exit(0)
    me = session.send_request("users", "get_current_user").json()["data"]["user"]
    identity = session.get_decoded_token(session.token)["identity"]
    print(json.dumps({{"ok": True, "user": me["id"], "identity": identity}}))
"""


def claims_of(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def api_login(api_url: str, *, basic: tuple[str, str] | None = None, token: str | None = None, headers=None):
    """auth.login over real HTTP: (status, body)."""
    request = urllib.request.Request(f"{api_url}/auth.login", data=b"{}", method="POST")
    request.add_header("Content-Type", "application/json")
    if basic:
        request.add_header("Authorization", "Basic " + base64.b64encode(":".join(basic).encode()).decode())
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def agent_account(portal, workspace, owner):
    return services.service_account_create(
        workspace=workspace, actor=owner, name="gpu-agents", allow_impersonation=True
    )


def test_sdk_authenticates_with_service_account_credentials_until_it_is_deleted(
    portal, agent_account, owner, run_sdk
):
    account, credential, secret = agent_account
    script = LOGIN.format(key=credential.access_key, secret=secret, host=portal.api_url)
    result = run_sdk(script)
    assert result.get("ok"), result
    assert result["user"] == account.user_id.hex
    assert result["identity"]["service_account_type"] == 2
    services.service_account_delete(account=account, actor=owner)
    result = run_sdk(script)
    assert result["error"] == "LoginError"
    assert "Unauthorized (invalid credentials)" in result["message"]


def test_the_configuration_section_of_a_service_account_works_with_clearml_init(
    portal, agent_account, clearml_init, run_sdk
):
    account, credential, secret = agent_account
    done = clearml_init(configuration_text(credential=credential, secret=secret))
    assert done.returncode == 0 and "Credentials verified!" in done.stdout, done.stdout + done.stderr
    result = run_sdk(
        """
        import json
        from clearml.backend_api.session import Session
        session = Session()
        print(json.dumps({"user": session.send_request("users", "get_current_user").json()["data"]["user"]["id"]}))
        """
    )
    assert result == {"user": account.user_id.hex}


def test_sdk_runs_as_the_owner_with_an_impersonated_token(portal, agent_account, workspace, member, run_sdk):
    _, credential, secret = agent_account
    vault_services.user_vault_save(
        workspace=workspace,
        user=member,
        actor=member,
        fmt="hocon",
        content="sdk { owner_vault { answer: 42 } }",
    )
    vault_services.user_vault_set_enabled(workspace=workspace, user=member, actor=member, enabled=True)
    status, body = api_login(portal.api_url, basic=(credential.access_key, secret))
    assert status == 200
    status, body = api_login(
        portal.api_url, token=body["data"]["token"], headers={"X-ClearML-Impersonate-As": member.id.hex}
    )
    assert status == 200, body
    owner_token = body["data"]["token"]
    result = run_sdk(
        """
        import json, os
        from clearml.backend_api.session import Session
        session = Session()
        me = session.send_request("users", "get_current_user").json()["data"]["user"]
        print(json.dumps({
            "user": me["id"],
            "name": me["name"],
            "identity": session.get_decoded_token(session.token)["identity"],
            "vault_answer": session.config.get("sdk.owner_vault.answer", None),
        }))
        """,
        env={"CLEARML_AUTH_TOKEN": owner_token, "CLEARML_API_HOST": portal.api_url},
    )
    assert result["user"] == member.id.hex and result["name"] == "member"
    assert result["identity"]["user"] == member.id.hex
    assert result["identity"]["service_account_type"] == 0
    assert result["vault_answer"] == 42  # the owner's vault, loaded through the impersonated token


def test_sdk_impersonation_is_refused_for_an_account_without_it(portal, workspace, owner, member):
    _, credential, secret = services.service_account_create(workspace=workspace, actor=owner, name="ci")
    status, body = api_login(
        portal.api_url,
        basic=(credential.access_key, secret),
        headers={"X-ClearML-Impersonate-As": member.id.hex},
    )
    assert status == 403
    assert "Allow impersonation" in body["meta"]["result_msg"]


AGENT = """
    import json
    from clearml_agent.backend_api.session import Session
    from clearml_agent.commands.worker import Worker

    session = Session(api_key={key!r}, secret_key={secret!r}, host={host!r})
    identity = session.get_decoded_token(session.token)["identity"]

    class FakeWorker:
        _session = session
    error = None
    try:
        Worker._use_owner_token(FakeWorker(), use_owner_token=True)   # the --use-owner-token check
    except ValueError as exc:
        error = str(exc)
    task_session = Worker.get_task_session({user!r}, {company!r}, session)
    print(json.dumps({{
        "identity": identity,
        "use_owner_token_error": error,
        "task_identity": task_session and task_session.get_decoded_token(task_session.token)["identity"],
    }}))
"""


def test_clearml_agent_impersonates_the_task_owner_with_its_own_code(
    portal, agent_account, workspace, member, run_sdk
):
    """`clearml-agent --use-owner-token`: its token check, then Worker.get_task_session, the very
    functions the agent runs for each task it pulls."""
    account, credential, secret = agent_account
    result = run_sdk(
        AGENT.format(
            key=credential.access_key,
            secret=secret,
            host=portal.api_url,
            user=member.id.hex,
            company=workspace.id.hex,
        )
    )
    assert result["use_owner_token_error"] is None
    assert result["identity"]["user"] == account.user_id.hex
    assert result["task_identity"]["user"] == member.id.hex
    assert result["task_identity"]["company"] == workspace.id.hex


def test_clearml_agent_without_impersonation_fails_its_check(portal, workspace, owner, member, run_sdk):
    _, credential, secret = services.service_account_create(workspace=workspace, actor=owner, name="ci")
    result = run_sdk(
        AGENT.format(
            key=credential.access_key,
            secret=secret,
            host=portal.api_url,
            user=member.id.hex,
            company=workspace.id.hex,
        )
    )
    assert "not suitable for --use-owner-token" in result["use_owner_token_error"]
    assert result["task_identity"] is None  # the portal refused the impersonating login


def test_a_task_running_as_an_administrator_gets_no_administrator_rights(
    portal, agent_account, workspace, owner, admin_member, run_sdk
):
    """The seed: impersonating an admin user does not mean the task's code has admin privileges.
    The real SDK, as a task started with --use-owner-token runs it (CLEARML_AUTH_TOKEN), with the
    SDK's own token refresh (a Bearer auth.login)."""
    from workspaces.credentials import credential_create
    from workspaces.models import Credential

    owners_key, _ = credential_create(workspace=workspace, actor=owner, label="owner's laptop")
    _, credential, secret = agent_account
    status, body = api_login(
        portal.api_url,
        basic=(credential.access_key, secret),
        headers={"X-ClearML-Impersonate-As": admin_member.id.hex},
    )
    assert status == 200, body
    keys_before = Credential.objects.count()
    result = run_sdk(
        f"""
        import json
        from clearml.backend_api.session import Session
        session = Session()
        answers = {{}}
        for action, data in [("get_credentials", {{}}), ("create_credentials", {{"label": "task"}}),
                             ("revoke_credentials", {{"access_key": {owners_key.access_key!r}}})]:
            response = session.send_request("auth", action, json=data)
            answers[action] = [response.status_code, response.json()["meta"]["result_msg"]]
        me = session.send_request("users", "get_current_user").json()["data"]["user"]
        session.refresh_token()   # what the SDK does near expiry: auth.login with the Bearer token
        refreshed = session.get_decoded_token(session.token)
        again = session.send_request("auth", "get_credentials").status_code
        print(json.dumps({{"answers": answers, "me": me, "refreshed": refreshed, "again": again}}))
        """,
        env={"CLEARML_AUTH_TOKEN": body["data"]["token"], "CLEARML_API_HOST": portal.api_url},
    )
    for action, (code, message) in result["answers"].items():
        assert code == 403 and "impersonated" in message, action
    assert (result["me"]["id"], result["me"]["role"]) == (admin_member.id.hex, "user")
    assert result["refreshed"]["identity"]["user"] == admin_member.id.hex
    assert result["refreshed"]["identity"]["role"] == "user"
    assert result["refreshed"]["impersonated_by"] == agent_account[0].user_id.hex
    assert result["again"] == 403
    assert Credential.objects.count() == keys_before
    owners_key.refresh_from_db()
    assert owners_key.revoked_at is None
