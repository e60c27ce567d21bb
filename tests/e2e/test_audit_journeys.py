"""Browser journeys of issue 14 items 7, 9 and 11: the readable audit log (filter, download CSV),
the member limit set by the owner ("N of M"), and renaming the workspace renames the top bar."""

import csv
import io
import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import sign_in
from tests.factories import UserFactory, make_workspace
from workspaces.audit import audit_log
from workspaces.models import Role, Workspace

pytestmark = pytest.mark.e2e

SHOTS = Path(os.environ.get("PORTAL_SHOTS", "/tmp/shots-ui-audit"))


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def team(transactional_db):
    owner = UserFactory(email="boss@example.com", username="boss")
    admin = UserFactory(email="ada@example.com", username="ada")
    workspace = make_workspace(owner=owner, name="Team", members={admin: Role.ADMIN})
    return workspace, owner, admin


def current_workspace(page: Page, base: str, workspace) -> None:
    """Make WORKSPACE the current one (its pages do) and wait for the top bar to name it."""
    page.goto(f"{base}/w/{workspace.slug}/users/")
    expect(page.locator("#topbar-workspace")).to_have_text(workspace.name)


def rename_workspace(page: Page, base: str, workspace, name: str) -> None:
    page.goto(f"{base}/settings/workspace/?open={workspace.slug}")
    field = page.locator(f"#workspace-name-{workspace.slug}")
    field.hover()
    field.get_by_role("link", name="Edit workspace name").click()
    box = page.get_by_role("textbox", name="Workspace name")
    box.fill(name)
    page.get_by_role("button", name="Save workspace name").click()
    expect(field.get_by_test_id("workspace-name")).to_have_text(name)


def test_rename_renames_the_top_bar_at_once(page: Page, live_server, team):
    workspace, owner, _ = team
    base = live_server.url
    sign_in(page, base, owner.email)
    current_workspace(page, base, workspace)
    rename_workspace(page, base, workspace, "Research Lab")
    url = page.url
    expect(page.locator("#topbar-workspace")).to_have_text("Research Lab")  # no reload
    assert page.url == url
    shot(page, "rename-topbar")
    page.reload()
    expect(page.locator("#topbar-workspace")).to_have_text("Research Lab")


def test_filter_the_audit_log_and_download_csv(page: Page, live_server, team):
    workspace, owner, admin = team
    base = live_server.url
    audit_log(actor=admin, action="credential.create", workspace=workspace, target_label="laptop key")
    audit_log(
        actor=admin,
        action="group.create",
        workspace=workspace,
        target_label="=cmd|'/c calc'!A1",
        after={"name": "=cmd|'/c calc'!A1"},
    )
    sign_in(page, base, owner.email)
    current_workspace(page, base, workspace)
    rename_workspace(page, base, workspace, "Audited")

    page.get_by_role("link", name="Audit Log").click()
    expect(page.locator("h1")).to_have_text("Audit log")
    rows = page.get_by_test_id("audit-row")
    expect(rows.first).to_contain_text("Renamed the workspace")
    expect(rows.first).to_contain_text("Name: Team → Audited")
    expect(rows.first).to_contain_text("boss@example.com")
    # Dates are the portal's: relative, the exact time on hover.
    expect(rows.first.locator("time")).to_have_attribute(
        "title", __import__("re").compile(r"\d{4}-\d\d-\d\d")
    )
    shot(page, "audit-log")

    # Filter by action (htmx swaps the table and keeps the URL), then by actor.
    page.get_by_label("Action").select_option(label="Created a credential")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("laptop key")
    assert "action=credential.create" in page.url
    page.get_by_label("Action").select_option(label="All actions")
    page.get_by_label("Actor").fill("ada@")
    expect(rows).to_have_count(2)
    expect(page.locator("#audit-table")).not_to_contain_text("Renamed the workspace")
    # A date range: from tomorrow matches nothing; from today matches again.
    today = page.evaluate("new Date().toLocaleDateString('en-CA')")
    page.get_by_label("From").fill("2099-01-01")
    expect(page.locator("#audit-table")).to_contain_text("No events match these filters.")
    page.get_by_label("From").fill(today)
    expect(rows).to_have_count(2)
    shot(page, "audit-log-filtered")

    with page.expect_download() as info:
        page.get_by_test_id("audit-export").click()
    download = info.value
    assert download.suggested_filename.startswith(f"audit-{workspace.slug}-")
    text = Path(download.path()).read_text(encoding="utf-8-sig")
    exported = list(csv.DictReader(io.StringIO(text)))
    assert {row["action"] for row in exported} == {"credential.create", "group.create"}  # the filters
    evil = next(row for row in exported if row["action"] == "group.create")
    assert evil["object"].startswith("'=")  # a spreadsheet shows it as text, never runs it
    assert evil["changes"] == "Name: =cmd|'/c calc'!A1"


def test_owner_sets_the_member_limit_and_sees_n_of_m(page: Page, live_server, team, browser):
    workspace, owner, admin = team
    base = live_server.url
    sign_in(page, base, owner.email)
    page.goto(f"{base}/w/{workspace.slug}/users/")
    count = page.get_by_test_id("member-count")
    expect(count).to_contain_text("2 members")
    # Last active: a real time (relative, the exact one on hover), never "Never" for who is browsing.
    me = page.get_by_test_id("user-row").filter(has_text="boss@example.com")
    expect(me.locator("time")).to_have_text("just now")

    count.get_by_role("link", name="Set a limit").click()
    dialog = page.locator("dialog#modal")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("2 seats in use")
    dialog.get_by_label("Member limit").fill("1")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_contain_text("the limit cannot be below 2")
    shot(page, "member-limit-refused")
    dialog.get_by_label("Member limit").fill("5")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    expect(count).to_contain_text("2 of 5 members")  # the table refreshed itself
    assert Workspace.objects.get(pk=workspace.pk).max_members == 5
    shot(page, "member-limit-set")

    # An admin who is not the owner reads the limit, and cannot change it.
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    try:
        other = context.new_page()
        sign_in(other, base, admin.email)
        other.goto(f"{base}/w/{workspace.slug}/users/")
        admin_count = other.get_by_test_id("member-count")
        expect(admin_count).to_contain_text("2 of 5 members")
        expect(admin_count).to_contain_text("Only the owner can change the limit.")
        expect(admin_count.get_by_role("link")).to_have_count(0)
        shot(other, "member-limit-admin-readonly")
    finally:
        context.close()


def test_audit_log_fits_a_phone(page: Page, live_server, team):
    workspace, owner, admin = team
    audit_log(
        actor=admin,
        action="vault.update",
        workspace=workspace,
        target_label="a rather long vault name for a narrow screen",
        before={"content_keys": ["sdk.aws.s3.region", "sdk.aws.s3.key"]},
        after={"content_keys": ["sdk.aws.s3.region", "sdk.aws.s3.key", "sdk.aws.s3.secret"]},
    )
    sign_in(page, live_server.url, owner.email)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/w/{workspace.slug}/audit/")
    expect(page.get_by_test_id("audit-row").first).to_contain_text("Changed a vault")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    shot(page, "audit-log-390")
    assert overflow <= 0, f"the page is {overflow}px wider than the phone"
