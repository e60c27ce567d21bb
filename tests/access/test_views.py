"""Users & Groups pages: roles on every URL, htmx fragments and plain (no-JS) forms."""

import re
from html import unescape

import pytest
from django.urls import reverse

from access.models import BuiltinGroup, GroupMembership, ServiceAccount, UserGroup
from access.selectors import builtin_groups
from workspaces.models import AuditEvent, Credential, Invitation, Membership, Role

HX = {"HX-Request": "true"}


def url(name, workspace, *args):
    return reverse(f"access:{name}", args=[workspace.slug, *args])


@pytest.fixture
def urls(workspace, service_account, invitation, custom_group, member):
    """Every access URL (GET) in the workspace."""
    return [
        url("user-list", workspace),
        url("member-remove", workspace, member.pk),
        url("service-account-list", workspace),
        url("service-account-create", workspace),
        url("service-account-edit", workspace, service_account.pk),
        url("service-account-delete", workspace, service_account.pk),
        url("group-list", workspace),
        url("group-create", workspace),
        url("group-member-search", workspace),
        url("group-edit", workspace, custom_group.pk),
        url("group-delete", workspace, custom_group.pk),
    ]


@pytest.fixture
def post_urls(workspace, service_account, invitation, custom_group, member):
    """Every URL that changes something (POST)."""
    credential = service_account.first_credential
    return [
        url("member-remove", workspace, member.pk),
        url("service-account-create", workspace),
        url("service-account-edit", workspace, service_account.pk),
        url("service-account-credential-create", workspace, service_account.pk),
        url("service-account-credential-revoke", workspace, service_account.pk, credential.pk),
        url("service-account-delete", workspace, service_account.pk),
        url("group-create", workspace),
        url("group-edit", workspace, custom_group.pk),
        url("group-delete", workspace, custom_group.pk),
    ]


def test_every_access_url_is_admin_only(client, urls, outsider, member, admin_member, owner):
    for user, expected in [(outsider, 404), (member, 403), (admin_member, 200), (owner, 200)]:
        client.force_login(user)
        for path in urls:
            assert client.get(path).status_code == expected, (user.username, path)
            assert client.get(path, headers=HX).status_code == expected, (user.username, path)


def test_anonymous_visitors_are_sent_to_sign_in(client, urls):
    for path in urls:
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("accounts:login"))


def test_no_change_by_outsiders_or_members(client, post_urls, outsider, member, workspace):
    events = AuditEvent.objects.count()
    for user, expected in [(outsider, 404), (member, 403)]:
        client.force_login(user)
        for path in post_urls:
            response = client.post(path, {"name": "x", "email": "x@example.com", "members": []})
            assert response.status_code == expected, (user.username, path)
    assert AuditEvent.objects.count() == events
    assert Membership.objects.filter(workspace=workspace, user=member).exists()


def test_every_url_of_the_app_is_in_the_role_matrix(urls, post_urls):
    from access.urls import urlpatterns

    covered = {re.sub(r"/[^/]*\d[^/]*/", "/", p) for p in urls + post_urls}
    assert len(urlpatterns) == len({p.name for p in urlpatterns})
    names = {p.name for p in urlpatterns}
    checked = {
        "user-list", "member-remove",
        # The old invitation URLs: redirects to the one flow (test_old_invitation_urls_redirect).
        "user-invite", "invitation-revoke",
        "service-account-list", "service-account-create", "service-account-edit",
        "service-account-credential-create", "service-account-credential-revoke", "service-account-delete",
        "group-list", "group-create", "group-member-search", "group-edit", "group-delete",
        # Access Rules: their role matrix is in test_access_rules_views.py.
        "rule-list", "rule-create", "rule-search", "rule-edit", "rule-delete", "rule-explain",
    }  # fmt: skip
    assert names == checked
    assert covered
    for pattern in urlpatterns:
        assert pattern.callback.required_role == Role.ADMIN, pattern.name


# --- Users table -----------------------------------------------------------------------------------


