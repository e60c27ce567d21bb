"""Resource Configuration in a real browser: open the editor, add a pool and a profile, connect
them by drag and drop, save, provision, add a policy, enqueue a job and see it running."""

import pytest
from playwright.sync_api import Page, expect

from access.models import GroupMembership, UserGroup
from resources.models import Job, JobState, Link, Pool
from tests.factories import UserFactory, make_workspace

from .conftest import sign_in

pytestmark = pytest.mark.e2e


def test_resource_configuration_journey(page: Page, live_server, transactional_db):
    admin = UserFactory(email="res-admin@example.com", username="resadmin")
    workspace = make_workspace(owner=admin, name="GPU Lab")
    team = UserGroup.objects.create(workspace=workspace, name="Team")
    GroupMembership.objects.create(group=team, user=admin)
    errors: list[str] = []
    page.on(
        "console",
        lambda msg: (
            errors.append(msg.text) if msg.type == "error" and "status of 422" not in msg.text else None
        ),
    )
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda dialog: dialog.accept())

    sign_in(page, live_server.url, admin.email)
    page.goto(f"{live_server.url}/w/{workspace.slug}/resources/")
    expect(page.locator(".workspace-chip")).to_have_text("GPU Lab")
    expect(page.locator("h1")).to_contain_text("Resource Configuration")
    page.get_by_role("switch", name="Enable resource management").check()
    expect(page.locator("#enable-toggle").get_by_role("status")).to_contain_text("On")

    # Open the editor; add a pool and a profile through their dialogs.
    page.get_by_role("link", name="Open Editor").click()
    expect(page.locator("h1")).to_contain_text("Editor")
    page.get_by_role("link", name="+ Add Pool").click()
    dialog = page.locator("#modal")
    expect(dialog.get_by_role("heading", name="Create Pool")).to_be_visible()
    dialog.get_by_label("Name").fill("GPU Pool")
    dialog.get_by_label("Number of resources").fill("8")
    dialog.get_by_role("button", name="Create").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_test_id("pool-card")).to_contain_text("GPU Pool")

    page.get_by_role("link", name="+ Add Profile").click()
    expect(dialog.get_by_role("heading", name="Create Profile")).to_be_visible()
    dialog.get_by_label("Name").fill("4xGPU")
    dialog.get_by_label("Resource allotment").fill("4")
    dialog.get_by_role("button", name="Create").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_test_id("profile-card")).to_contain_text("4 resources per job")

    # Connect: drag the profile's link handle onto the pool; the Connect Profile dialog opens.
    page.locator(".rc-link-handle").drag_to(page.get_by_test_id("pool-card"))
    expect(dialog.get_by_role("heading", name="Connect Profile")).to_be_visible()
    expect(dialog.get_by_label("Pool")).to_have_value(
        page.get_by_test_id("pool-card").get_attribute("data-pool")
    )
    dialog.get_by_label("Connection name").fill("4 GPU pool")
    dialog.get_by_role("button", name="Connect").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_test_id("profile-card")).to_contain_text("4 GPU pool")
    expect(page.locator("svg.rc-lines .rc-line")).to_have_count(1)
    expect(page.locator(".rc-status")).to_contain_text("Unsaved changes")
    assert not Pool.objects.exists()  # nothing applied before Provision

    # A second pool, connected with the plain dialog (the keyboard way); then reorder the
    # profile's pool precedence by dragging, and back with the keyboard's ▲ button.
    page.get_by_role("link", name="+ Add Pool").click()
    dialog.get_by_label("Name").fill("Spare Pool")
    dialog.get_by_label("Number of resources").fill("4")
    dialog.get_by_role("button", name="Create").click()
    expect(page.get_by_test_id("pool-card")).to_have_count(2)
    page.get_by_role("link", name="Connect a profile to a pool…").click()
    expect(dialog.get_by_role("heading", name="Connect Profile")).to_be_visible()
    dialog.get_by_label("Pool").select_option(label="Spare Pool")
    dialog.get_by_label("Connection name").fill("4 GPU spare")
    dialog.get_by_role("button", name="Connect").click()
    expect(dialog).to_be_hidden()
    links = page.get_by_test_id("profile-card").locator("ol[data-scope=profile] > li")
    expect(links).to_have_count(2)
    expect(links.nth(0)).to_contain_text("4 GPU pool")
    links.nth(1).drag_to(links.nth(0), target_position={"x": 20, "y": 2})
    expect(links.nth(0)).to_contain_text("4 GPU spare")
    links = page.get_by_test_id("profile-card").locator("ol[data-scope=profile] > li")
    links.nth(1).get_by_role("button", name="Move 4 GPU pool up").click()
    expect(links.nth(0)).to_contain_text("4 GPU pool")
    expect(page.locator("svg.rc-lines .rc-line")).to_have_count(2)
    expect(page.locator("[data-rc-view]")).to_be_hidden()  # two cards fit: no zoom buttons

    page.get_by_role("button", name="Save").click()
    expect(page.locator(".rc-status")).to_contain_text("Saved draft")
    assert not Pool.objects.exists()
    page.get_by_role("button", name="Provision").click()
    expect(page.locator(".messages")).to_contain_text("Configuration provisioned")
    assert Link.objects.get(name="4 GPU pool").pool.capacity == 8
    page.get_by_role("button", name="Exit").click()
    expect(page.locator("h1")).not_to_contain_text("Editor")
    expect(page.get_by_test_id("pool-card").first).to_contain_text("0 / 8 resources in use")
    assert [x.name for x in Link.objects.order_by("precedence")] == ["4 GPU pool", "4 GPU spare"]

    # A policy for Team on the new profile, then a job through its queue.
    page.get_by_role("link", name="Resource Policies").click()
    page.get_by_role("link", name="+ Add Policy").click()
    expect(dialog.get_by_role("heading", name="Create Policy")).to_be_visible()
    dialog.get_by_role("textbox", name="Name", exact=True).fill("Team policy")
    dialog.get_by_label("User group").select_option(label="Team")
    dialog.get_by_label("Reservation").fill("4")
    dialog.get_by_label("Limit").fill("8")
    dialog.get_by_role("checkbox", name="4xGPU").check()
    dialog.get_by_label("Queue name for 4xGPU").fill("team-4x")
    dialog.get_by_role("button", name="Create").click()
    expect(page.get_by_test_id("policy-card")).to_contain_text("team-4x")

    page.get_by_role("link", name="Enqueue a job…").click()
    expect(dialog.get_by_role("heading", name="Enqueue a job")).to_be_visible()
    dialog.get_by_label("Job name").fill("first-job")
    dialog.get_by_role("button", name="Enqueue").click()
    row = page.get_by_test_id("job-row").filter(has_text="first-job")
    expect(row).to_contain_text("Running")
    expect(row).to_contain_text("GPU Pool")  # the first pool in the precedence
    assert Job.objects.get(name="first-job").state == JobState.RUNNING
    expect(page.get_by_test_id("policy-card")).to_contain_text("4 in use")

    # The configuration page shows it too.
    page.get_by_role("link", name="Resource Configuration").first.click()
    expect(page.get_by_test_id("pool-card").first).to_contain_text("4 / 8 resources in use")
    expect(page.get_by_test_id("profile-card")).to_contain_text("1 running")
    assert errors == []
