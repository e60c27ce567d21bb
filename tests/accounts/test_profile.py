"""Profile: the user's information and the inline username edit (htmx and plain form)."""

import pytest
from django.urls import reverse

from accounts.models import User
from tests.factories import UserFactory
from workspaces.models import AuditEvent

PROFILE = reverse("accounts:profile")
USERNAME = reverse("accounts:profile-username")
HX = {"HX-Request": "true"}


@pytest.fixture
def user(db):
    return UserFactory(email="ada@example.com", username="ada")


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


def test_profile_needs_sign_in(client, db):
    response = client.get(PROFILE)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('accounts:login')}?next={PROFILE}"


def test_profile_shows_the_users_information(signed_in, user):
    html = signed_in.get(PROFILE).content.decode()
    assert "ada@example.com" in html
    assert user.id.hex in html
    assert 'data-testid="username">ada<' in html
    assert "ada&#x27;s workspace" in html or "ada's workspace" in html
    # The pencil is a real link, so the edit works without JavaScript too.
    assert f'href="{USERNAME}?edit=1"' in html
    assert f'hx-get="{USERNAME}?edit=1"' in html
    assert 'aria-label="Edit username"' in html


def test_edit_fragment_is_the_inline_form_only(signed_in):
    response = signed_in.get(f"{USERNAME}?edit=1", headers=HX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert 'id="username-field"' in html
    assert 'name="username"' in html and 'value="ada"' in html
    assert 'aria-label="Save username"' in html


def test_cancel_fragment_shows_the_value_again(signed_in):
    html = signed_in.get(USERNAME, headers=HX).content.decode()
    assert "<html" not in html
    assert 'data-testid="username">ada<' in html
    assert 'name="username"' not in html


def test_edit_without_javascript_is_a_full_page(signed_in):
    response = signed_in.get(f"{USERNAME}?edit=1")
    html = response.content.decode()
    assert "<html" in html
    assert f'action="{USERNAME}"' in html and 'name="username"' in html


def test_rename_with_htmx_returns_the_updated_fragment_and_audits(signed_in, user):
    response = signed_in.post(USERNAME, {"username": "Ada Lovelace"}, headers=HX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert 'data-testid="username">Ada Lovelace<' in html
    assert "Saved" in html
    # The name in the top bar follows, out of band.
    assert '<span class="who" id="topbar-username" hx-swap-oob="true">Ada Lovelace</span>' in html
    user.refresh_from_db()
    assert user.username == "Ada Lovelace"
    event = AuditEvent.objects.get(action="user.rename")
    assert event.actor == user
    assert event.before == {"username": "ada"}
    assert event.after == {"username": "Ada Lovelace"}
    assert event.workspace.is_personal and event.workspace.owner == user


def test_rename_without_javascript_redirects_with_a_message(signed_in, user):
    response = signed_in.post(USERNAME, {"username": "lovelace"}, follow=True)
    assert response.redirect_chain == [(PROFILE, 302)]
    html = response.content.decode()
    assert "Username saved." in html
    assert 'data-testid="username">lovelace<' in html
    user.refresh_from_db()
    assert user.username == "lovelace"


def test_same_name_is_not_an_audited_change(signed_in, user):
    signed_in.post(USERNAME, {"username": "ada"}, headers=HX)
    assert not AuditEvent.objects.filter(action="user.rename").exists()


@pytest.mark.parametrize(
    "value,error",
    [
        ("", "Enter a username."),
        ("   ", "Enter a username."),
        ("x" * 65, "at most 64 characters"),
        ("taken", "That username is taken."),
        ("TAKEN", "That username is taken."),
        ("<script>", "Use letters, digits, spaces and . @ + - _ only."),
        ("semi;colon", "Use letters, digits, spaces and . @ + - _ only."),
        ("new\nline", "Use letters, digits, spaces and . @ + - _ only."),
    ],
)
@pytest.mark.parametrize("htmx", [True, False])
def test_bad_usernames_are_refused_inline_with_no_change(signed_in, user, value, error, htmx):
    UserFactory(email="t@example.com", username="taken")
    response = signed_in.post(USERNAME, {"username": value}, headers=HX if htmx else {})
    assert response.status_code == 422
    html = response.content.decode()
    assert error in html
    assert 'aria-invalid="true"' in html
    assert 'role="alert"' in html
    assert ("<html" in html) is not htmx
    assert "&lt;script&gt;" in html or value != "<script>"
    user.refresh_from_db()
    assert user.username == "ada"
    assert not AuditEvent.objects.filter(action="user.rename").exists()


def test_missing_field_is_refused(signed_in, user):
    response = signed_in.post(USERNAME, {}, headers=HX)
    assert response.status_code == 422
    assert User.objects.get(pk=user.pk).username == "ada"


def test_username_edit_needs_sign_in(client, db):
    assert client.post(USERNAME, {"username": "x"}).status_code == 302
    assert client.get(f"{USERNAME}?edit=1").status_code == 302


def test_username_edit_refuses_other_methods(signed_in):
    assert signed_in.put(USERNAME).status_code == 405
    assert signed_in.delete(USERNAME).status_code == 405


def test_profile_links_to_password_change(signed_in):
    assert reverse("accounts:password-change") in signed_in.get(PROFILE).content.decode()


def test_renamed_user_signs_in_with_the_new_username(signed_in, client, user):
    signed_in.post(USERNAME, {"username": "countess"})
    client.logout()
    from tests.factories import PASSWORD

    response = client.post(reverse("accounts:login"), {"username": "countess", "password": PASSWORD})
    assert response.status_code == 302
