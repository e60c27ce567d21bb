"""Provision with unsaved changes, in a real browser (issue 14, item 5): the button asks first in
the portal's dialog, then saves and provisions in one step and ends on the editor's own URL; when
the draft cannot be provisioned the button is disabled and the editor says why before it is
pressed. Screenshots go to $PORTAL_SHOTS (if set)."""

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from access.models import UserGroup
from resources.models import Pool
from resources.services.policies import QueueSpec, policy_create
from tests.factories import UserFactory, make_workspace
from tests.resources.helpers import provision_config

from .conftest import sign_in

pytestmark = pytest.mark.e2e

SHOTS = os.environ.get("PORTAL_SHOTS", "")


def shot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{SHOTS}/{name}.png", full_page=False)


def test_provision_saves_and_provisions_in_one_step(page: Page, live_server, transactional_db):
    admin = UserFactory(email="prov@example.com", username="prov")
    workspace = make_workspace(owner=admin, name="GPU Lab")
    _pools, profiles, _ = provision_config(
        workspace,
        admin,
        pools={"H100": 8},
        profiles={"4xGPU": 4, "1xGPU": 1},
        links=[("4 GPU", "4xGPU", "H100")],
    )
    opened: list[str] = []
    page.on("dialog", lambda dialog: (opened.append(dialog.message), dialog.dismiss()))
    sign_in(page, live_server.url, admin.email)
    editor_url = f"{live_server.url}/w/{workspace.slug}/resources/editor/"
    page.goto(editor_url)
    provision = page.locator(".rc-editbar").get_by_role("button", name="Provision")
    expect(provision).to_be_disabled()  # nothing to provision
    expect(page.locator(".rc-status")).to_contain_text("Provisioned")

    # An unsaved change: Provision opens the dialog that says it saves them too.
    dialog = page.locator("#modal")
    page.get_by_role("link", name="+ Add Pool").click()
    dialog.get_by_label("Name").fill("Spare")
    dialog.get_by_label("Number of resources").fill("4")
    dialog.get_by_role("button", name="Create").click()
    expect(dialog).to_be_hidden()
    expect(page.locator(".rc-status")).to_contain_text("Provision to save and apply them")
    page.locator(".rc-editbar").get_by_role("link", name="Provision").click()
    expect(dialog.get_by_role("heading", name="Save and provision")).to_be_visible()
    expect(dialog).to_contain_text("The editor has unsaved changes. Provision saves them")
    shot(page, "provision-unsaved-1440")
    dialog.get_by_role("link", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert not Pool.objects.filter(name="Spare").exists()

    page.locator(".rc-editbar").get_by_role("link", name="Provision").click()
    dialog.get_by_role("button", name="Save and provision").click()
    expect(page.locator("#messages")).to_contain_text("Configuration saved and provisioned")
    assert page.url == editor_url  # the page's own URL, never the POST's
    expect(page.locator(".rc-status")).to_contain_text("Provisioned")
    expect(provision).to_be_disabled()
    assert Pool.objects.get(name="Spare").capacity == 4
    shot(page, "provision-done-1440")

    # A draft that cannot be provisioned (a profile deleted in the draft that a policy has used
    # since): the button is disabled and the editor says why.
    card = page.get_by_test_id("profile-card").filter(has_text="1xGPU")
    card.get_by_role("link", name="Delete profile 1xGPU").click()
    dialog.get_by_role("button", name="Delete").click()
    expect(page.get_by_test_id("profile-card")).to_have_count(1)
    policy_create(
        workspace=workspace,
        actor=admin,
        name="Late team",
        group=UserGroup.objects.create(workspace=workspace, name="Late"),
        reservation=0,
        limit=4,
        queues=[QueueSpec(profile=profiles["1xGPU"], name="late-1x")],
    )
    page.reload()
    expect(provision).to_be_disabled()
    why = page.locator("#rc-provision-why")
    expect(why).to_contain_text("Provision is not possible yet")
    expect(why).to_contain_text("Late team")
    expect(provision).to_have_attribute("aria-describedby", "rc-provision-why")
    shot(page, "provision-blocked-1440")

    page.set_viewport_size({"width": 390, "height": 844})
    why.scroll_into_view_if_needed()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot(page, "provision-blocked-390")
    page.get_by_role("link", name="Reset Configuration").click()
    dialog.get_by_role("button", name="Reset configuration").click()
    expect(page.locator("#messages")).to_contain_text("Unprovisioned changes discarded")
    page.get_by_role("link", name="+ Add Pool").click()
    dialog.get_by_label("Name").fill("Small")
    dialog.get_by_label("Number of resources").fill("1")
    dialog.get_by_role("button", name="Create").click()
    expect(dialog).to_be_hidden()
    page.locator(".rc-editbar").get_by_role("link", name="Provision").click()
    expect(dialog.get_by_role("heading", name="Save and provision")).to_be_visible()
    shot(page, "provision-unsaved-390")
    dialog.get_by_role("button", name="Save and provision").click()
    expect(page.locator("#messages")).to_contain_text("Configuration saved and provisioned")
    assert page.url == editor_url
    assert Pool.objects.filter(name="Small").exists()
    assert opened == []
