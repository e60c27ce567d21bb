"""The error pages (settings_portal/errors.py): styled, with a way back, and 500 without the database.

The browser journeys (tests/e2e/test_error_pages.py) look at them at 1440 and 390 px.
"""

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client, RequestFactory
from django.urls import reverse

from settings_portal import errors


def test_a_member_on_an_admin_page_gets_the_403_page_naming_the_admins(client, member, workspace):
    client.force_login(member)
    response = client.get(reverse("access:user-list", args=[workspace.slug]))
    assert response.status_code == 403
    html = response.content.decode()
    assert "This page is for admins of Team" in html
    assert "It needs the Admin role in Team; you are a Member." in html
    admins = html[
        html.index('id="workspace-admins"') : html.index("</ul>", html.index('id="workspace-admins"'))
    ]
    assert "owner@example.com" in admins and "admin@example.com" in admins
    assert "member@example.com" not in admins
    assert 'class="sidebar"' in html  # inside the layout


def test_the_403_page_shows_the_reason_of_other_refusals(rf, member):
    request = rf.get("/anything/")
    request.user = member
    response = errors.permission_denied(request, PermissionDenied("Only administrators see this."))
    assert response.status_code == 403
    assert "Only administrators see this." in response.content.decode()
    bare = errors.permission_denied(request, PermissionDenied()).content.decode()
    assert "Your account does not have the permission this page needs." in bare


def test_the_404_page_does_not_confirm_a_foreign_workspace(client, outsider, workspace):
    client.force_login(outsider)
    response = client.get(reverse("vaults:vault-list", args=[workspace.slug]))
    assert response.status_code == 404
    html = response.content.decode()
    assert "Page not found" in html and f"/w/{workspace.slug}/" in html
    assert "Team" not in html and "No such workspace" not in html


def test_the_404_page_signed_out_offers_sign_in(client, db):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "Page not found" in html and reverse("accounts:login") in html
    assert 'class="sidebar"' not in html


def test_the_way_back_is_only_a_page_of_this_site(client, member, workspace):
    client.force_login(member)
    page = reverse("access:user-list", args=[workspace.slug])
    html = client.get(page, headers={"Referer": "http://testserver/settings/workspace/"}).content.decode()
    assert 'href="http://testserver/settings/workspace/"' in html
    html = client.get(page, headers={"Referer": "https://evil.example/phish"}).content.decode()
    assert "evil.example" not in html and "Back to the previous page" not in html


def test_a_stale_form_gets_the_expired_form_page_and_changes_nothing(db, member):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    response = client.post(reverse("accounts:logout"))
    assert response.status_code == 403
    html = response.content.decode()
    assert "This form has expired" in html and "Nothing was changed." in html
    assert "_auth_user_id" in client.session  # still signed in


def test_the_500_page_renders_without_the_database_or_a_request_context(db, django_assert_num_queries):
    request = RequestFactory().get("/boom/")  # no user, no session: nothing a context processor needs
    with django_assert_num_queries(0):
        response = errors.server_error(request)
    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong on our side" in html and "css/errors.css" in html


def test_the_500_page_falls_back_to_plain_html_if_its_template_fails(monkeypatch):
    def broken(name):
        raise RuntimeError("template storage is gone")

    monkeypatch.setattr(errors.loader, "get_template", broken)
    response = errors.server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    assert b"Something went wrong on our side" in response.content


@pytest.mark.parametrize("status", [403, 404, 500])
def test_error_templates_exist_where_django_looks_for_them(status):
    from django.template.loader import get_template

    assert get_template(f"{status}.html")
