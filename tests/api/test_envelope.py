"""The envelope, paths, data merging and every failure path of the dispatcher."""

import json

import pytest

from settings_portal.api import errors, registry
from settings_portal.api.registry import endpoint

META_KEYS = {
    "id",
    "trx",
    "endpoint",
    "result_code",
    "result_subcode",
    "result_msg",
    "error_stack",
    "error_data",
}


@pytest.fixture
def echo():
    """A temporary endpoint that answers with the data it received."""

    @endpoint("test.echo", auth=False)
    def echo_view(call):
        return {"data": call.data, "version": call.version}

    yield
    registry.unregister("test.echo")


def assert_envelope(response_status, body, *, code, name):
    assert set(body) == {"meta", "data"}
    meta = body["meta"]
    assert set(meta) == META_KEYS
    assert meta["result_code"] == code == response_status
    assert meta["id"] and meta["trx"] == meta["id"]
    assert set(meta["endpoint"]) == {"name", "requested_version", "actual_version"}
    assert meta["endpoint"]["name"] == name
    assert isinstance(body["data"], dict)


def test_success_envelope(api, member_token):
    status, body = api.call("users.get_current_user", token=member_token)
    assert_envelope(status, body, code=200, name="users.get_current_user")
    meta = body["meta"]
    assert meta["result_subcode"] == 0
    assert meta["result_msg"] == "OK"
    assert meta["endpoint"]["requested_version"] == "2.31"
    assert meta["endpoint"]["actual_version"] == "1.0"
    assert meta["error_stack"] is None


@pytest.mark.parametrize("version", [None, "2.5", "2.23", "2.31"])
@pytest.mark.parametrize("method", ["get", "post"])
def test_paths_with_and_without_version(api, member_token, version, method):
    status, body = api.call("users.get_current_user", token=member_token, version=version, method=method)
    assert status == 200
    assert body["meta"]["endpoint"]["requested_version"] == (version or "2.31")
    assert body["data"]["user"]["name"] == "member"


def test_trailing_slash_is_accepted(client, member_token):
    response = client.get(
        "/api/v2.23/users.get_current_user/", headers={"Authorization": f"Bearer {member_token}"}
    )
    assert response.status_code == 200


def test_request_ids_are_unique(api):
    ids = {api.call("debug.ping")[1]["meta"]["id"] for _ in range(3)}
    assert len(ids) == 3


def test_get_with_json_body_merged_with_query(api, echo):
    status, body = api.call(
        "test.echo",
        {"a": 1, "shared": "body", "method": "get"},
        method="get",
        query="types=config&types=vault&enabled=true&off=FALSE&n=42&f=1.5&s=abc&shared=query",
    )
    assert status == 200
    assert body["data"]["data"] == {
        "a": 1,
        "method": "get",
        "types": ["config", "vault"],
        "enabled": True,
        "off": False,
        "n": 42,
        "f": 1.5,
        "s": "abc",
        "shared": "query",
    }


def test_form_encoded_body(api, echo):
    status, body = api.call(
        "test.echo", "label=x&flag=true", content_type="application/x-www-form-urlencoded"
    )
    assert status == 200
    assert body["data"]["data"] == {"label": "x", "flag": True}


def test_empty_and_null_bodies_are_empty_data(api, echo):
    assert api.call("test.echo", "")[1]["data"]["data"] == {}
    assert api.call("test.echo", "null")[1]["data"]["data"] == {}
    assert api.call("test.echo", "  \n")[1]["data"]["data"] == {}


def test_unknown_fields_are_ignored(api, member_token):
    status, body = api.call("auth.get_credentials", {"method": "get", "whatever": [1, 2]}, token=member_token)
    assert status == 200
    assert len(body["data"]["credentials"]) == 1


def test_bad_json_is_400(api, echo):
    status, body = api.call("test.echo", "{not json")
    assert_envelope(status, body, code=400, name="test.echo")
    assert body["meta"]["result_msg"].startswith("Bad request: invalid JSON body")


def test_non_object_json_is_400(api, echo):
    status, body = api.call("test.echo", "[1, 2]")
    assert status == 400
    assert "object" in body["meta"]["result_msg"]


