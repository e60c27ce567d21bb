"""No API answer is kept by a cache: they carry tokens, key pairs and vault contents."""

import pytest

from .conftest import basic

pytestmark = pytest.mark.django_db


def test_login_answer_with_its_token_is_not_stored(client, member_key):
    credential, secret = member_key
    response = client.post(
        "/api/auth.login",
        "{}",
        content_type="application/json",
        headers={"Authorization": basic(credential.access_key, secret)},
    )
    assert response.status_code == 200 and response.json()["data"]["token"]
    assert response["Cache-Control"] == "no-store"


def test_authenticated_answers_are_not_stored(client, member_token):
    response = client.post(
        "/api/users.get_vaults",
        "{}",
        content_type="application/json",
        headers={"Authorization": f"Bearer {member_token}"},
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "method,path,status",
    [
        ("get", "/api/debug.ping", 200),  # no authentication needed
        ("get", "/api/auth.login", 401),  # refused
        ("get", "/api/no.such_endpoint", 404),
        ("get", "/api/not-a-path", 400),  # outside service.action
        ("delete", "/api/debug.ping", 405),
    ],
)
def test_every_answer_is_not_stored(client, method, path, status):
    response = getattr(client, method)(path)
    assert response.status_code == status
    assert response["Cache-Control"] == "no-store"
