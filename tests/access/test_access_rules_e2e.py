"""Browser journey: an administrator adds an access rule through the htmx dialog, then deletes it."""

import pytest
from playwright.sync_api import expect

from access.models import AccessRule, UserGroup
from resources.models import Policy, Profile, Queue
from tests.e2e.conftest import browser_context_args, browser_type_launch_args, signed_in_page  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_add_and_delete_a_rule(signed_in_page, live_server, workspace, owner, member):  # noqa: F811
    dev = UserGroup.objects.create(workspace=workspace, name="Dev")
    policy = Policy.objects.create(workspace=workspace, name="Dev Team", group=dev, reservation=0, limit=8)
    profile = Profile.objects.create(workspace=workspace, name="4x", allotment=4)
    queue = Queue.objects.create(
        workspace=workspace, name="dev-4x", policy=policy, profile=profile, priority=1
    )
    page = signed_in_page(owner)
    page.goto(f"{live_server.url}/w/{workspace.slug}/access-rules/")
    page.get_by_role("link", name="+ Add rules").click()
    dialog = page.locator("#rule-form")
    expect(dialog).to_be_visible()
    dialog.get_by_placeholder("Type part of a name").first.fill("dev")
    expect(dialog.locator("#rule-object option", has_text="dev-4x")).to_have_count(1)
    dialog.locator("#rule-object").select_option(str(queue.pk))
    dialog.get_by_label("Read & Modify").check()
    dialog.locator("#rule-targets-search").fill("memb")
    expect(dialog.get_by_test_id("picker-option")).to_have_count(1)
    dialog.get_by_test_id("picker-option").click()
    expect(dialog.get_by_test_id("picker-chosen")).to_have_count(1)
    dialog.get_by_role("button", name="Save", exact=True).last.click()
    expect(page.get_by_test_id("rule-row")).to_have_count(1)
    expect(page.get_by_test_id("rule-row")).to_contain_text("dev-4x")
    rule = AccessRule.objects.get()
    assert (rule.object_id, rule.permission, list(rule.users.all())) == (
        str(queue.pk),
        "read_modify",
        [member],
    )
    page.screenshot(path="/tmp/access_rules.png", full_page=True)
    page.get_by_role("link", name="Delete the rule").click()
    page.locator("#confirm-form").get_by_role("button", name="Delete").click()
    expect(page.get_by_test_id("rule-row")).to_have_count(0)
    assert not AccessRule.objects.exists()
