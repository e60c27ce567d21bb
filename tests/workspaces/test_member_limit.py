"""The member limit: set by ops (`portal_workspaces set-limit`) or by the owner in Users & Groups
("N of M" members); never below the seats in use; every change audited."""

import datetime as dt
import json
from io import StringIO

import pytest
from django.core.management import call_command, execute_from_command_line
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone

from workspaces.invitations import invitation_create
from workspaces.middleware import ACTIVITY_SESSION_KEY
from workspaces.models import AuditEvent, Membership, Workspace

HX = {"HX-Request": "true"}


def run(*args) -> str:
    out = StringIO()
    call_command("portal_workspaces", *args, stdout=out)
    return out.getvalue()


def limit_url(workspace):
    return reverse("workspaces:member-limit", args=[workspace.slug])


def users_url(workspace):
    return reverse("access:user-list", args=[workspace.slug])


# --- The command ----------------------------------------------------------------------------------


def test_set_limit_and_clear_it(workspace):
    out = run("set-limit", "--workspace", workspace.slug, "--max-members", "5")
    assert out.strip() == "Workspace team: member limit 5 (3 of 5 seats in use)"
    workspace.refresh_from_db()
    assert workspace.max_members == 5
    event = AuditEvent.objects.get(action="workspace.member_limit")
    assert (event.before, event.after, event.actor_label) == (
        {"max_members": None},
        {"max_members": 5},
        "system",
    )
    out = run("set-limit", "--workspace", workspace.slug, "--max-members", "none")
    assert out.strip() == "Workspace team has no member limit now (3 seats in use)"
    workspace.refresh_from_db()
    assert workspace.max_members is None
    assert AuditEvent.objects.filter(action="workspace.member_limit").count() == 2


def test_set_limit_json(workspace):
    data = json.loads(run("set-limit", "--workspace", workspace.slug, "--max-members", "4", "--json"))
    assert data["slug"] == "team" and data["max_members"] == 4 and data["members"] == 3


def test_the_same_limit_again_changes_nothing(workspace):
    run("set-limit", "--workspace", workspace.slug, "--max-members", "5")
    run("set-limit", "--workspace", workspace.slug, "--max-members", "5")
    assert AuditEvent.objects.filter(action="workspace.member_limit").count() == 1


@pytest.mark.parametrize(
    "value,message",
    [
        ("2", r"Team uses 3 seats \(3 members\): the limit cannot be below 3"),
        ("0", "at least 1"),
        ("-4", "at least 1"),
        ("lots", "whole number or 'none'"),
        ("1000001", "at most 100000"),
    ],
)
def test_refusals_change_nothing(workspace, value, message):
    with pytest.raises(CommandError, match=message):
        run("set-limit", "--workspace", workspace.slug, "--max-members", value)
    workspace.refresh_from_db()
    assert workspace.max_members is None
    assert not AuditEvent.objects.filter(action="workspace.member_limit").exists()


def test_pending_invitations_count_as_seats(workspace, owner):
    invitation_create(workspace=workspace, actor=owner, email="new@example.com")
    with pytest.raises(CommandError, match=r"uses 4 seats \(3 members and 1 pending invitation\)"):
        run("set-limit", "--workspace", workspace.slug, "--max-members", "3")
    assert "4 of 4 seats" in run("set-limit", "--workspace", workspace.slug, "--max-members", "4")


def test_unknown_workspace(db):
    with pytest.raises(CommandError, match="No workspace"):
        run("set-limit", "--workspace", "nope", "--max-members", "3")


def test_errors_exit_non_zero(workspace, capsys):
    """As run from a shell (manage.py): a refusal exits 1 with its reason on stderr."""
    with pytest.raises(SystemExit) as exit_:
        execute_from_command_line(
            ["manage.py", "portal_workspaces", "set-limit", "--workspace", "team", "--max-members", "1"]
        )
    assert exit_.value.code == 1
    assert "the limit cannot be below 3" in capsys.readouterr().err


# --- The page -----------------------------------------------------------------------------------


def test_users_table_shows_n_of_m_and_the_owner_can_change_it(client, owner, workspace):
    Workspace.objects.filter(pk=workspace.pk).update(max_members=5)
    client.force_login(owner)
    html = client.get(users_url(workspace)).content.decode()
    assert "<strong>3 of 5</strong> members" in html
    assert 'data-testid="member-limit-edit"' in html and "Change limit" in html


