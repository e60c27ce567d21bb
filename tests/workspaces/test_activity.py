"""“Last active”: recorded by ActivityMiddleware at most once per ACTIVITY_INTERVAL_SECONDS.

The clock is moved with time-machine: the bug these tests pin (every page answered 500
from the first page load after the interval, until the next sign-in) showed only once
the interval had passed since sign-in.
"""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from workspaces.middleware import ACTIVITY_INTERVAL_SECONDS
from workspaces.models import Membership

START = datetime(2030, 1, 6, 9, 0, 0, tzinfo=UTC)


def sign_in(client, user, password):
    response = client.post(reverse("accounts:login"), {"username": user.email, "password": password})
    assert response.status_code == 302, response.content.decode()[:500]


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def test_pages_stay_up_and_last_active_moves_after_the_interval(client, clock, member, workspace, password):
    sign_in(client, member, password)
    vault_page = reverse("vaults:user-vault", args=[workspace.slug])
    assert client.get(vault_page).status_code == 200  # also makes Team the current workspace
    member.refresh_from_db()
    assert member.last_active == START  # signing in is activity

    for elapsed in (
        ACTIVITY_INTERVAL_SECONDS - 18,
        ACTIVITY_INTERVAL_SECONDS + 2,
        2 * ACTIVITY_INTERVAL_SECONDS + 5,
    ):
        clock.move_to(START + timedelta(seconds=elapsed))
        response = client.get(vault_page)
        assert response.status_code == 200, (elapsed, response.status_code)

    member.refresh_from_db()
    membership = Membership.objects.get(workspace=workspace, user=member)
    assert member.last_active == START + timedelta(seconds=2 * ACTIVITY_INTERVAL_SECONDS + 5)
    assert membership.last_active == START + timedelta(seconds=2 * ACTIVITY_INTERVAL_SECONDS + 5)


def test_activity_is_written_once_per_interval(client, clock, member, workspace, password):
    sign_in(client, member, password)
    page = reverse("vaults:user-vault", args=[workspace.slug])
    client.get(page)
    clock.move_to(START + timedelta(seconds=ACTIVITY_INTERVAL_SECONDS + 1))
    client.get(page)
    first = START + timedelta(seconds=ACTIVITY_INTERVAL_SECONDS + 1)
    clock.move_to(first + timedelta(seconds=ACTIVITY_INTERVAL_SECONDS - 1))
    assert client.get(page).status_code == 200
    member.refresh_from_db()
    assert member.last_active == first  # within the interval: no new write
    assert Membership.objects.get(workspace=workspace, user=member).last_active == first


def test_users_and_groups_shows_last_active_instead_of_never(
    client, clock, member, admin_member, workspace, password
):
    sign_in(client, member, password)
    page = reverse("vaults:user-vault", args=[workspace.slug])
    client.get(page)
    clock.move_to(START + timedelta(seconds=ACTIVITY_INTERVAL_SECONDS + 60))
    assert client.get(page).status_code == 200

    client.logout()
    client.force_login(admin_member)
    html = client.get(reverse("access:user-list", args=[workspace.slug])).content.decode()
    row = html[html.index("member@example.com") :]
    row = row[: row.index("</tr>")]
    assert "2030-01-06 09:06" in row and "Never" not in row


def test_signing_in_is_activity_in_the_workspace_landed_in(client, clock, member, workspace, password):
    """Users & Groups shows a user who has just signed in as active in the workspace they landed
    in at once, not "Never" until the interval is over."""
    Membership.objects.filter(workspace=workspace, user=member).update(last_used_at=START)  # lands in Team
    sign_in(client, member, password)
    assert client.session["workspace_id"] == str(workspace.id)
    assert Membership.objects.get(workspace=workspace, user=member).last_active == START
