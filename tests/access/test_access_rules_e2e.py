"""Browser journeys of the Access Rules page: add a rule through the htmx dialog (object filtered as
one types, targets picked), filter the table, explain access, delete; screenshots at 1440 and 390 px."""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from access.models import AccessRule, UserGroup
from resources.models import Policy, Profile, Queue
from tests.e2e.conftest import browser_context_args, browser_type_launch_args, signed_in_page  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SHOTS = Path(os.environ.get("PORTAL_SHOTS", "/tmp/shots-rules-page"))


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def settled(page) -> None:
    """Wait until htmx has swapped and settled (no request, swap or settle under way)."""
    page.wait_for_function("() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')")


def test_add_filter_explain_and_delete_a_rule(signed_in_page, live_server, workspace, owner, member):  # noqa: F811
    dev = UserGroup.objects.create(workspace=workspace, name="Dev")
    policy = Policy.objects.create(workspace=workspace, name="Dev Team", group=dev, reservation=0, limit=8)
    profile = Profile.objects.create(workspace=workspace, name="4x", allotment=4)
    queue = Queue.objects.create(
        workspace=workspace, name="dev-4x", policy=policy, profile=profile, priority=1
    )
    big = Profile.objects.create(workspace=workspace, name="8x", allotment=8)
    Queue.objects.create(workspace=workspace, name="prod-8x", policy=policy, profile=big, priority=2)
    page = signed_in_page(owner)
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{live_server.url}/w/{workspace.slug}/access-rules/")
    page.get_by_role("link", name="+ Add rules").click()
    dialog = page.locator("#rule-form")
    expect(dialog).to_be_visible()
    settled(page)
    dialog.get_by_label("Resource").select_option("queue")
    expect(dialog.locator("#rule-object option", has_text="prod-8x")).to_have_count(1)
    dialog.locator("#rule-object-q").fill("dev")
    expect(dialog.locator("#rule-object option", has_text="prod-8x")).to_have_count(0)
    expect(dialog.locator("#rule-object option", has_text="dev-4x")).to_have_count(1)
    dialog.locator("#rule-object").select_option(str(queue.pk))
    dialog.get_by_label("Read & Modify").check()
    dialog.locator("#rule-targets-search").fill("memb")
    expect(dialog.get_by_test_id("picker-option")).to_have_count(1)
    dialog.get_by_test_id("picker-option").click()
    expect(dialog.get_by_test_id("picker-chosen")).to_have_count(1)
    shot(page, "dialog-1440")
    dialog.get_by_role("button", name="Save", exact=True).last.click()
    expect(page.get_by_test_id("rule-row")).to_have_count(1)
    expect(page.get_by_test_id("rule-row")).to_contain_text("dev-4x")
    rule = AccessRule.objects.get()
    assert (str(rule.object_id), rule.permission, list(rule.users.all())) == (
        str(queue.pk),
        "read_modify",
        [member],
    )
    shot(page, "table-1440")

    # The table filters as one types, server-side.
    page.get_by_role("searchbox", name="Users", exact=True).fill("nobody")
    expect(page.get_by_test_id("rule-row")).to_have_count(0)
    expect(page.locator("#rule-table")).to_contain_text("No rule matches these filters.")
    page.get_by_role("searchbox", name="Users", exact=True).fill("memb")
    expect(page.get_by_test_id("rule-row")).to_have_count(1)

    # Explain access: the member reaches the queue through the rule.
    page.get_by_role("link", name="Explain access").first.click()
    explain = page.locator("#explain-form")
    expect(explain).to_be_visible()
    settled(page)
    explain.get_by_placeholder("Type part of a name or email").fill("memb")
    expect(explain.locator("#explain-subject option")).to_have_count(1)
    explain.locator("#explain-subject").select_option(index=0)
    settled(page)
    explain.get_by_label("Resource").select_option("queue")
    explain.locator("#rule-object-q").fill("dev")
    expect(explain.locator("#rule-object option", has_text="prod-8x")).to_have_count(0)
    expect(explain.locator("#rule-object option", has_text="dev-4x")).to_have_count(1)
    explain.locator("#rule-object").select_option(str(queue.pk))
    explain.get_by_role("button", name="Explain", exact=True).last.click()
    expect(page.get_by_test_id("explain-level")).to_have_text("Read & Modify")
    expect(page.get_by_test_id("explain-result")).to_contain_text("on dev-4x")
    shot(page, "explain-1440")
    page.keyboard.press("Escape")

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/w/{workspace.slug}/access-rules/")
    shot(page, "table-390")
    page.get_by_role("link", name="Delete the rule on dev-4x").click()
    confirm = page.locator("#confirm-form")
    expect(confirm).to_contain_text("queue “dev-4x”")
    shot(page, "delete-390")
    confirm.get_by_role("button", name="Delete").click()
    expect(page.get_by_test_id("rule-row")).to_have_count(0)
    assert not AccessRule.objects.exists()
    page.get_by_role("link", name="+ Add rules").click()
    expect(page.locator("#rule-form")).to_be_visible()
    settled(page)
    page.locator("#rule-form").get_by_label("Resource").select_option("task")
    expect(page.locator("#rule-object option").first).to_have_text("All tasks")
    shot(page, "dialog-390")
