"""The Resource Policies page of a workspace linked to a ClearML server, in Chromium: the real tasks
with their owners and statuses, the policy queues' ids and the agent queues with their commands,
each copied with one click. Screenshots go to $PORTAL_SHOTS (default /tmp/shots-policies)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from resources.services import upstream
from resources.services.scheduling import resource_management_set
from tests.e2e.conftest import browser_context_args, browser_type_launch_args, sign_in  # noqa: F401

from .test_upstream import Person, enqueue_eight, ids, team_member

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SHOTS = Path(os.environ.get("PORTAL_SHOTS") or "/tmp/shots-policies")


def test_policies_page_lists_real_tasks_and_copies_queue_ids_and_agent_commands(
    page: Page, live_server, example, owner, client, settings
):
    settings.CLEARML_UPSTREAM_WEB_URL = "https://app.clearml.example.com"
    from tests.gateway.conftest import GatewayApi

    api = GatewayApi(client)
    people = (
        Person(api, example, team_member(example, owner, "dana", "Dev")),
        Person(api, example, team_member(example, owner, "rick", "Research")),
        None,
    )
    tasks_by = enqueue_eight(example, owner, people)
    resource_management_set(workspace=example, actor=owner, enabled=True)
    upstream.describe_new(example)
    queues = ids(example)

    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    sign_in(page, live_server.url, owner.email)
    page.goto(f"{live_server.url}/w/{example.slug}/resources/policies/")
    rows = page.get_by_test_id("job-row")
    expect(rows).to_have_count(4 + 25)  # 4 pending; the 25 latest running (4 real tasks, 21 Product jobs)
    first = page.locator(f'[data-task="{tasks_by["dev"][0]}"]')
    expect(first).to_contain_text("dev-job-1")
    expect(first).to_contain_text("by dana")
    expect(first).to_contain_text("queued for an agent")
    expect(first.get_by_role("link", name="dev-job-1", exact=True)).to_have_attribute(
        "href", f"https://app.clearml.example.com/projects/*/experiments/{tasks_by['dev'][0]}"
    )
    agent_rows = page.get_by_test_id("agent-queue-row")
    expect(agent_rows).to_have_count(6)
    low_end = agent_rows.filter(has_text="4 GPU Low End")
    expect(low_end).to_contain_text(queues["4 GPU Low End"])
    expect(low_end).to_contain_text('clearml-agent daemon --queue "4 GPU Low End"')
    low_end.get_by_role("button", name="Copy the agent command of 4 GPU Low End").click()
    expect(low_end.get_by_role("button", name="Copy the agent command of 4 GPU Low End")).to_have_text(
        "Copied"
    )
    assert page.evaluate("navigator.clipboard.readText()") == 'clearml-agent daemon --queue "4 GPU Low End"'
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "policies-real-tasks.png"), full_page=True)
    page.goto(f"{live_server.url}/w/{example.slug}/resources/")
    expect(page.get_by_test_id("agent-queue").first).to_be_visible()
    page.screenshot(path=str(SHOTS / "board-agent-queues.png"), full_page=False)
