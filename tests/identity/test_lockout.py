"""A person locked out of password sign-in by failed attempts (someone guessing their password)
can still sign in through their workspace's identity provider: the limit guards passwords only."""

import pytest
from django.test import override_settings
from django.urls import reverse

from .conftest import oidc_connection

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def provider(oidc_provider, oidc_settings):
    return oidc_provider


@override_settings(LOGIN_RATE_LIMIT=3, LOGIN_RATE_LIMIT_PER_IP=100)
def test_a_locked_out_member_signs_in_with_sso(client, workspace, provider, member):
    conn = oidc_connection(workspace, provider, link_by_verified_email=True)
    provider.user("locked", member.email)
    login = f"{reverse('accounts:login')}?workspace={workspace.slug}"  # the workspace's sign-in link
    for _ in range(3):
        assert client.post(login, {"username": member.email, "password": "wrong"}).status_code == 422
    refused = client.post(login, {"username": member.username, "password": "wrong"})
    assert refused.status_code == 429
    # The refused page still offers the workspace's provider, and its form keeps the link ...
    html = refused.content.decode()
    assert reverse("identity:oidc-start", args=[conn.pk]) in html
    assert f'action="{login}"' in html
    # ... and the provider's sign-in completes.
    start = client.get(reverse("identity:oidc-start", args=[conn.pk]))
    response = client.get(provider.authorize(provider.browser("locked"), start["Location"]))
    assert response.status_code == 302
    assert client.get(reverse("accounts:profile")).wsgi_request.user == member
