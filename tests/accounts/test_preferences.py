"""Configuration → User preferences: the toggles, their defaults and their real effects."""

import re

import pytest
from django.urls import reverse
from django.utils.html import escape

from accounts.models import UserPreferences
from accounts.services import PREFERENCE_FIELDS, preferences_get, preferences_update
from settings_portal.middleware import BASE_HEADER, BLOCKED_SCRIPTS_HEADER
from settings_portal.tips import TIPS
from tests.factories import PASSWORD, UserFactory
from workspaces.models import AuditEvent

CONFIGURATION = reverse("accounts:configuration")
HX = {"HX-Request": "true"}

SPEC_DEFAULTS = {
    "show_hidden_projects": False,
    "hide_examples": False,
    "disable_hidpi_override": False,
    "hide_pro_tips": False,
    "block_scripts": False,
    "share_telemetry": False,
}


@pytest.fixture
def user(db):
    return UserFactory(email="ada@example.com", username="ada")


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


def toggle_url(field):
    return reverse("accounts:preference-toggle", args=[field])


def prefs_of(user):
    return UserPreferences.objects.get(user=user)


def test_defaults_are_the_specs(user):
    prefs = prefs_of(user)
    assert {field: getattr(prefs, field) for field in PREFERENCE_FIELDS} == SPEC_DEFAULTS
    assert set(PREFERENCE_FIELDS) == set(SPEC_DEFAULTS)


def test_configuration_lists_the_five_toggles_and_telemetry_with_labels(signed_in):
    html = signed_in.get(CONFIGURATION).content.decode()
    for label in [
        "Show Hidden Projects",
        "Don&#x27;t show ClearML examples",
        "Disable HiDPI browser scale override",
        "Don&#x27;t show pro tips periodically",
        "Block running user&#x27;s scripts in the browser",
        "Share anonymous telemetry",
    ]:
        assert label in html, label
    for field in PREFERENCE_FIELDS:
        form = re.search(rf'<form id="pref-{field}".*?</form>', html, re.S).group(0)
        # A working plain form (action + CSRF + a submit button for no-JS) and its htmx twin.
        assert f'action="{toggle_url(field)}"' in form
        assert f'hx-post="{toggle_url(field)}"' in form
        assert "csrfmiddlewaretoken" in form
        assert "<noscript><button" in form
        assert 'role="switch"' in form
        assert "checked" not in form  # every default is off


def test_telemetry_is_offered_only_when_self_hosted(signed_in, settings):
    settings.PORTAL_SELF_HOSTED = False
    assert "Share anonymous telemetry" not in signed_in.get(CONFIGURATION).content.decode()


@pytest.mark.parametrize("field", PREFERENCE_FIELDS)
def test_each_toggle_without_javascript(signed_in, user, field):
    response = signed_in.post(toggle_url(field), {"value": "on"}, follow=True)
    assert response.redirect_chain == [(CONFIGURATION, 302)]
    assert "Preference saved." in response.content.decode()
    assert getattr(prefs_of(user), field) is True
    form = re.search(rf'<form id="pref-{field}".*?</form>', response.content.decode(), re.S).group(0)
    assert "checked" in form
    # An unchecked checkbox sends nothing: that means off.
    signed_in.post(toggle_url(field), {})
    assert getattr(prefs_of(user), field) is False


@pytest.mark.parametrize("field", PREFERENCE_FIELDS)
def test_each_toggle_with_htmx_is_audited(signed_in, user, field):
    response = signed_in.post(toggle_url(field), {"value": "on"}, headers=HX)
    assert response.status_code == 200
    assert getattr(prefs_of(user), field) is True
    if field in {"block_scripts", "disable_hidpi_override"}:
        # These change how every page is served: the browser reloads the page.
        assert response["HX-Redirect"] == CONFIGURATION
    else:
        html = response.content.decode()
        assert "<html" not in html
        assert f'id="pref-{field}"' in html and "checked" in html and "Saved" in html
    event = AuditEvent.objects.get(action="preferences.update")
    assert event.actor == user
    assert event.before == {field: False}
    assert event.after == {field: True}
    assert event.workspace.owner == user and event.workspace.is_personal


def test_saving_the_same_value_writes_no_audit_row(signed_in, user):
    signed_in.post(toggle_url("hide_examples"), {}, headers=HX)
    assert not AuditEvent.objects.filter(action="preferences.update").exists()


@pytest.mark.parametrize("value", ["on", "true", "1", "yes"])
def test_truthy_values(signed_in, user, value):
    signed_in.post(toggle_url("hide_examples"), {"value": value})
    assert prefs_of(user).hide_examples is True


def test_unknown_preference_is_404_and_changes_nothing(signed_in, user):
    before = {field: getattr(prefs_of(user), field) for field in PREFERENCE_FIELDS}
    for bad in ["is_staff", "hidden_container_args", "user", "updated_at"]:
        assert signed_in.post(toggle_url(bad), {"value": "on"}).status_code == 404
    after = {field: getattr(prefs_of(user), field) for field in PREFERENCE_FIELDS}
    assert before == after
    assert not AuditEvent.objects.filter(action="preferences.update").exists()


