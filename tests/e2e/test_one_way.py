"""One way for each gesture, in a real browser (issue 14, item 6): the portal's own confirmation
dialog (the browser's confirm() never opens), one row-action style, one date format, and one invite
dialog that takes several emails at once, each checked. Screenshots go to $PORTAL_SHOTS (if set)."""

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from resources.demo import load_resources_demo
from tests.factories import UserFactory, make_workspace
from vaults.services import group_vault_create
from workspaces.credentials import credential_create
from workspaces.invitations import invitation_create
from workspaces.models import Invitation, Role

from .conftest import sign_in

pytestmark = pytest.mark.e2e

SHOTS = os.environ.get("PORTAL_SHOTS", "")


def shot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{SHOTS}/{name}.png", full_page=False)


@pytest.fixture
def lab(transactional_db, live_server, settings):
    settings.PORTAL_BASE_URL = live_server.url
    owner = UserFactory(email="lead@example.com", username="lead")
    member = UserFactory(email="mia@example.com", username="mia")
    workspace = make_workspace(owner=owner, name="Vision Lab", members={member: Role.MEMBER})
    return workspace, owner, member


@pytest.fixture
def no_browser_dialogs(page: Page):
    """Fail on any confirm()/alert(): every question is the portal's own dialog."""
    opened: list[str] = []
    page.on("dialog", lambda dialog: (opened.append(dialog.message), dialog.dismiss()))
    yield
    assert not opened, f"the browser's own dialog opened: {opened}"


def test_destructive_actions_ask_in_the_portals_dialog(page: Page, live_server, lab, no_browser_dialogs):
    workspace, owner, member = lab
    from access.selectors import builtin_groups

    users = builtin_groups(workspace=workspace)["users"]
    group_vault_create(
        workspace=workspace, actor=owner, name="Storage", group=users, fmt="hocon", content="sdk { a: 1 }"
    )
    load_resources_demo(workspace=workspace, admin=owner, members={"Dev": [member]})
    sign_in(page, live_server.url, owner.email)
    dialog = page.locator("dialog#modal")

    # A vault: the row's Delete asks first; Cancel keeps it, Delete deletes it.
    page.goto(f"{live_server.url}/w/{workspace.slug}/vaults/")
    row = page.locator("tr", has_text="Storage")
    row.hover()
    shot(page, "row-actions-vaults")
    row.get_by_role("link", name="Delete Storage").click()
    expect(dialog.get_by_role("heading", name="Delete vault")).to_be_visible()
    expect(dialog).to_contain_text("Its settings stop applying")
    shot(page, "confirm-vault-delete")
    dialog.get_by_role("link", name="Cancel").click()
    expect(dialog).to_be_hidden()
    row.hover()
    row.get_by_role("link", name="Delete Storage").click()
    dialog.get_by_role("button", name="Delete").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("tr", has_text="Storage")).to_have_count(0)

    # The resource editor: deleting a pool, then Reset Configuration.
    page.goto(f"{live_server.url}/w/{workspace.slug}/resources/editor/")
    pools = page.locator("[data-testid=pool-card]")
    count = pools.count()
    name = pools.first.locator("h3").inner_text()
    pools.first.get_by_role("link", name=f"Delete pool {name}").click()
    expect(dialog.get_by_role("heading", name="Delete pool")).to_be_visible()
    shot(page, "confirm-pool-delete")
    dialog.get_by_role("button", name="Delete").click()
    expect(dialog).to_be_hidden()
    expect(pools).to_have_count(count - 1)
    page.get_by_role("link", name="Reset Configuration").click()
    expect(dialog.get_by_role("heading", name="Reset configuration")).to_be_visible()
    dialog.get_by_role("button", name="Reset configuration").click()
    expect(page.locator("#messages")).to_contain_text("Unprovisioned changes discarded")
    expect(pools).to_have_count(count)

    # A running job's Abort, on the policies page.
    page.goto(f"{live_server.url}/w/{workspace.slug}/resources/policies/")
    job = page.locator("[data-testid=job-row][data-state=running]").first
    job_name = job.locator("strong").inner_text()
    job.hover()
    job.get_by_role("link", name=f"Abort {job_name}").click()
    expect(dialog.get_by_role("heading", name="Abort job")).to_be_visible()
    dialog.get_by_role("button", name="Abort").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("[data-testid=job-row]", has_text=job_name)).to_have_count(0)