def test_user_table_lists_members_and_pending_invitations(
    client, owner, workspace, member, invitation, custom_group
):
    client.force_login(owner)
    response = client.get(url("user-list", workspace))
    html = response.content.decode()
    assert response.status_code == 200
    assert "member@example.com" in html and "admin@example.com" in html and "owner@example.com" in html
    assert "newcomer@example.com" in html
    assert html.count('data-testid="invitation-row"') == 1
    assert html.count('data-testid="user-row"') == 3
    row = re.search(
        r'<tr class="hover-row" data-testid="user-row">\s*<td>member</td>.*?</tr>', html, re.S
    ).group(0)
    assert "Active" in row and "Researchers" in row
    admin_row = re.search(
        r'<tr class="hover-row" data-testid="user-row">\s*<td>admin</td>.*?</tr>', html, re.S
    )
    assert "Admins" in admin_row.group(0)
    pending = re.search(r'data-testid="invitation-row">.*?</tr>', html, re.S).group(0)
    assert "Pending" in pending and invitation.created_at.strftime("%Y-%m-%d") in pending
    # The owner cannot be removed: no trash on their row.
    owner_row = re.search(r'data-testid="user-row">\s*<td>owner.*?</tr>', html, re.S).group(0)
    assert "member-remove" not in owner_row and "/remove/" not in owner_row
    assert 'href="/w/team/users/"' in html or url("user-list", workspace) in html


def test_sidebar_links_users_and_groups_for_admins_only(client, owner, member, workspace):
    client.force_login(owner)
    client.get(url("user-list", workspace))
    html = client.get(reverse("accounts:profile")).content.decode()
    assert url("user-list", workspace) in html and "Users &amp; Groups" in html
    # A plain member of the team sees no administrator section for it (only for their personal workspace).
    client.force_login(member)
    client.get(url("user-list", workspace))
    html = client.get(reverse("accounts:profile")).content.decode()
    assert url("user-list", workspace) not in html


def test_user_table_shows_n_of_m_when_the_workspace_has_a_limit(client, owner, workspace):
    workspace.max_members = 5
    workspace.save()
    client.force_login(owner)
    html = client.get(url("user-list", workspace)).content.decode()
    assert "3 of 5" in html
    workspace.max_members = 3
    workspace.save()
    html = client.get(url("user-list", workspace)).content.decode()
    assert "3 of 3" in html and "Limit reached" in html