def test_admins_who_are_not_owners_read_it_only(client, admin_member, workspace):
    Workspace.objects.filter(pk=workspace.pk).update(max_members=5)
    client.force_login(admin_member)
    html = client.get(users_url(workspace)).content.decode()
    assert "<strong>3 of 5</strong> members" in html
    assert "member-limit-edit" not in html and "Only the owner can change the limit." in html
    assert client.get(limit_url(workspace)).status_code == 403
    assert client.post(limit_url(workspace), {"max_members": "9"}).status_code == 403
    workspace.refresh_from_db()
    assert workspace.max_members == 5


def test_owner_sets_the_limit_in_a_dialog(client, owner, workspace):
    client.force_login(owner)
    dialog = client.get(limit_url(workspace), {"next": users_url(workspace)}, headers=HX).content.decode()
    assert "<html" not in dialog and 'id="limit-form"' in dialog and "3 seats in use" in dialog
    response = client.post(
        limit_url(workspace), {"max_members": "6", "next": users_url(workspace)}, headers=HX
    )
    assert response.status_code == 204
    assert "members-changed" in response["HX-Trigger"] and "closeModal" in response["HX-Trigger"]
    workspace.refresh_from_db()
    assert workspace.max_members == 6
    event = AuditEvent.objects.get(action="workspace.member_limit")
    assert event.actor == owner and event.after == {"max_members": 6}
    assert "<strong>3 of 6</strong>" in client.get(users_url(workspace)).content.decode()


def test_owner_clears_the_limit_without_javascript(client, owner, workspace):
    Workspace.objects.filter(pk=workspace.pk).update(max_members=5)
    client.force_login(owner)
    response = client.post(
        limit_url(workspace), {"max_members": "", "next": users_url(workspace)}, follow=True
    )
    assert response.redirect_chain[-1][0] == users_url(workspace)
    html = response.content.decode()
    assert "The member limit was removed." in html and "<strong>3</strong> members" in html


@pytest.mark.parametrize(
    "value,error", [("2", "cannot be below 3"), ("0", "greater than or equal to 1"), ("x", "whole number")]
)
def test_owner_gets_the_refusal_in_the_dialog(client, owner, workspace, value, error):
    client.force_login(owner)
    response = client.post(limit_url(workspace), {"max_members": value}, headers=HX)
    assert response.status_code == 422
    assert response["HX-Retarget"] == "#modal-content"
    assert error in response.content.decode()
    workspace.refresh_from_db()
    assert workspace.max_members is None


def test_outsider_and_member(client, member, outsider, workspace):
    client.force_login(member)
    assert client.get(limit_url(workspace)).status_code == 403
    client.force_login(outsider)
    assert client.get(limit_url(workspace)).status_code == 404


def _row(html: str, email: str) -> str:
    return next(r for r in html.split('data-testid="user-row"')[1:] if email in r).split("</tr>")[0]


def test_last_active_shows_real_times(client, owner, member, admin_member, workspace):
    """Last active reads the membership's stamp through |when (relative, exact time on hover), and
    browsing the workspace sets the stamp (workspaces.middleware.ActivityMiddleware)."""
    Membership.objects.filter(workspace=workspace, user=member).update(
        last_active=timezone.now() - dt.timedelta(hours=3)
    )
    Membership.objects.filter(workspace=workspace, user=admin_member).update(last_active=None)
    client.force_login(admin_member)
    session = client.session
    session[ACTIVITY_SESSION_KEY] = 0  # the throttle window is over
    session.save()
    assert client.get(users_url(workspace)).status_code == 200
    client.force_login(owner)
    html = client.get(users_url(workspace)).content.decode()
    member_row, admin_row = _row(html, "member@example.com"), _row(html, "admin@example.com")
    assert "<time datetime=" in member_row and "3\xa0hours ago" in member_row and 'title="20' in member_row
    assert "<time datetime=" in admin_row and "just now" in admin_row
    Membership.objects.filter(workspace=workspace, user=member).update(last_active=None)
    html = client.get(users_url(workspace)).content.decode()
    assert "Never" in _row(html, "member@example.com")
