"""Sign-in, sign-out, password change and reset, and the limit on failed sign-ins."""

import re

import pytest
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.test import override_settings
from django.urls import reverse

from accounts.models import User
from settings_portal.tips import SESSION_FLAG
from tests.factories import PASSWORD, UserFactory

LOGIN = reverse("accounts:login")


@pytest.fixture
def user(db):
    return UserFactory(email="ada@example.com", username="ada")


def sign_in(client, login, password=PASSWORD, **extra):
    return client.post(LOGIN, {"username": login, "password": password}, **extra)


def signed_in_as(client) -> str | None:
    return client.session.get(SESSION_KEY)


# --- The sign-in form (a contract other issues and scripts rely on) ---------------------------


def test_home_redirects_anonymous_visitor_to_sign_in(client, db):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == LOGIN


def test_home_sends_signed_in_user_to_profile(client, user):
    client.force_login(user)
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:profile")


def test_sign_in_page_is_an_ordinary_html_form(client, db):
    response = client.get(LOGIN)
    assert response.status_code == 200
    html = response.content.decode()
    form = re.search(r"<form[^>]*method=\"post\"[^>]*>(.*?)</form>", html, re.S)
    assert form, "the sign-in page has a POST form"
    body = form.group(0)
    assert 'action="/accounts/login/"' in body
    assert re.search(r'<input[^>]*name="username"', body)
    assert re.search(r'<input[^>]*type="password"[^>]*name="password"', body)
    assert re.search(r'<input[^>]*name="csrfmiddlewaretoken"', body)
    assert 'for="id_username"' in body and "Email or username" in body
    assert 'for="id_password"' in body


