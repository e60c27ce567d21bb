"""Whatever arrives, the API answers a clean envelope: never a 500, never HTML."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=200)


def assert_clean(response, allowed=(200, 400, 401, 403, 404, 405, 413)):
    assert response.status_code in allowed, response.content[:300]
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["meta"]["result_code"] == response.status_code


@FUZZ
@given(token=HEADER_TEXT)
def test_any_bearer_token(client, db, token):
    assert_clean(
        client.get("/api/users.get_current_user", headers={"Authorization": f"Bearer {token}"}), (401,)
    )


@FUZZ
@given(value=HEADER_TEXT)
def test_any_authorization_header_on_login(client, db, value):
    assert_clean(client.get("/api/auth.login", headers={"Authorization": value}), (400, 401))


@FUZZ
@given(
    path=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="?#%"), max_size=60)
)
def test_any_path(client, db, path):
    assert_clean(client.post(f"/api/{path}"))


@FUZZ
@given(body=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)))
def test_any_body(client, db, body):
    assert_clean(client.generic("POST", "/api/debug.ping", body, content_type="application/json"), (200, 400))


@FUZZ
@given(
    data=st.dictionaries(
        st.sampled_from(["label", "access_key", "expiration_sec", "method", "x"]),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=20), st.lists, max_leaves=4
        ),
        max_size=4,
    ),
    name=st.sampled_from(
        [
            "auth.create_credentials",
            "auth.edit_credentials",
            "auth.revoke_credentials",
            "auth.get_credentials",
        ]
    ),
)
def test_any_data_to_credential_endpoints(client, member_token, data, name):
    response = client.post(
        f"/api/{name}",
        json.dumps(data),
        content_type="application/json",
        headers={"Authorization": f"Bearer {member_token}"},
    )
    assert_clean(response, (200, 400, 401))