def test_user_filter_is_server_side_and_htmx_returns_the_table_only(client, owner, workspace, invitation):
    client.force_login(owner)
    response = client.get(url("user-list", workspace), {"q": "newcomer"}, headers=HX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="user-table"') and "<html" not in html
    assert "newcomer@example.com" in html and "member@example.com" not in html
    html = client.get(url("user-list", workspace), {"q": "MEMB"}).content.decode()
    assert "member@example.com" in html and "newcomer@example.com" not in html and "<html" in html
    html = client.get(url("user-list", workspace), {"q": "nobody-like-this"}).content.decode()
    assert "No user matches" in html


def test_user_table_paginates(client, owner, workspace, django_user_model):
    from access.views.users import USERS_PAGE_SIZE

    users = django_user_model.objects.bulk_create(
        [
            django_user_model(email=f"bulk{i:03}@example.com", username=f"bulk{i:03}")
            for i in range(USERS_PAGE_SIZE + 5)
        ]
    )
    Membership.objects.bulk_create([Membership(workspace=workspace, user=u) for u in users])
    client.force_login(owner)
    first = client.get(url("user-list", workspace)).content.decode()
    second = client.get(url("user-list", workspace), {"page": 2}).content.decode()
    assert first.count('data-testid="user-row"') == USERS_PAGE_SIZE
    assert second.count('data-testid="user-row"') == 8  # 55 + owner, member, admin = 58 rows
    assert "Page 2 of 2" in second
    assert "bulk000@example.com" in first and "bulk000@example.com" not in second


def test_users_and_groups_pages_run_the_same_queries_at_10_000_members(
    client, owner, workspace, django_user_model, custom_group
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def add_members(start: int, n: int) -> None:
        users = django_user_model.objects.bulk_create(
            [
                django_user_model(email=f"m{i:05}@example.com", username=f"m{i:05}")
                for i in range(start, start + n)
            ],
            batch_size=2000,
        )
        Membership.objects.bulk_create(
            [Membership(workspace=workspace, user=u) for u in users], batch_size=2000
        )
        GroupMembership.objects.bulk_create(
            [GroupMembership(group=custom_group, user=u) for u in users[:100]]
        )

    pages = [
        (url("user-list", workspace), {}, {}),
        (url("user-list", workspace), {"q": "m0", "page": 3}, HX),
        (url("group-list", workspace), {}, {}),
        (url("group-member-search", workspace), {"search": "m00"}, HX),
    ]

    def counts() -> list[int]:
        result = []
        for path, params, headers in pages:
            with CaptureQueriesContext(connection) as queries:
                assert client.get(path, params, headers=headers).status_code == 200
            result.append(len(queries))
        return result

    client.force_login(owner)
    client.get(url("user-list", workspace))  # the session's current workspace is set once
    add_members(0, 10)
    small = counts()
    add_members(10, 10_000)
    large = counts()
    assert small == large
    assert max(large) <= 12
    html = client.get(url("user-list", workspace)).content.decode()
    assert "10013</strong> members" in html


# --- Invitations -------------------------------------------------------------------------------------


# The one invitation flow of the portal (workspaces/views/invitations.py), used from this page:
# tests/workspaces/test_invitation_views.py tests it from the Workspace page.


def ws_url(name, workspace, *args, next_url=""):
    path = reverse(f"workspaces:{name}", args=[workspace.slug, *args])
    return f"{path}?next={next_url}" if next_url else path


def test_the_invite_button_opens_the_one_invitation_dialog(client, owner, workspace):
    client.force_login(owner)
    html = client.get(url("user-list", workspace)).content.decode()
    assert f'hx-get="{ws_url("invitation-create", workspace)}?next={url("user-list", workspace)}"' in html


def test_invite_with_htmx_shows_the_link_and_refreshes_the_table(
    client, owner, workspace, mailoutbox, django_capture_on_commit_callbacks
):
    client.force_login(owner)
    users = url("user-list", workspace)
    dialog = client.get(ws_url("invitation-create", workspace, next_url=users), headers=HX).content.decode()
    assert 'id="invite-form"' in dialog and "<html" not in dialog
    assert f'name="next" value="{users}"' in dialog
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            ws_url("invitation-create", workspace),
            {"emails": "Ada@Example.com", "role": Role.MEMBER, "next": users},
            headers=HX,
        )
    html = response.content.decode()
    assert response.status_code == 200
    assert response["HX-Retarget"] == "#modal-content"
    assert "members-changed" in response["HX-Trigger"]
    assert "ada@example.com" in html and "/invite/" in html
    # Opened from this page, Done closes the dialog (the table behind it is already fresh).
    assert f'href="{users}" data-close-modal>Done</a>' in html
    assert Invitation.objects.for_workspace(workspace).pending().filter(email="ada@example.com").exists()
    assert len(mailoutbox) == 1
    table = client.get(users, headers=HX).content.decode()
    assert "ada@example.com" in table and "Pending" in table


def test_invite_without_js_renders_the_link_page(client, owner, workspace):
    client.force_login(owner)
    response = client.post(
        ws_url("invitation-create", workspace), {"emails": "bo@example.com", "role": Role.MEMBER}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html and "bo@example.com" in html and "/invite/" in html


def test_invalid_invite_re_renders_the_form_with_422(client, owner, workspace, member):
    client.force_login(owner)
    response = client.post(
        ws_url("invitation-create", workspace), {"emails": "not-an-email", "role": Role.MEMBER}, headers=HX
    )
    assert response.status_code == 422 and 'aria-invalid="true"' in response.content.decode()
    response = client.post(
        ws_url("invitation-create", workspace), {"emails": member.email, "role": Role.MEMBER}
    )
    assert response.status_code == 422 and "already a member" in response.content.decode()
    assert not Invitation.objects.for_workspace(workspace).exists()


def test_invite_is_refused_when_the_workspace_is_full(client, owner, workspace):
    workspace.max_members = 3
    workspace.save()
    client.force_login(owner)
    response = client.post(
        ws_url("invitation-create", workspace), {"emails": "extra@example.com", "role": Role.MEMBER}
    )
    assert response.status_code == 422
    assert "room for 3 members" in response.content.decode()
    assert not Invitation.objects.for_workspace(workspace).exists()


def test_an_admin_cannot_invite_an_owner(client, admin_member, workspace):
    client.force_login(admin_member)
    response = client.post(
        ws_url("invitation-create", workspace), {"emails": "boss@example.com", "role": Role.OWNER}
    )
    assert response.status_code == 422
    assert not Invitation.objects.for_workspace(workspace).exists()


def test_resend_gives_a_fresh_link_and_revoke_ends_the_invitation(client, owner, workspace, invitation):
    client.force_login(owner)
    users = url("user-list", workspace)
    table = client.get(users, headers=HX).content.decode()
    assert f'name="next" value="{users}"' in table  # the row actions come back here without JS
    old_hash = invitation.token_hash
    response = client.post(ws_url("invitation-resend", workspace, invitation.pk), {"next": users}, headers=HX)
    assert response.status_code == 200 and "sent again" in response.content.decode()
    invitation.refresh_from_db()
    assert invitation.token_hash != old_hash
    confirm = client.get(ws_url("invitation-revoke", workspace, invitation.pk, next_url=users), headers=HX)
    assert 'id="confirm-form"' in confirm.content.decode()
    response = client.post(ws_url("invitation-revoke", workspace, invitation.pk), {"next": users})
    assert response.status_code == 302 and response["Location"] == users
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    assert client.post(ws_url("invitation-revoke", workspace, invitation.pk)).status_code == 404


def test_invitations_of_another_workspace_are_not_found(client, owner, workspace, outsider):
    from workspaces import invitations
    from workspaces.selectors import personal_workspace_get

    other = personal_workspace_get(user=outsider)
    foreign = invitations.invitation_create(workspace=other, actor=outsider, email="z@example.com").invitation
    client.force_login(owner)
    assert client.post(ws_url("invitation-revoke", workspace, foreign.pk)).status_code == 404
    assert client.post(ws_url("invitation-resend", workspace, foreign.pk)).status_code == 404


def test_old_invitation_urls_redirect(client, owner, member, outsider, workspace, invitation):
    """The Users page's invitation URLs before the flow was one: bookmarks still lead there."""
    users = url("user-list", workspace)
    old_invite, old_revoke = url("user-invite", workspace), url("invitation-revoke", workspace, invitation.pk)
    client.force_login(owner)
    response = client.get(old_invite)
    assert response.status_code == 302 and response["Location"] == ws_url(
        "invitation-create", workspace, next_url=users
    )
    response = client.get(old_revoke)
    assert response.status_code == 302
    assert response["Location"] == ws_url("invitation-revoke", workspace, invitation.pk, next_url=users)
    assert client.post(old_revoke).status_code == 405  # a redirect never revokes
    invitation.refresh_from_db()
    assert invitation.revoked_at is None
    client.force_login(member)
    assert client.get(old_invite).status_code == 403
    client.force_login(outsider)
    assert client.get(old_invite).status_code == 404


# --- Removing users ---------------------------------------------------------------------------------


def test_remove_user_revokes_credentials_and_ends_access(client, owner, workspace, member, custom_group):
    from workspaces.credentials import credential_create

    credential, _ = credential_create(workspace=workspace, actor=member, label="laptop")
    client.force_login(member)
    assert client.get(reverse("accounts:profile")).status_code == 200
    other = client.__class__()
    other.force_login(owner)
    response = other.post(url("member-remove", workspace, member.pk), headers=HX)
    assert response.status_code == 200
    assert response["HX-Retarget"] == "#user-table"
    assert "member@example.com" not in response.content.decode()
    assert not Membership.objects.filter(workspace=workspace, user=member).exists()
    credential.refresh_from_db()
    assert credential.revoked_at is not None
    assert not GroupMembership.objects.filter(group=custom_group, user=member).exists()
    assert AuditEvent.objects.filter(action="member.remove", target_label=member.email).exists()
    # Their session there ends: the workspace is now a 404 for them.
    from workspaces.scoping import membership_get

    with pytest.raises(Exception):  # noqa: B017
        membership_get(user=member, workspace_slug=workspace.slug)


def test_the_owner_cannot_be_removed(client, admin_member, workspace, owner):
    client.force_login(admin_member)
    response = client.post(url("member-remove", workspace, owner.pk), headers=HX)
    assert response.status_code == 422
    assert "owner" in response.content.decode()
    assert Membership.objects.filter(workspace=workspace, user=owner).exists()
    response = client.post(url("member-remove", workspace, owner.pk))
    assert response.status_code == 302
    assert Membership.objects.filter(workspace=workspace, user=owner).exists()


def test_an_admin_removing_themselves_leaves_the_workspace(client, admin_member, workspace):
    client.force_login(admin_member)
    response = client.post(url("member-remove", workspace, admin_member.pk), headers=HX)
    assert response.status_code == 200 and response["HX-Redirect"] == reverse("accounts:profile")
    assert not Membership.objects.filter(workspace=workspace, user=admin_member).exists()
    assert client.get(url("user-list", workspace)).status_code == 404


def test_an_admin_leaving_admins_is_sent_away_from_the_admin_pages(client, admin_member, owner, workspace):
    admins = builtin_groups(workspace=workspace)[BuiltinGroup.ADMINS]
    client.force_login(admin_member)
    response = client.post(url("group-edit", workspace, admins.pk), {"name": "Admins", "members": [owner.pk]})
    assert response.status_code == 302 and response["Location"] == reverse("accounts:profile")
    assert Membership.objects.get(workspace=workspace, user=admin_member).role == Role.MEMBER
    assert client.get(url("group-list", workspace)).status_code == 403


def test_service_accounts_are_not_removed_as_users(client, owner, workspace, service_account):
    client.force_login(owner)
    assert client.post(url("member-remove", workspace, service_account.user_id)).status_code == 404


# --- Service accounts ---------------------------------------------------------------------------------


def test_create_service_account_shows_its_configuration_once(client, owner, workspace):
    client.force_login(owner)
    response = client.post(
        url("service-account-create", workspace), {"name": "Builder", "allow_impersonation": "on"}, headers=HX
    )
    html = unescape(response.content.decode())
    assert response.status_code == 200
    assert "service-accounts-changed" in response["HX-Trigger"]
    account = ServiceAccount.objects.for_workspace(workspace).get(name="Builder")
    assert account.allow_impersonation and account.user.is_service_account
    assert not account.user.has_usable_password()
    assert account.user.email == f"sa-{account.user.id.hex}@service.invalid"
    credential = Credential.objects.get(user=account.user)
    assert (
        "api {" in html and f'"access_key" = "{credential.access_key}"' in html and '"secret_key" = "' in html
    )
    secret = re.search(r'"secret_key" = "([^"]+)"', html).group(1)
    from workspaces.credentials import secret_matches

    assert secret_matches(credential, secret)
    # Never shown again.
    table = client.get(url("service-account-list", workspace)).content.decode()
    assert secret not in table and "Builder" in table and account.user.id.hex in table
    edit = client.get(url("service-account-edit", workspace, account.pk)).content.decode()
    assert secret not in edit and credential.access_key in edit


def test_service_account_table_columns(client, owner, workspace, service_account, custom_group):
    from access import services

    services.group_add_member(group=custom_group, actor=owner, user=service_account.user)
    client.force_login(owner)
    html = client.get(url("service-account-list", workspace)).content.decode()
    row = re.search(r'data-testid="service-account-row">.*?</tr>', html, re.S).group(0)
    assert "gpu-agents" in row and "Users" in row and "Researchers" in row
    assert service_account.user_id.hex in row and "<td>1</td>" in row and "Never" in row


def test_invalid_service_account_form_is_422_and_creates_nothing(client, owner, workspace, service_account):
    client.force_login(owner)
    response = client.post(url("service-account-create", workspace), {"name": ""}, headers=HX)
    assert response.status_code == 422 and response["HX-Retarget"] == "#modal-content"
    response = client.post(url("service-account-create", workspace), {"name": "GPU-Agents"})
    assert response.status_code == 422 and "already exists" in response.content.decode()
    response = client.post(url("service-account-create", workspace), {"name": "bad/name"})
    assert response.status_code == 422
    assert ServiceAccount.objects.for_workspace(workspace).count() == 1


def test_edit_service_account_rename_toggle_and_groups(
    client, owner, workspace, service_account, custom_group
):
    groups = builtin_groups(workspace=workspace)
    client.force_login(owner)
    response = client.post(
        url("service-account-edit", workspace, service_account.pk),
        {"name": "gpu-fleet", "groups": [custom_group.pk, groups[BuiltinGroup.QUEUE_ADMINS].pk]},
        headers=HX,
    )
    assert response.status_code == 200 and "Saved" in response.content.decode()
    service_account.refresh_from_db()
    assert service_account.name == "gpu-fleet" and not service_account.allow_impersonation
    assert service_account.user.username == "gpu-fleet"
    assert set(
        GroupMembership.objects.filter(user=service_account.user).values_list("group_id", flat=True)
    ) == {
        custom_group.pk,
        groups[BuiltinGroup.QUEUE_ADMINS].pk,
    }
    # Plain form: redirect back to the panel.
    response = client.post(
        url("service-account-edit", workspace, service_account.pk),
        {"name": "gpu-fleet", "allow_impersonation": "on", "groups": []},
    )
    assert response.status_code == 302
    service_account.refresh_from_db()
    assert service_account.allow_impersonation
    assert not GroupMembership.objects.filter(user=service_account.user).exists()


def test_edit_service_account_refuses_a_foreign_group(client, owner, workspace, service_account, outsider):
    from workspaces.selectors import personal_workspace_get

    foreign = builtin_groups(workspace=personal_workspace_get(user=outsider))[BuiltinGroup.QUEUE_ADMINS]
    client.force_login(owner)
    response = client.post(
        url("service-account-edit", workspace, service_account.pk),
        {"name": "x", "groups": [foreign.pk]},
        headers=HX,
    )
    assert response.status_code == 422
    service_account.refresh_from_db()
    assert service_account.name == "gpu-agents"


def test_create_and_revoke_service_account_credentials(client, owner, workspace, service_account):
    client.force_login(owner)
    response = client.post(
        url("service-account-credential-create", workspace, service_account.pk),
        {"label": "node-2"},
        headers=HX,
    )
    assert response.status_code == 200 and "node-2" in response.content.decode()
    assert Credential.objects.for_workspace(workspace).active().filter(user=service_account.user).count() == 2
    first = service_account.first_credential
    response = client.post(
        url("service-account-credential-revoke", workspace, service_account.pk, first.pk), headers=HX
    )
    assert response.status_code == 200
    first.refresh_from_db()
    assert first.revoked_at is not None
    assert first.access_key not in response.content.decode()


def test_credentials_of_other_users_cannot_be_revoked_through_a_service_account(
    client, owner, workspace, service_account, member
):
    from workspaces.credentials import credential_create

    credential, _ = credential_create(workspace=workspace, actor=member)
    client.force_login(owner)
    response = client.post(
        url("service-account-credential-revoke", workspace, service_account.pk, credential.pk)
    )
    assert response.status_code == 404
    credential.refresh_from_db()
    assert credential.revoked_at is None


def test_delete_service_account_revokes_everything(client, owner, workspace, service_account):
    client.force_login(owner)
    response = client.post(url("service-account-delete", workspace, service_account.pk), headers=HX)
    assert response.status_code == 200 and response["HX-Retarget"] == "#service-account-table"
    assert not ServiceAccount.objects.filter(pk=service_account.pk).exists()
    user = service_account.user
    user.refresh_from_db()
    assert not user.is_active
    assert not Membership.objects.filter(user=user).exists()
    assert not Credential.objects.filter(user=user, revoked_at__isnull=True).exists()
    assert AuditEvent.objects.filter(action="service_account.delete").exists()


def test_service_accounts_of_another_workspace_are_not_found(client, owner, workspace, outsider):
    from access import services
    from workspaces.selectors import personal_workspace_get

    other = personal_workspace_get(user=outsider)
    foreign, _, _ = services.service_account_create(workspace=other, actor=outsider, name="theirs")
    client.force_login(owner)
    for name in ["service-account-edit", "service-account-delete"]:
        assert client.get(url(name, workspace, foreign.pk)).status_code == 404
        assert client.post(url(name, workspace, foreign.pk), {"name": "x"}).status_code == 404
    assert ServiceAccount.objects.filter(pk=foreign.pk, name="theirs").exists()


# --- Groups --------------------------------------------------------------------------------------


def test_group_table_lists_builtins_first_with_members(
    client, owner, workspace, custom_group, service_account
):
    client.force_login(owner)
    html = client.get(url("group-list", workspace)).content.decode()
    names = re.findall(r'data-testid="group-row">\s*<td><strong>([^<]+)</strong>', html)
    assert names == ["Users", "Admins", "Queue admins", "Researchers"]
    rows = dict(zip(names, re.findall(r'data-testid="group-row">.*?</tr>', html, re.S), strict=True))
    assert '<span class="member-total">4</span>' in rows["Users"]  # owner, member, admin, service account
    assert '<span class="member-total">2</span>' in rows["Admins"] and "owner" in rows["Admins"]
    assert '<span class="member-total">1</span>' in rows["Researchers"] and "member" in rows["Researchers"]
    assert "group-delete" not in rows["Users"] and "/delete/" not in rows["Admins"]
    assert "/delete/" in rows["Researchers"] and f">{custom_group.pk}</code>" in rows["Researchers"]
    assert "/edit" not in rows["Users"] and f"/groups/{rows and custom_group.pk}/" in rows["Researchers"]


def test_create_group_with_members_through_the_picker_steps(
    client, owner, workspace, member, service_account
):
    client.force_login(owner)
    create = url("group-create", workspace)
    # Search (no JS: the Search button), then add two members one at a time, remove one, save.
    step = client.post(create, {"name": "Vision", "find": "1", "search": "gpu"})
    assert step.status_code == 200 and 'data-testid="picker-option"' in step.content.decode()
    assert "gpu-agents" in step.content.decode() and "member@example.com" not in step.content.decode()
    step = client.post(create, {"name": "Vision", "add": str(service_account.user_id)}, headers=HX)
    html = step.content.decode()
    assert f'name="members" value="{service_account.user_id}"' in html and 'value="Vision"' in html
    step = client.post(
        create, {"name": "Vision", "members": [service_account.user_id], "add": str(member.pk)}, headers=HX
    )
    assert f'name="members" value="{member.pk}"' in step.content.decode()
    step = client.post(
        create,
        {
            "name": "Vision",
            "members": [service_account.user_id, member.pk],
            "remove": str(service_account.user_id),
        },
    )
    assert f'name="members" value="{service_account.user_id}"' not in step.content.decode()
    assert not UserGroup.objects.filter(name="Vision").exists()  # nothing saved while picking
    response = client.post(
        create, {"name": "Vision", "description": "CV team", "members": [member.pk], "save": "1"}, headers=HX
    )
    assert response.status_code == 200 and response["HX-Retarget"] == "#group-table"
    group = UserGroup.objects.for_workspace(workspace).get(name="Vision")
    assert group.description == "CV team"
    assert list(group.members.all()) == [member]
    assert AuditEvent.objects.filter(action="group.create", target_id=str(group.pk)).exists()


def test_member_search_filters_as_you_type(client, owner, workspace, member, service_account):
    client.force_login(owner)
    search = url("group-member-search", workspace)
    html = client.get(search, {"search": ""}, headers=HX).content.decode()
    assert html.lstrip().startswith("<li>") and "<html" not in html
    assert "member@example.com" in html and "gpu-agents" in html and "owner@example.com" in html
    html = client.get(search, {"search": "GPU"}, headers=HX).content.decode()
    assert "gpu-agents" in html and "member@example.com" not in html
    html = client.get(search, {"search": "", "members": [str(member.pk)]}, headers=HX).content.decode()
    assert "member@example.com" not in html


def test_member_search_never_lists_outsiders(client, owner, workspace, outsider):
    client.force_login(owner)
    html = client.get(url("group-member-search", workspace), {"search": "outsider"}).content.decode()
    assert "outsider" not in html.replace("“outsider”", "")


def test_group_with_a_foreign_member_is_refused(client, owner, workspace, outsider):
    client.force_login(owner)
    response = client.post(
        url("group-create", workspace), {"name": "Leaky", "members": [outsider.pk]}, headers=HX
    )
    assert response.status_code == 422
    assert "Members must be" in response.content.decode()
    assert not UserGroup.objects.filter(name="Leaky").exists()


def test_duplicate_group_name_is_a_field_error(client, owner, workspace, custom_group):
    client.force_login(owner)
    response = client.post(url("group-create", workspace), {"name": "researchers"})
    assert response.status_code == 422 and "already exists" in response.content.decode()
    response = client.post(url("group-create", workspace), {"name": "Admins"})
    assert response.status_code == 422


def test_edit_group_renames_and_changes_members(client, owner, workspace, custom_group, member, admin_member):
    client.force_login(owner)
    form = client.get(url("group-edit", workspace, custom_group.pk)).content.decode()
    assert 'value="Researchers"' in form and f'name="members" value="{member.pk}"' in form
    response = client.post(
        url("group-edit", workspace, custom_group.pk),
        {"name": "Research", "description": "", "members": [admin_member.pk]},
    )
    assert response.status_code == 302
    custom_group.refresh_from_db()
    assert custom_group.name == "Research" and list(custom_group.members.all()) == [admin_member]


def test_admins_group_edit_changes_roles_but_never_the_owner(client, owner, workspace, member, admin_member):
    admins = builtin_groups(workspace=workspace)[BuiltinGroup.ADMINS]
    client.force_login(owner)
    form = client.get(url("group-edit", workspace, admins.pk)).content.decode()
    assert "readonly" in form and f'value="{owner.pk}"' in form and f'value="{admin_member.pk}"' in form
    # The member owns their personal workspace: only the role *here* counts.
    assert f'name="members" value="{member.pk}"' not in form
    response = client.post(
        url("group-edit", workspace, admins.pk), {"name": "Admins", "members": [owner.pk, member.pk]}
    )
    assert response.status_code == 302
    assert Membership.objects.get(workspace=workspace, user=member).role == Role.ADMIN
    assert Membership.objects.get(workspace=workspace, user=admin_member).role == Role.MEMBER
    assert Membership.objects.get(workspace=workspace, user=owner).role == Role.OWNER
    response = client.post(
        url("group-edit", workspace, admins.pk), {"name": "Admins", "members": [member.pk]}
    )
    assert response.status_code == 422 and "owner is always" in response.content.decode()
    assert Membership.objects.get(workspace=workspace, user=owner).role == Role.OWNER
    response = client.post(url("group-edit", workspace, admins.pk), {"name": "Bosses", "members": [owner.pk]})
    assert response.status_code == 422
    admins.refresh_from_db()
    assert admins.name == "Admins"


def test_users_group_cannot_be_edited_or_deleted(client, owner, workspace):
    groups = builtin_groups(workspace=workspace)
    users, queue_admins = groups[BuiltinGroup.USERS], groups[BuiltinGroup.QUEUE_ADMINS]
    client.force_login(owner)
    assert client.get(url("group-edit", workspace, users.pk)).status_code == 302
    assert client.post(url("group-edit", workspace, users.pk), {"name": "Everyone"}).status_code == 302
    users.refresh_from_db()
    assert users.name == "Users"
    for group in (users, queue_admins):
        confirm = client.get(url("group-delete", workspace, group.pk), headers=HX).content.decode()
        assert "cannot be deleted" in confirm and 'type="submit"' not in confirm
        assert client.post(url("group-delete", workspace, group.pk), headers=HX).status_code == 422
        assert UserGroup.objects.filter(pk=group.pk).exists()


def test_delete_group_with_confirmation(client, owner, workspace, custom_group, member):
    client.force_login(owner)
    confirm = client.get(url("group-delete", workspace, custom_group.pk), headers=HX).content.decode()
    assert "lose the access privileges" in confirm
    response = client.post(url("group-delete", workspace, custom_group.pk), headers=HX)
    assert response.status_code == 200 and "Researchers" not in response.content.decode()
    assert not UserGroup.objects.filter(pk=custom_group.pk).exists()
    assert not GroupMembership.objects.filter(user=member).exists()


def test_groups_of_another_workspace_are_not_found(client, owner, workspace, outsider):
    from workspaces.selectors import personal_workspace_get

    foreign = builtin_groups(workspace=personal_workspace_get(user=outsider))[BuiltinGroup.QUEUE_ADMINS]
    client.force_login(owner)
    assert client.get(url("group-edit", workspace, foreign.pk)).status_code == 404
    assert client.post(url("group-delete", workspace, foreign.pk)).status_code == 404


def test_pages_carry_no_inline_script_or_style(client, owner, workspace, service_account, custom_group):
    client.force_login(owner)
    for name in [
        "user-list",
        "service-account-list",
        "group-list",
        "user-invite",
        "group-create",
        "service-account-create",
    ]:
        html = client.get(url(name, workspace)).content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), name
        assert " style=" not in html and "<style" not in html, name
        assert re.search(r' on[a-z]+="', html) is None, name
