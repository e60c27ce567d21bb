"""The issue's "done" journey in a browser, proven with the real SDK.

An admin puts `sdk.aws.s3.key` in a group vault through the dialog (a forbidden key
first, refused), a group member's real SDK session sees it; the Active toggle takes
it away and back; the member then edits their own vault (double-click the box),
enables it, and their SDK sees it win over the group vault.
"""

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from access.models import GroupMembership, UserGroup
from tests.e2e.conftest import sign_in
from vaults.models import Vault
from workspaces.credentials import credential_create

# The browser and live-portal fixtures come from tests/vaults/conftest.py.
pytestmark = [pytest.mark.e2e, pytest.mark.realclient, pytest.mark.django_db(transaction=True)]

SDK = """
import json
from clearml.backend_api.session import Session
session = Session(api_key={key!r}, secret_key={secret!r}, host={host!r})
print(json.dumps({{"key": session.config.get("sdk.aws.s3.key", None), "region": session.config.get("sdk.aws.s3.region", None)}}))
"""


def test_admin_group_vault_reaches_a_members_sdk_and_the_member_vault_wins(
    page: Page, portal, run_sdk, workspace, admin_member, member
):
    base = portal.base_url
    research = UserGroup.objects.create(workspace=workspace, name="Research")
    GroupMembership.objects.create(group=research, user=member)
    credential, secret = credential_create(workspace=workspace, actor=member, label="laptop")

    def sdk_config():
        return run_sdk(SDK.format(key=credential.access_key, secret=secret, host=portal.api_url))

    sign_in(page, base, admin_member.email)
    page.goto(f"{base}/w/{workspace.slug}/vaults/")
    expect(page.locator("h1")).to_have_text("Administrator Vaults")
    page.get_by_role("link", name="+ Add Vault").click()
    dialog = page.locator("dialog#modal")
    expect(dialog.locator(".code-editor")).to_be_visible()  # the editor is enhanced
    dialog.get_by_label("Vault name").fill("Research storage")
    dialog.get_by_label("User group").select_option(label="Research")
    dialog.get_by_label("Format").select_option("hocon")
    editor = dialog.locator("textarea[name=content]")
    editor.fill('sdk.aws.s3 {\n  key: "FROM_BROWSER"\n  region: "eu-west-1"\n}\nagent { debug: true }\n')
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_contain_text("agent.debug is machine/agent specific")
    assert not Vault.objects.exists()

    dialog.locator("summary[aria-label='Configuration file reference']").click()
    expect(dialog).to_contain_text("Configuration file reference")
    editor.fill('sdk.aws.s3 {\n  key: "FROM_BROWSER"\n  region: "eu-west-1"\n}\n')
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    row = page.locator("#vault-table tr", has_text="Research storage")
    expect(row).to_contain_text("sdk.aws.s3.key")
    assert sdk_config() == {"key": "FROM_BROWSER", "region": "eu-west-1"}

    # The Active toggle: off, the member's next session no longer has it; on again.
    switch = page.locator("#vault-table").get_by_role("switch", name="Active: Research storage")
    with page.expect_response(lambda response: "/toggle/" in response.url):
        switch.uncheck()
    expect(switch).not_to_be_checked()
    assert not Vault.objects.get(name="Research storage").enabled
    assert sdk_config() == {"key": "", "region": ""}  # the SDK defaults
    with page.expect_response(lambda response: "/toggle/" in response.url):
        switch.check()
    expect(switch).to_be_checked()
    assert Vault.objects.get(name="Research storage").enabled

    # The download is the original text.
    with page.expect_download() as download:
        page.locator("#vault-table tr", has_text="Research storage").get_by_role(
            "link", name="Download Research storage"
        ).click()
    assert download.value.suggested_filename == "Research-storage.conf"
    assert 'key: "FROM_BROWSER"' in Path(download.value.path()).read_text()

    # The member edits their own vault from the box (double-click), then enables it.
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, base, member.email)
    page.goto(f"{base}/w/{workspace.slug}/vault/")
    page.locator("[data-vault-box]").dblclick()
    expect(dialog.locator(".code-editor")).to_be_visible()
    dialog.get_by_label("Format").select_option("yaml")
    dialog.locator("textarea[name=content]").fill("sdk:\n  aws:\n    s3:\n      region: us-west-2\n")
    dialog.get_by_role("button", name="OK").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#user-vault .vault-preview")).to_contain_text("us-west-2")
    assert sdk_config() == {"key": "FROM_BROWSER", "region": "eu-west-1"}  # saved, still disabled
    with page.expect_response(lambda response: "/vault/toggle/" in response.url):
        page.locator("#user-vault input[role=switch]").check()
    expect(page.locator("#user-vault")).to_contain_text("Enabled")
    assert sdk_config() == {"key": "FROM_BROWSER", "region": "us-west-2"}  # the member's vault wins