def test_row_actions_and_dates_look_one_way(page: Page, live_server, lab, no_browser_dialogs):
    workspace, owner, _member = lab
    credential_create(workspace=workspace, actor=owner, label="laptop")
    invitation_create(workspace=workspace, actor=owner, email="pending@example.com")
    sign_in(page, live_server.url, owner.email)

    for path in ("users/", "users/service-accounts/", "users/groups/", "vaults/"):
        page.goto(f"{live_server.url}/w/{workspace.slug}/{path}")
        actions = page.locator("td.row-actions .btn")
        for index in range(actions.count()):
            action = actions.nth(index)
            # One style: a small icon button named by its aria-label, with a tooltip.
            expect(action).to_have_class(re.compile(r"\bbtn-icon\b.*\brow-action\b"))
            expect(action).to_have_attribute("aria-label", re.compile(r"\w"))
            expect(action).to_have_attribute("title", re.compile(r"\w"))
            expect(action.locator("svg")).to_have_count(1)

    page.goto(f"{live_server.url}/w/{workspace.slug}/users/")
    row = page.locator("[data-testid=invitation-row]", has_text="pending@example.com")
    row.hover()
    shot(page, "row-actions-users")
    added = row.locator("time")
    expect(added).to_have_text("just now")
    expect(added).to_have_attribute("title", re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d UTC$"))

    page.goto(f"{live_server.url}/settings/workspace/?open={workspace.slug}")
    created = page.locator("tr", has_text="laptop").locator("time").first
    expect(created).to_have_text("just now")
    expect(created).to_have_attribute("datetime", re.compile(r"^\d{4}-\d\d-\d\dT"))
    shot(page, "dates-workspace")


@pytest.mark.parametrize("width", [1440, 390])
def test_one_invite_dialog_takes_several_emails(page: Page, live_server, lab, no_browser_dialogs, width):
    workspace, owner, _member = lab
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server.url, owner.email)
    dialog = page.locator("dialog#modal")

    # From the Workspace page.
    page.goto(f"{live_server.url}/settings/workspace/?open={workspace.slug}")
    page.locator(f"#workspace-{workspace.slug}").get_by_role("link", name="Invite users").click()
    emails = dialog.get_by_label("Email addresses")
    emails.fill("ada@example.com, not-an-email\ngrace@example.com, mia@example.com")
    dialog.get_by_role("button", name="Add").click()
    expect(dialog.locator(".error")).to_contain_text("“not-an-email” is not a valid email address.")
    shot(page, f"invite-errors-{width}")
    assert not Invitation.objects.exists()

    # Every address is checked: one already a member refuses the lot, and says which.
    emails = dialog.get_by_label("Email addresses")
    emails.fill("ada@example.com, grace@example.com, mia@example.com")
    dialog.get_by_role("button", name="Add").click()
    expect(dialog.locator(".error")).to_contain_text("mia@example.com is already a member of Vision Lab.")
    assert not Invitation.objects.exists()

    emails = dialog.get_by_label("Email addresses")
    emails.fill("ada@example.com,\ngrace@example.com")
    dialog.get_by_role("button", name="Add").click()
    expect(dialog.get_by_role("heading", name="2 invitations sent")).to_be_visible()
    expect(dialog.locator("[data-testid=invitation-link]")).to_have_count(2)
    shot(page, f"invite-links-{width}")
    # The members list behind the dialog already shows both as pending.
    expect(page.locator(f"#members-{workspace.slug} [data-testid=invitation-row]")).to_have_count(2)
    assert set(Invitation.objects.values_list("email", flat=True)) == {"ada@example.com", "grace@example.com"}

    # The same dialog from Users & Groups; Done closes it there.
    page.goto(f"{live_server.url}/w/{workspace.slug}/users/")
    page.get_by_role("link", name="+ Invite user").click()
    dialog.get_by_label("Email addresses").fill("alan@example.com")
    dialog.get_by_role("button", name="Add").click()
    expect(dialog.get_by_role("heading", name="Invitation sent")).to_be_visible()
    dialog.get_by_role("link", name="Done").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("[data-testid=invitation-row]")).to_have_count(3)
