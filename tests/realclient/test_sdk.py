"""The real clearml SDK against a live portal: login, clearml-init, failures, credential calls."""

import json
import re
import subprocess
import sys
import textwrap
import time

import pytest

from settings_portal.api import registry
from workspaces.credentials import configuration_text, credential_create, credential_revoke
from workspaces.models import Credential

from .conftest import SDK_TIMEOUT, clean_env

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
    print(json.dumps({{
        "ok": True,
        "api_version": Session.api_version,
        "feature_set": Session.feature_set,
        "server_version": Session.server_version,
        "token": session.token,
    }}))
"""


@pytest.fixture
def pair(portal, workspace, member):
    return credential_create(workspace=workspace, actor=member, label="laptop")


def login_script(portal, credential, secret):
    return LOGIN.format(key=credential.access_key, secret=secret, host=portal.api_url)


def test_session_logs_in_with_portal_issued_keys(portal, pair, run_sdk):
    credential, secret = pair
    result = run_sdk(login_script(portal, credential, secret))
    assert result.get("ok"), result
    assert result["api_version"] == "2.31"
    assert result["feature_set"] == "advanced"
    assert result["server_version"]
    assert result["token"].count(".") == 2
    credential.refresh_from_db()
    assert credential.last_used_at is not None
    assert credential.last_used_from.endswith("(127.0.0.1)")  # X-ClearML-Worker (hostname) first


def test_session_loads_vaults_from_users_get_vaults(portal, pair, run_sdk):
    """The SDK's second call is users.get_vaults; whatever it answers is merged into its config."""
    credential, secret = pair
    calls = []
    vault = {
        "id": "v1",
        "scope": "user",
        "type": "config",
        "format": "hocon",
        "enabled": True,
        "description": "test",
        "data": "sdk { portal_test { answer: 42 } }",
    }

    def spy(call):
        calls.append((call.user.email, call.data))
        return {"vaults": [vault]}

    with registry.replaced("users.get_vaults"):
        registry.endpoint("users.get_vaults")(spy)
        result = run_sdk(
            f"""
            import json
            from clearml.backend_api.session import Session
            session = Session(api_key={credential.access_key!r}, secret_key={secret!r}, host={portal.api_url!r})
            print(json.dumps({{"answer": session.config.get("sdk.portal_test.answer", None)}}))
            """
        )
    assert result == {"answer": 42}
    assert calls == [("member@example.com", {"enabled": True, "types": ["config", "config"]})]


def test_clearml_init_accepts_the_dialog_text_and_the_conf_works(
    portal, pair, clearml_init, run_sdk, sdk_home
):
    credential, secret = pair
    text = configuration_text(credential=credential, secret=secret)
    done = clearml_init(text)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Credentials verified!" in done.stdout
    assert "ClearML setup completed successfully." in done.stdout
    conf = (sdk_home / "clearml.conf").read_text()
    assert f"api_server: {portal.api_url}" in conf
    assert f"web_server: {portal.base_url}/" in conf
    assert credential.access_key in conf and secret in conf
    # The written file alone is enough for the SDK (no arguments, no environment).
    result = run_sdk(
        """
        import json
        from clearml.backend_api.session import Session
        session = Session()
        print(json.dumps({"host": session.host, "files": Session.get_files_server_host(), "token": bool(session.token)}))
        """
    )
    assert result["host"] == portal.api_url
    assert result["token"] is True
    assert result["files"].startswith("http://")


def test_without_files_server_clearml_init_would_stop_to_ask(portal, pair, clearml_init, sdk_home):
    """Why the dialog always prints files_server: without it, on a port clearml-init cannot
    guess from (anything but 80/443/8008/8080), it asks on the terminal instead of accepting
    the paste."""
    credential, secret = pair
    text = configuration_text(credential=credential, secret=secret)
    without = "\n".join(line for line in text.splitlines() if "files_server" not in line)
    done = clearml_init(without)
    assert "Files configured to:" in done.stdout
    assert done.returncode != 0  # EOF at the prompt
    assert not (sdk_home / "clearml.conf").exists()


def test_clearml_init_rejects_a_wrong_secret(portal, pair, clearml_init, sdk_home):
    credential, secret = pair
    text = configuration_text(credential=credential, secret=secret[:-1] + ("A" if secret[-1] != "A" else "B"))
    # clearml-init asks for the key pair again after a failed check; give it the wrong pair twice
    done = clearml_init(text + f"\n{credential.access_key}\nwrong\n")
    assert "Exiting setup without creating configuration file" in done.stdout
    assert not (sdk_home / "clearml.conf").exists()


def test_wrong_secret_raises_login_error(portal, pair, run_sdk):
    credential, secret = pair
    result = run_sdk(login_script(portal, credential, secret + "x"))
    assert result["error"] == "LoginError"
    assert "error 401" in result["message"]
    assert "Unauthorized (invalid credentials)" in result["message"]


def test_revoked_key_raises_login_error(portal, pair, member, run_sdk):
    credential, secret = pair
    credential_revoke(credential=credential, actor=member)
    result = run_sdk(login_script(portal, credential, secret))
    assert result["error"] == "LoginError"
    assert "Unauthorized (invalid credentials)" in result["message"]


