"""Inputs that answered 500 (issue 9 §4): each is now a 4xx ClearML envelope, and changes nothing."""

import base64
import json

import pytest

from settings_portal.api import tokens
from settings_portal.api.errors import ValidationFailed
from settings_portal.inputs import MAX_JSON_DEPTH
from workspaces.models import AuditEvent, Credential

from .conftest import basic

pytestmark = pytest.mark.django_db


def assert_4xx(status, body, code=400):
    assert status == code, body
    assert body["meta"]["result_code"] == code
    assert body["meta"]["result_msg"]
    return body["meta"]["result_msg"]


@pytest.mark.parametrize("value", ["²", "١٢", "¹²³", "9" * 5000, "1" * 400 + ".5", "Ⅻ"])
def test_non_ascii_and_huge_digits_in_the_query_stay_text(api, value):
    status, body = api.call("debug.ping", method="get", query=f"a={value}")
    assert status == 200, body


def test_ascii_digits_in_the_query_are_still_numbers(api, member_token):
    """The conversion the ClearML clients rely on is kept: "3600" -> 3600, "0.5" -> 0.5."""
    status, body = api.call("auth.login", token=member_token, method="get", query="expiration_sec=3600")
    assert status == 200, body
    claims = tokens.verify(body["data"]["token"])
    assert claims["exp"] - claims["iat"] == 3600


@pytest.mark.parametrize("number", ["1e400", "-1e400", "NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_refused(api, member_token, number):
    status, body = api.call("auth.login", f'{{"expiration_sec": {number}}}', token=member_token)
    msg = assert_4xx(status, body)
    assert "invalid JSON body" in msg


def test_expiration_clamp_refuses_infinity():
    with pytest.raises(ValidationFailed):
        tokens.clamp_expiration(float("inf"))


@pytest.mark.parametrize("opener,closer", [("[", "]"), ('{"a":', "}")])
@pytest.mark.parametrize("name", ["debug.ping", "auth.login", "users.get_current_user", "tasks.enqueue"])
def test_deeply_nested_json_is_refused_before_parsing(api, member_token, opener, closer, name):
    deep = opener * 100_000 + "1" + closer * 100_000
    status, body = api.call(name, "{" + f'"x": {deep}' + "}", token=member_token)
    msg = assert_4xx(status, body)
    assert f"nested deeper than {MAX_JSON_DEPTH}" in msg


def test_nesting_within_the_budget_is_accepted(api):
    nested = "[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1)
    status, body = api.call("debug.ping", f'{{"x": {nested}}}')
    assert status == 200, body
    # Brackets inside strings are text, not nesting.
    status, body = api.call("debug.ping", json.dumps({"x": "[" * 10_000}))
    assert status == 200, body


def test_nul_in_the_basic_access_key_is_401(api, member_key):
    credential, secret = member_key
    raw = base64.b64encode(b"AB\0CD:secret").decode()
    status, body = api.call("auth.login", auth=f"Basic {raw}")
    assert_4xx(status, body, 401)
    status, body = api.call("auth.login", auth=basic(credential.access_key + "\0", secret))
    assert_4xx(status, body, 401)


UNSAFE = ["a\x00b", "\x00", "\ud800", "x\udfffy"]


@pytest.mark.parametrize("text", UNSAFE)
@pytest.mark.parametrize(
    "name,field",
    [
        ("auth.create_credentials", "label"),
        ("auth.edit_credentials", "label"),
        ("auth.edit_credentials", "access_key"),
        ("auth.revoke_credentials", "access_key"),
        ("tasks.enqueue", "queue_name"),
        ("tasks.enqueue", "task"),
        ("tasks.completed", "task"),
        ("queues.get_next_task", "queue"),
        ("users.get_vaults", "x"),
    ],
)
def test_nul_and_lone_surrogates_in_fields_are_400(api, member_token, name, field, text):
    credentials, audit = Credential.objects.count(), AuditEvent.objects.count()
    body_text = json.dumps({field: text})  # json.dumps writes "\ud800" as an escape
    status, body = api.call(name, body_text, token=member_token)
    msg = assert_4xx(status, body)
    assert "NUL" in msg or "surrogate" in msg
    assert (Credential.objects.count(), AuditEvent.objects.count()) == (credentials, audit)


def test_unsafe_text_in_keys_nested_values_and_the_query(api, member_token):
    for data in ({"a\x00": 1}, {"label": ["ok", {"deep": "\ud800"}]}):
        status, body = api.call("auth.create_credentials", json.dumps(data), token=member_token)
        assert_4xx(status, body)
    status, body = api.call("auth.create_credentials", token=member_token, query="label=a%00b")
    assert_4xx(status, body)


def test_nul_in_a_header_is_400(api, member_token):
    status, body = api.call(
        "users.get_current_user", token=member_token, headers={"X-ClearML-Worker": "host\x00name"}
    )
    assert_4xx(status, body)
