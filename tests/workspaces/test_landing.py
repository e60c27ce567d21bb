"""Sign-in lands in the workspace used last, else the most active one, else the personal one.

The choice is stored in Membership.last_used_at, written when the session's current workspace
changes (a switch, or a page of another workspace), never once per request.
"""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from accounts.models import User
from settings_portal.management.commands.portal_demo import DEMO_ADMIN, DEMO_MEMBER_PASSWORD, DEMO_WORKSPACE
from settings_portal.management.commands.portal_demo import Command as DemoCommand
from tests.factories import UserFactory, make_workspace
from workspaces.audit import audit_log
from workspaces.models import Membership, Role, Workspace
from workspaces.selectors import landing_membership_get, personal_workspace_get

START = datetime(2030, 3, 2, 9, 0, 0, tzinfo=UTC)


def sign_in(client, email, password):
    response = client.post(reverse("accounts:login"), {"username": email, "password": password})
    assert response.status_code == 302, response.content.decode()[:500]


def current_workspace_id(client) -> str:
    return client.session["workspace_id"]


def test_sign_in_lands_in_the_workspace_used_last_and_remembers_a_switch(client, member, workspace, password):
    personal = personal_workspace_get(user=member)
    sign_in(client, member.email, password)
    # Never used anything yet: Team has the latest activity (member added after the personal one).
    assert current_workspace_id(client) == str(workspace.id)

    client.post(reverse("workspaces:workspace-switch", args=[personal.slug]))
    client.post(reverse("accounts:logout"))
    sign_in(client, member.email, password)
    assert current_workspace_id(client) == str(personal.id)

    # Visiting a page of another workspace makes it the current one, and the one used last.
    assert client.get(reverse("vaults:user-vault", args=[workspace.slug])).status_code == 200
    client.post(reverse("accounts:logout"))
    sign_in(client, member.email, password)
    assert current_workspace_id(client) == str(workspace.id)
    profile = client.get(reverse("accounts:profile")).content.decode()
    assert "Team (Member)" in profile


def test_last_used_is_written_on_a_change_of_workspace_not_per_request(client, member, workspace, password):
    personal = personal_workspace_get(user=member)
    page = reverse("vaults:user-vault", args=[personal.slug])
    with time_machine.travel(START, tick=False):
        sign_in(client, member.email, password)  # lands in Team: landing writes nothing
        assert not Membership.objects.filter(user=member, last_used_at__isnull=False).exists()
        client.get(page)  # to the personal workspace: one write
    used = Membership.objects.get(user=member, workspace=personal)
    assert used.last_used_at == START
    with time_machine.travel(START + timedelta(minutes=30), tick=False):
        for _ in range(3):
            assert client.get(page).status_code == 200
    used.refresh_from_db()
    assert used.last_used_at == START  # same workspace again: no write
    assert Membership.objects.get(user=member, workspace=workspace).last_used_at is None


def test_without_a_last_used_workspace_the_most_recent_activity_wins(db):
    with time_machine.travel(START, tick=False):
        user = UserFactory()
        boss = UserFactory()
        quiet = make_workspace(owner=boss, name="Quiet", members={user: Role.MEMBER})
    with time_machine.travel(START + timedelta(days=1), tick=False):
        busy = make_workspace(owner=boss, name="Busy", members={user: Role.MEMBER})
    assert landing_membership_get(user=user).workspace == busy

    # Later activity in Quiet: an administrative change ...
    with time_machine.travel(START + timedelta(days=2), tick=False):
        audit_log(actor=boss, action="workspace.rename", workspace=quiet, target=quiet)
    assert landing_membership_get(user=user).workspace == quiet
    # ... or a member active there.
    Membership.objects.filter(workspace=busy, user=boss).update(last_active=START + timedelta(days=3))
    assert landing_membership_get(user=user).workspace == busy

    # Once a workspace was used, it wins over any activity elsewhere.
    Membership.objects.filter(workspace=quiet, user=user).update(last_used_at=START)
    assert landing_membership_get(user=user).workspace == quiet


def test_a_user_with_only_a_personal_workspace_lands_there(db):
    user = UserFactory()
    assert landing_membership_get(user=user).workspace == personal_workspace_get(user=user)


def test_a_workspace_left_is_never_landed_in(client, member, workspace, password):
    Membership.objects.filter(workspace=workspace, user=member).update(last_used_at=START)
    Membership.objects.filter(workspace=workspace, user=member).delete()
    sign_in(client, member.email, password)
    assert current_workspace_id(client) == str(personal_workspace_get(user=member).id)


@pytest.mark.parametrize("email", [DEMO_ADMIN[0], "alice@example.com"])
def test_the_demo_lands_in_demo_lab(client, db, email):
    DemoCommand().load()
    password = DEMO_ADMIN[1] if email == DEMO_ADMIN[0] else DEMO_MEMBER_PASSWORD
    sign_in(client, email, password)
    demo_lab = Workspace.objects.get(name=DEMO_WORKSPACE)
    assert current_workspace_id(client) == str(demo_lab.id)
    assert User.objects.get(email=email).memberships.count() == 2  # the personal one was passed over