def test_invalid_utf8_is_400(api, echo):
    status, body = api.call("test.echo", b'{"a": "\xff"}')
    assert status == 400
    assert body["meta"]["result_code"] == 400


@pytest.mark.parametrize("method", ["delete", "patch"])
def test_wrong_method_is_405_envelope(client, method):
    response = getattr(client, method)("/api/debug.ping")
    assert response.status_code == 405
    assert response["Content-Type"] == "application/json"
    assert response["Allow"] == "GET, POST, PUT"
    assert response.json()["meta"]["result_code"] == 405


def test_unknown_endpoint_is_404_like_the_open_source_server(api, db):
    # db: whether a name is forwarded depends on the workspaces linked to a ClearML server (gateway/).
    status, body = api.call("nosuch.thing")
    assert_envelope(status, body, code=404, name="nosuch.thing")
    assert (
        body["meta"]["result_msg"]
        == "Not found: Unable to find endpoint for name nosuch.thing and version 2.31"
    )


def test_endpoint_below_its_min_version_is_404(api, db):
    @endpoint("test.recent", auth=False, min_version="2.20")
    def recent(call):
        return {"ok": True}

    try:
        assert api.call("test.recent", version="2.13")[0] == 404
        status, body = api.call("test.recent", version="2.20")
        assert status == 200
        assert body["meta"]["endpoint"]["actual_version"] == "2.20"
        assert api.call("test.recent")[0] == 200
    finally:
        registry.unregister("test.recent")


@pytest.mark.parametrize(
    "path", ["/api/", "/api/login", "/api/auth.login.extra", "/api/v2.x/auth.login", "/api/a/b/c"]
)
def test_malformed_paths_are_400(client, path):
    response = client.post(path)
    assert response.status_code == 400
    body = response.json()
    assert body["meta"]["result_code"] == 400
    assert body["meta"]["result_msg"].startswith("Invalid request path")


def test_unexpected_exception_is_500_envelope_without_stack(api, caplog):
    @endpoint("test.boom", auth=False)
    def boom(call):
        raise RuntimeError("secret internals")

    try:
        status, body = api.call("test.boom")
    finally:
        registry.unregister("test.boom")
    assert_envelope(status, body, code=500, name="test.boom")
    assert "secret internals" not in json.dumps(body)
    assert body["meta"]["error_stack"] is None
    assert "API call test.boom failed" in caplog.text


def test_typed_error_with_data(api):
    @endpoint("test.typed", auth=False)
    def typed(call):
        raise errors.InvalidId("no such task", data={"id": "x"})

    try:
        status, body = api.call("test.typed")
    finally:
        registry.unregister("test.typed")
    assert (status, body["meta"]["result_subcode"]) == (400, 10)
    assert body["meta"]["result_msg"] == "Invalid object id: no such task"
    assert body["meta"]["error_data"] == {"id": "x"}


def test_django_errors_map_to_envelopes(api):
    from django.core.exceptions import PermissionDenied, ValidationError
    from django.http import Http404

    @endpoint("test.denied", auth=False)
    def denied(call):
        raise PermissionDenied("admins only")

    @endpoint("test.invalid", auth=False)
    def invalid(call):
        raise ValidationError({"label": "too long"})

    @endpoint("test.missing", auth=False)
    def missing(call):
        raise Http404("gone")

    try:
        assert api.call("test.denied")[1]["meta"]["result_code"] == 403
        assert api.call("test.denied")[1]["meta"]["result_subcode"] == 20
        status, body = api.call("test.invalid")
        assert (status, body["meta"]["result_subcode"]) == (400, 12)
        assert "label: too long" in body["meta"]["result_msg"]
        assert api.call("test.missing")[0] == 404
    finally:
        for name in ("test.denied", "test.invalid", "test.missing"):
            registry.unregister(name)


def test_body_too_large_is_413(api, echo, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    status, body = api.call("test.echo", {"x": "y" * 200})
    assert status == 413
    assert body["meta"]["result_code"] == 413


def test_api_is_csrf_exempt(member_token):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = strict.post(
        "/api/users.get_current_user",
        "{}",
        content_type="application/json",
        headers={"Authorization": f"Bearer {member_token}"},
    )
    assert response.status_code == 200