def test_a_running_session_stops_at_once_when_its_key_is_revoked(portal, pair, member, sdk_home):
    """The SDK logs in, makes a call, waits; we revoke; its next call fails (it re-logs in once, then gives up)."""
    credential, secret = pair
    script = f"""
        import json, sys
        from clearml.backend_api.session import Session
        from clearml.backend_api.session.session import LoginError
        session = Session(api_key={credential.access_key!r}, secret_key={secret!r}, host={portal.api_url!r})
        print(json.dumps({{"before": session.send_request("users", "get_current_user").status_code}}), flush=True)
        sys.stdin.readline()
        try:
            res = session.send_request("users", "get_current_user")
            print(json.dumps({{"after": res.status_code, "body": res.json()}}))
        except LoginError as exc:
            print(json.dumps({{"after": "LoginError", "message": str(exc)}}))
    """
    process = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)],
        env=clean_env(sdk_home),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=sdk_home,
    )
    try:
        first = process.stdout.readline()
        assert json.loads(first) == {"before": 200}, first + process.stderr.read()
        started = time.monotonic()
        credential_revoke(credential=credential, actor=member)
        out, err = process.communicate("go\n", timeout=SDK_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
    after = json.loads(out.strip().splitlines()[-1])
    assert after["after"] == "LoginError", (after, err)
    assert "Unauthorized (invalid credentials)" in after["message"]
    assert time.monotonic() - started < SDK_TIMEOUT


def test_sdk_credential_calls_round_trip(portal, pair, run_sdk, workspace, member):
    """create, list, edit label, revoke through the SDK's session, each answer parsed by the
    SDK's own typed response models (CallResult). The SDK's APIClient cannot send these
    requests with clearml 2.1.12: it adds `method` to the body and then fails its own
    schema check (additionalProperties: false) before anything reaches a server."""
    credential, secret = pair
    result = run_sdk(
        f"""
        import json
        from clearml.backend_api.session import Session
        from clearml.backend_api.session.callresult import CallResult
        from clearml.backend_api.services import auth

        session = Session(api_key={credential.access_key!r}, secret_key={secret!r}, host={portal.api_url!r})

        def call(action, request_cls, **body):
            res = session.send_request("auth", action, json=body, method="post")
            result = CallResult.from_result(res, request_cls=request_cls, service="auth", action=action)
            return result.meta.result_code, result.response

        code, created = call("create_credentials", auth.CreateCredentialsRequest, label="from the sdk")
        new_key, new_secret = created.credentials.access_key, created.credentials.secret_key
        _, listed = call("get_credentials", auth.GetCredentialsRequest)
        _, edited = call("edit_credentials", auth.EditCredentialsRequest, access_key=new_key, label="renamed")
        _, relisted = call("get_credentials", auth.GetCredentialsRequest)
        _, revoked = call("revoke_credentials", auth.RevokeCredentialsRequest, access_key=new_key)
        _, after = call("get_credentials", auth.GetCredentialsRequest)
        bad_code, _ = call("revoke_credentials", auth.RevokeCredentialsRequest, access_key="NOSUCHKEY")
        print(json.dumps({{
            "code": code,
            "new_key": new_key,
            "new_secret": new_secret,
            "label": created.credentials.label,
            "listed": [[c.access_key, c.label] for c in listed.credentials],
            "last_used": {{c.access_key: c.last_used is not None for c in listed.credentials}},
            "edited": edited.updated,
            "relisted": {{c.access_key: c.label for c in relisted.credentials}},
            "revoked": revoked.revoked,
            "after": [c.access_key for c in after.credentials],
            "bad_code": bad_code,
        }}))
        """
    )
    new_key = result["new_key"]
    assert result["code"] == 200
    assert re.fullmatch(r"[A-Z0-9]{30}", new_key)
    assert len(result["new_secret"]) == 67
    assert result["label"] == "from the sdk"
    assert sorted(result["listed"]) == sorted([[credential.access_key, "laptop"], [new_key, "from the sdk"]])
    # The key pair the SDK logged in with has been used; the one it just created has not.
    assert result["last_used"] == {credential.access_key: True, new_key: False}
    assert result["edited"] == 1
    assert result["relisted"][new_key] == "renamed"
    assert result["revoked"] == 1
    assert result["after"] == [credential.access_key]
    assert result["bad_code"] == 400
    stored = Credential.objects.get(access_key=new_key)
    assert (stored.user, stored.workspace, stored.label, stored.is_revoked) == (
        member,
        workspace,
        "renamed",
        True,
    )


def test_new_credentials_from_the_sdk_log_in(portal, pair, run_sdk):
    """A pair created through the API works for a new SDK session."""
    credential, secret = pair
    created = run_sdk(
        f"""
        import json
        from clearml.backend_api.session import Session
        session = Session(api_key={credential.access_key!r}, secret_key={secret!r}, host={portal.api_url!r})
        res = session.send_request("auth", "create_credentials", json={{"label": "second"}}, method="post")
        print(json.dumps(res.json()["data"]["credentials"]))
        """
    )
    result = run_sdk(
        LOGIN.format(key=created["access_key"], secret=created["secret_key"], host=portal.api_url)
    )
    assert result.get("ok"), result