def test_toggle_is_post_only_and_needs_sign_in(client, user):
    assert client.post(toggle_url("hide_examples"), {"value": "on"}).status_code == 302
    assert prefs_of(user).hide_examples is False
    client.force_login(user)
    assert client.get(toggle_url("hide_examples")).status_code == 405


def test_service_refuses_unknown_fields(user):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        preferences_update(user=user, is_staff=True)


def test_preferences_get_creates_missing_row(user):
    UserPreferences.objects.filter(user=user).delete()
    prefs = preferences_get(user=user)
    assert prefs.pk and prefs.hidden_container_args


# --- Real effects ---------------------------------------------------------------------------------


def sign_in(client, login="ada"):
    response = client.post(reverse("accounts:login"), {"username": login, "password": PASSWORD})
    assert response.status_code == 302
    return response


def test_pro_tip_is_shown_once_after_sign_in(client, user):
    sign_in(client)
    first = client.get(reverse("accounts:profile")).content.decode()
    assert 'id="pro-tip"' in first
    assert any(escape(tip) in first for tip in TIPS)
    assert 'data-dismiss="#pro-tip"' in first
    second = client.get(reverse("accounts:profile")).content.decode()
    assert 'id="pro-tip"' not in second


def test_pro_tip_is_not_shown_when_turned_off(client, user):
    preferences_update(user=user, hide_pro_tips=True)
    sign_in(client)
    assert 'id="pro-tip"' not in client.get(reverse("accounts:profile")).content.decode()


def test_pro_tip_waits_for_a_full_page(client, user):
    """An htmx fragment right after sign-in must not swallow the tip."""
    sign_in(client)
    client.get(reverse("accounts:profile-username"), headers=HX)
    assert 'id="pro-tip"' in client.get(reverse("accounts:profile")).content.decode()


def test_anonymous_pages_get_the_base_policy(client, db):
    response = client.get(reverse("accounts:login"))
    assert response["Content-Security-Policy"] == BASE_HEADER


def test_policies_allow_no_inline_code(client, db):
    for header in (BASE_HEADER, BLOCKED_SCRIPTS_HEADER):
        assert "unsafe-inline" not in header and "unsafe-eval" not in header
        assert "script-src 'self'" in header
        assert "object-src 'none'" in header and "frame-ancestors 'none'" in header


def test_block_scripts_serves_that_users_pages_under_the_stricter_policy(client, user):
    other = UserFactory(email="grace@example.com", username="grace")
    client.force_login(user)
    assert client.get(CONFIGURATION)["Content-Security-Policy"] == BASE_HEADER
    client.post(toggle_url("block_scripts"), {"value": "on"})
    for url in [CONFIGURATION, reverse("accounts:profile")]:
        header = client.get(url)["Content-Security-Policy"]
        assert header == BLOCKED_SCRIPTS_HEADER
        assert "frame-src 'none'" in header and "worker-src 'none'" in header
        assert "https:" not in header
    # Other users are not affected.
    client.force_login(other)
    assert client.get(CONFIGURATION)["Content-Security-Policy"] == BASE_HEADER
    # Turning it off restores the base policy.
    client.force_login(user)
    client.post(toggle_url("block_scripts"), {})
    assert client.get(CONFIGURATION)["Content-Security-Policy"] == BASE_HEADER


def test_hidpi_override_class_on_html(signed_in, user):
    html = signed_in.get(CONFIGURATION).content.decode()
    assert re.search(r'<html lang="en" class="[^"]*\bhidpi-override\b', html)
    signed_in.post(toggle_url("disable_hidpi_override"), {"value": "on"})
    html = signed_in.get(CONFIGURATION).content.decode()
    assert not re.search(r"<html[^>]*hidpi-override", html)


def test_hidpi_override_css_rule_exists():
    from pathlib import Path

    from django.conf import settings

    css = (Path(settings.BASE_DIR) / "static/css/portal.css").read_text()
    assert "html.hidpi-override" in css


def test_prefs_page_query_count_does_not_grow_with_rows(signed_in, user, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts.models import CloudAccess

    CloudAccess.objects.create(user=user, bucket="b0", key="k", secret="s")
    with CaptureQueriesContext(connection) as few:
        assert signed_in.get(CONFIGURATION).status_code == 200
    CloudAccess.objects.bulk_create(
        CloudAccess(user=user, bucket=f"b{n}", key="k", secret="s") for n in range(1, 40)
    )
    with django_assert_max_num_queries(12):
        response = signed_in.get(CONFIGURATION)
    assert response.content.decode().count('/delete/" hx-get=') == 40  # each row's Delete
    with CaptureQueriesContext(connection) as many:
        signed_in.get(CONFIGURATION)
    assert len(many) == len(few)


def test_profile_query_count_does_not_grow_with_memberships(signed_in, user, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories import make_workspace
    from workspaces.models import Role

    with CaptureQueriesContext(connection) as few:
        assert signed_in.get(reverse("accounts:profile")).status_code == 200
    for n in range(15):
        owner = UserFactory(email=f"o{n}@example.com", username=f"o{n}")
        make_workspace(owner=owner, name=f"Team {n}", members={user: Role.ADMIN})
    with django_assert_max_num_queries(12):
        signed_in.get(reverse("accounts:profile"))
    with CaptureQueriesContext(connection) as many:
        signed_in.get(reverse("accounts:profile"))
    assert len(many) == len(few)
