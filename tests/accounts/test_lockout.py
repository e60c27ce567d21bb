"""The limit on failed sign-ins counts accounts, not spellings, and never locks a person out of
the ways back in: a password reset releases the account (SSO: tests/identity/test_lockout.py)."""

import re

import pytest
from django.core import mail
from django.test import override_settings
from django.urls import reverse

from accounts import ratelimit
from tests.factories import PASSWORD, UserFactory

LOGIN = reverse("accounts:login")
NEW_PASSWORD = "An0ther-s3cret!"

pytestmark = pytest.mark.django_db


@pytest.fixture
def user(db):
    return UserFactory(email="ada@example.com", username="ada")


def sign_in(client, login, password=PASSWORD, **extra):
    return client.post(LOGIN, {"username": login, "password": password}, **extra)


def lock_out(client, login="ada", attempts=3):
    for _ in range(attempts):
        assert sign_in(client, login, "wrong").status_code == 422
    assert sign_in(client, login).status_code == 429


@override_settings(LOGIN_RATE_LIMIT=3, LOGIN_RATE_LIMIT_PER_IP=100)
def test_email_and_username_of_one_account_share_one_counter(client, user):
    """Alternating the two names of one account does not double the guesses."""
    for login in ["ada", "ADA@example.com", "ada"]:
        assert sign_in(client, login, "wrong").status_code == 422
    for login in ["ada@example.com", "ada", " Ada "]:
        assert sign_in(client, login).status_code == 429


@override_settings(LOGIN_RATE_LIMIT=3, LOGIN_RATE_LIMIT_PER_IP=100)
def test_a_success_by_email_resets_the_counter_of_the_username(client, user):
    for _ in range(2):
        sign_in(client, "ada", "wrong")
    assert sign_in(client, "ada@example.com").status_code == 302
    client.logout()
    for _ in range(2):
        assert sign_in(client, "ada", "wrong").status_code == 422
    assert sign_in(client, "ada").status_code == 302


@override_settings(LOGIN_RATE_LIMIT=3, LOGIN_RATE_LIMIT_PER_IP=100)
def test_unknown_logins_are_counted_as_typed(client, user):
    """A login that names nobody gets its own counter (whatever the case), like before."""
    for login in ["ghost", "GHOST", "ghost@example.com"]:
        assert sign_in(client, login, "wrong").status_code == 422
    assert sign_in(client, "ghost", "wrong").status_code == 422  # 2 failures so far for "ghost"
    assert sign_in(client, "ghost", "wrong").status_code == 429
    assert sign_in(client, "ada").status_code == 302  # another account is not affected


def test_subject_names_the_account_not_the_spelling(user):
    assert ratelimit.subject("ada") == ratelimit.subject(" ADA@Example.com ")
    assert ratelimit.subject("nobody") == ratelimit.subject("NOBODY") != ratelimit.subject("ada")


@override_settings(LOGIN_RATE_LIMIT=3, LOGIN_RATE_LIMIT_PER_IP=100)
def test_a_locked_out_user_resets_the_password_and_signs_in_at_once(client, user, settings):
    settings.PORTAL_BASE_URL = "https://portal.example.com"
    lock_out(client)
    # The reset page is not behind the sign-in limit ...
    page = client.get(reverse("accounts:password-reset"))
    assert page.status_code == 200
    response = client.post(reverse("accounts:password-reset"), {"email": "ada@example.com"})
    assert response.status_code == 302 and len(mail.outbox) == 1
    link = re.search(r"https://portal\.example\.com(/accounts/password/reset/\S+/)", mail.outbox[0].body)
    set_url = client.get(link.group(1), follow=True).redirect_chain[-1][0]
    done = client.post(set_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert done["Location"] == reverse("accounts:password-reset-complete")
    # ... and the new password works from the same address right away, by either name.
    assert sign_in(client, "ada@example.com", NEW_PASSWORD).status_code == 302
    client.logout()
    # The old password's guesses were released, not the limit: new failures count afresh.
    lock_out(client)


@override_settings(LOGIN_RATE_LIMIT=3, LOGIN_RATE_LIMIT_PER_IP=100)
def test_a_password_change_by_an_operator_releases_the_account(client, user):
    lock_out(client)
    user.set_password(NEW_PASSWORD)
    user.save()
    assert sign_in(client, "ada", NEW_PASSWORD).status_code == 302


@override_settings(LOGIN_RATE_LIMIT=3, LOGIN_RATE_LIMIT_PER_IP=100)
def test_the_lockout_is_not_released_without_a_new_password(client, user):
    """Releasing on reset must not be a way around the limit: asking for a reset link (anyone
    can) changes nothing until the owner of the mailbox sets a new password."""
    lock_out(client)
    client.post(reverse("accounts:password-reset"), {"email": "ada@example.com"})
    assert len(mail.outbox) == 1
    assert sign_in(client, "ada").status_code == 429