def test_sign_in_page_works_with_csrf_checks_on(db, user):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    page = client.get(LOGIN)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    response = client.post(
        LOGIN, {"username": "ada@example.com", "password": PASSWORD, "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302
    assert signed_in_as(client) == str(user.pk)


def test_sign_in_without_csrf_token_is_refused(db, user):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.get(LOGIN)
    response = sign_in(client, "ada@example.com")
    assert response.status_code == 403
    assert signed_in_as(client) is None


# --- Signing in -----------------------------------------------------------------------------


@pytest.mark.parametrize("login", ["ada@example.com", "ADA@Example.com", "ada", "Ada", "  ada  "])
def test_sign_in_by_email_or_username_any_case(client, user, login):
    response = sign_in(client, login)
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:profile")
    assert signed_in_as(client) == str(user.pk)


def test_sign_in_follows_safe_next_only(client, user):
    target = reverse("accounts:configuration")
    response = client.post(
        f"{LOGIN}?next={target}", {"username": "ada", "password": PASSWORD, "next": target}
    )
    assert response["Location"] == target
    client.logout()
    response = client.post(
        LOGIN, {"username": "ada", "password": PASSWORD, "next": "https://evil.example.com/"}
    )
    assert response["Location"] == reverse("accounts:profile")


@pytest.mark.parametrize(
    "login,password",
    [("ada@example.com", "wrong password"), ("nobody@example.com", PASSWORD), ("ada", ""), ("", PASSWORD)],
)
def test_wrong_credentials_answer_422_with_a_clear_error(client, user, login, password):
    response = sign_in(client, login, password)
    assert response.status_code == 422
    assert signed_in_as(client) is None
    html = response.content.decode()
    assert 'role="alert"' in html or 'class="error"' in html
    if login and password:
        assert "do not match an account" in html
    else:
        assert "This field is required." in html


def test_inactive_user_cannot_sign_in(client, user):
    user.is_active = False
    user.save()
    assert sign_in(client, "ada").status_code == 422
    assert signed_in_as(client) is None


def test_signed_in_user_visiting_sign_in_is_redirected(client, user):
    client.force_login(user)
    response = client.get(LOGIN)
    assert response.status_code == 302


# --- Limit on failed sign-ins -----------------------------------------------------------------


@override_settings(LOGIN_RATE_LIMIT=3, LOGIN_RATE_LIMIT_PER_IP=100)
def test_failed_sign_ins_are_limited_then_reset_by_success(client, user):
    for _ in range(3):
        assert sign_in(client, "ada", "wrong").status_code == 422
    # Limited now: even the right password is refused, with a clear message.
    response = sign_in(client, "ada")
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()
    assert signed_in_as(client) is None
    # The limit is per login: another account from the same address is not blocked.
    other = UserFactory(email="grace@example.com", username="grace")
    assert sign_in(client, "grace").status_code == 302
    assert signed_in_as(client) == str(other.pk)


@override_settings(LOGIN_RATE_LIMIT=3, LOGIN_RATE_LIMIT_PER_IP=100)
def test_successful_sign_in_resets_the_failure_count(client, user):
    for _ in range(2):
        assert sign_in(client, "ada", "wrong").status_code == 422
    assert sign_in(client, "ada").status_code == 302
    client.logout()
    # Two more failures after the success do not reach the limit of 3 ...
    for _ in range(2):
        assert sign_in(client, "ada", "wrong").status_code == 422
    assert sign_in(client, "ada").status_code == 302


@override_settings(LOGIN_RATE_LIMIT=3, LOGIN_RATE_LIMIT_PER_IP=100)
def test_limit_applies_whatever_the_case_or_spacing_of_the_login(client, user):
    for login in ["ada", "ADA", " Ada "]:
        assert sign_in(client, login, "wrong").status_code == 422
    assert sign_in(client, "ada").status_code == 429


@override_settings(LOGIN_RATE_LIMIT=100, LOGIN_RATE_LIMIT_PER_IP=4)
def test_per_address_limit_covers_many_logins(client, user):
    for n in range(4):
        assert sign_in(client, f"guess{n}@example.com", "wrong").status_code == 422
    assert sign_in(client, "ada").status_code == 429
    # Another address is not affected.
    assert sign_in(client, "ada", REMOTE_ADDR="10.9.9.9").status_code == 302


@override_settings(LOGIN_RATE_LIMIT=2, LOGIN_RATE_LIMIT_PER_IP=100)
def test_limited_request_does_not_check_the_password(client, user, monkeypatch):
    for _ in range(2):
        sign_in(client, "ada", "wrong")
    calls = []
    monkeypatch.setattr(User, "check_password", lambda self, raw: calls.append(raw) or True)
    assert sign_in(client, "ada").status_code == 429
    assert calls == []


# --- Signing out ------------------------------------------------------------------------------


def test_sign_out_is_a_post(client, user):
    client.force_login(user)
    assert client.get(reverse("accounts:logout")).status_code == 405
    assert signed_in_as(client) == str(user.pk)
    response = client.post(reverse("accounts:logout"))
    assert response.status_code == 302
    assert response["Location"] == LOGIN
    assert signed_in_as(client) is None
    assert client.get(reverse("accounts:profile")).status_code == 302


def test_every_settings_page_has_a_sign_out_form(client, user):
    client.force_login(user)
    html = client.get(reverse("accounts:profile")).content.decode()
    form = re.search(r'<form method="post" action="/accounts/logout/".*?</form>', html, re.S)
    assert form and "csrfmiddlewaretoken" in form.group(0)


# --- Password change ------------------------------------------------------------------------


def test_password_change(client, user):
    client.force_login(user)
    url = reverse("accounts:password-change")
    assert client.get(url).status_code == 200
    bad = client.post(
        url, {"old_password": "wrong", "new_password1": "n3w-Passw0rd!x", "new_password2": "n3w-Passw0rd!x"}
    )
    assert bad.status_code == 200
    assert "Your old password was entered incorrectly" in bad.content.decode()
    response = client.post(
        url,
        {"old_password": PASSWORD, "new_password1": "n3w-Passw0rd!x", "new_password2": "n3w-Passw0rd!x"},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:password-change-done")
    # Still signed in (the session hash was updated), and the new password works.
    assert client.get(reverse("accounts:profile")).status_code == 200
    user.refresh_from_db()
    assert user.check_password("n3w-Passw0rd!x")
    client.post(reverse("accounts:logout"))
    assert sign_in(client, "ada", "n3w-Passw0rd!x").status_code == 302


def test_password_change_needs_sign_in(client, db):
    response = client.get(reverse("accounts:password-change"))
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN)


def test_password_change_rejects_weak_password(client, user):
    client.force_login(user)
    response = client.post(
        reverse("accounts:password-change"),
        {"old_password": PASSWORD, "new_password1": "123", "new_password2": "123"},
    )
    assert response.status_code == 200
    assert "too short" in response.content.decode()
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


# --- Password reset by email ------------------------------------------------------------------


def test_password_reset_by_email(client, user, settings):
    settings.PORTAL_BASE_URL = "https://portal.example.com"
    response = client.post(reverse("accounts:password-reset"), {"email": "ADA@example.com"})
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:password-reset-done")
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ada@example.com"]
    assert "Reset your Settings Portal password" in message.subject
    # The link is built on the configured public URL, never on the request's Host header.
    link = re.search(r"https://portal\.example\.com(/accounts/password/reset/\S+/)", message.body)
    assert link, message.body
    page = client.get(link.group(1), follow=True)
    assert page.status_code == 200
    assert "Choose a new password" in page.content.decode()
    set_url = page.redirect_chain[-1][0] if page.redirect_chain else link.group(1)
    done = client.post(set_url, {"new_password1": "An0ther-s3cret!", "new_password2": "An0ther-s3cret!"})
    assert done.status_code == 302
    assert done["Location"] == reverse("accounts:password-reset-complete")
    assert sign_in(client, "ada", "An0ther-s3cret!").status_code == 302
    # The link works once.
    client.post(reverse("accounts:logout"))
    again = client.get(link.group(1), follow=True)
    assert "invalid or was already used" in again.content.decode()


def test_password_reset_ignores_the_host_header(client, user, settings):
    settings.PORTAL_BASE_URL = "https://portal.example.com"
    settings.ALLOWED_HOSTS = ["*"]
    client.post(
        reverse("accounts:password-reset"), {"email": "ada@example.com"}, HTTP_HOST="evil.example.net"
    )
    assert "evil.example.net" not in mail.outbox[0].body
    assert "https://portal.example.com/accounts/password/reset/" in mail.outbox[0].body


def test_password_reset_for_unknown_email_sends_nothing_and_says_the_same(client, user):
    response = client.post(reverse("accounts:password-reset"), {"email": "nobody@example.com"})
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:password-reset-done")
    assert mail.outbox == []


def test_password_reset_with_bad_token_shows_an_error(client, user):
    url = reverse("accounts:password-reset-confirm", args=["MQ", "bad-token"])
    response = client.get(url)
    assert response.status_code == 200
    assert "invalid or was already used" in response.content.decode()


# --- First administrator ------------------------------------------------------------------------


def test_fresh_install_says_no_administrator_yet(client, db):
    html = client.get(LOGIN).content.decode()
    assert "No administrator yet" in html
    assert "portal_users create" in html and "--admin" in html


def test_notice_disappears_once_an_administrator_exists(client, db):
    UserFactory(email="root@example.com", username="root", is_staff=True)
    assert "No administrator yet" not in client.get(LOGIN).content.decode()


def test_notice_stays_while_only_non_administrators_exist(client, user):
    assert "No administrator yet" in client.get(LOGIN).content.decode()


def test_sign_in_sets_the_pro_tip_flag(client, user):
    sign_in(client, "ada")
    assert client.session.get(SESSION_FLAG) is True


@pytest.mark.parametrize(
    "count,forwarded,expected",
    [
        (0, "203.0.113.7", "10.0.0.1"),
        (1, "203.0.113.7", "203.0.113.7"),
        (1, "198.51.100.9, 203.0.113.7", "203.0.113.7"),  # the left entry is the client's own claim
        (2, "198.51.100.9, 203.0.113.7", "198.51.100.9"),
        (2, "203.0.113.7", "10.0.0.1"),  # fewer hops than proxies: not trusted
        (1, "not-an-ip", "10.0.0.1"),
        (1, "", "10.0.0.1"),
        (1, "2001:db8::1", "2001:db8::1"),
    ],
)
def test_client_ip_behind_proxies(rf, settings, count, forwarded, expected):
    from accounts.views import client_ip

    settings.PORTAL_TRUSTED_PROXY_COUNT = count
    request = rf.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


@override_settings(LOGIN_RATE_LIMIT=100, LOGIN_RATE_LIMIT_PER_IP=3, PORTAL_TRUSTED_PROXY_COUNT=1)
def test_behind_a_proxy_each_client_has_its_own_limit(client, user):
    for n in range(3):
        sign_in(client, f"guess{n}", "wrong", HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert sign_in(client, "ada", HTTP_X_FORWARDED_FOR="203.0.113.7").status_code == 429
    # Another client through the same proxy (same REMOTE_ADDR) is not locked out.
    assert sign_in(client, "ada", HTTP_X_FORWARDED_FOR="198.51.100.9").status_code == 302
    client.logout()
    # Forging X-Forwarded-For does not escape the limit: the proxy appends the real address.
    assert sign_in(client, "ada", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.7").status_code == 429
