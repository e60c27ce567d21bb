"""Browser journeys through the Workspace page (headless Chromium, real htmx and dialogs).

The browser launch fixtures are the shared ones of tests/e2e/conftest.py.
"""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.factories import PASSWORD, UserFactory, make_workspace
from workspaces.models import Credential, Membership

pytestmark = pytest.mark.e2e


@pytest.fixture
def base_url_setting(live_server, settings):
    """Links the portal prints (invitations) point at the live server."""
    settings.PORTAL_BASE_URL = live_server.url
    return live_server.url


def sign_in(page: Page, base: str, email: str, password: str = PASSWORD) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Profile")


def test_create_copy_and_revoke_credentials(page: Page, context, live_server, transactional_db):
    user = UserFactory(email="e2e@example.com", username="e2e")
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    sign_in(page, live_server.url, user.email)
    page.click("nav.sidebar >> text=Workspace")
    expect(page.locator("h1")).to_have_text("Workspace")

    page.click("text=+ Create new credentials")
    dialog = page.locator("dialog#modal")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Label").fill("e2e-laptop")
    dialog.get_by_role("button", name="Create").click()

    configuration = dialog.locator("#credential-configuration")
    expect(configuration).to_contain_text('"secret_key" = "')
    credential = Credential.objects.get(user=user)
    expect(configuration).to_contain_text(f'"access_key" = "{credential.access_key}"')
    expect(configuration).to_contain_text("api_server: ")

    dialog.locator("[data-copy-from='#credential-configuration']").click()
    expect(dialog.locator("[data-copy-from='#credential-configuration']")).to_have_text("Copied")
    clipboard = page.evaluate("navigator.clipboard.readText()")
    assert clipboard == configuration.text_content()
    assert clipboard.startswith("api {") and credential.access_key in clipboard

    # Tabs: click, then arrow keys
    jupyter_tab = dialog.get_by_role("tab", name="Jupyter notebook")
    jupyter_tab.click()
    expect(dialog.locator("#credential-jupyter")).to_be_visible()
    expect(configuration).to_be_hidden()
    jupyter_tab.press("ArrowLeft")
    expect(dialog.get_by_role("tab", name="Configuration file")).to_be_focused()
    expect(configuration).to_be_visible()

    dialog.get_by_role("link", name="Done").click()
    expect(dialog).to_be_hidden()
    row = page.locator(f"#credential-{credential.pk}")
    expect(row.locator("[data-testid=credential-label]")).to_have_text("e2e-laptop")

    # Edit the label inline: hover, pencil, type, check mark
    row.hover()
    row.get_by_role("link", name=re.compile("Edit the label")).click()
    row.locator("input[name=label]").fill("renamed")
    row.get_by_role("button", name="Save label").click()
    expect(row.locator("[data-testid=credential-label]")).to_have_text("renamed")

    row.hover()
    row.get_by_role("link", name=f"Revoke {credential.access_key}").click()
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("cannot be undone")
    dialog.get_by_role("button", name="Revoke").click()
    expect(dialog).to_be_hidden()
    expect(page.locator(f"#credential-{credential.pk}")).to_have_count(0)
    credential.refresh_from_db()
    assert credential.is_revoked


def test_invite_then_sign_up_through_the_link(page: Page, browser, base_url_setting, transactional_db):
    owner = UserFactory(email="boss@example.com", username="boss")
    workspace = make_workspace(owner=owner, name="Team")
    base = base_url_setting
    sign_in(page, base, owner.email)
    page.goto(f"{base}/settings/workspace/?open={workspace.slug}")
    panel = page.locator(f"#workspace-{workspace.slug}")

    panel.get_by_role("link", name="Invite users").click()
    dialog = page.locator("dialog#modal")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Email").fill("newbie@example.com")
    dialog.get_by_role("button", name="Add").click()
    link_box = dialog.locator("#invitation-link")
    expect(link_box).to_contain_text("/invite/")
    link = link_box.text_content().strip()
    assert link.startswith(base)
    # The spec: after inviting, the page goes to Users & Groups, where the invitation is pending.
    dialog.get_by_role("link", name="Done").click()
    expect(page).to_have_url(re.compile(rf"/w/{workspace.slug}/users/$"))
    pending = page.locator("[data-testid=invitation-row]", has_text="newbie@example.com")
    expect(pending).to_contain_text("Pending")

    invitee_context = browser.new_context()
    try:
        invitee = invitee_context.new_page()
        invitee.goto(link)
        expect(invitee.locator("h1")).to_have_text("Join Team")
        invitee.get_by_label("Username").fill("newbie")
        invitee.locator("input[name=password1]").fill("a long pass phrase 42")
        invitee.locator("input[name=password2]").fill("a long pass phrase 42")
        invitee.get_by_role("button", name="Sign up and join").click()
        expect(invitee.locator("#messages")).to_contain_text("Welcome to Team.")
        expect(invitee.locator(f"#workspace-{workspace.slug} summary")).to_contain_text("Team")
    finally:
        invitee_context.close()

    page.goto(f"{base}/settings/workspace/?open={workspace.slug}")
    member_row = panel.locator("[data-testid=member-row]", has_text="newbie@example.com")
    expect(member_row).to_contain_text("Active")
    expect(panel.locator("[data-testid=invitation-row]")).to_have_count(0)
    assert Membership.objects.filter(workspace=workspace, user__email="newbie@example.com").exists()
    # The owner was notified of the join: the bell counts it.
    expect(page.locator("#notifications-bell [data-testid=unread-count]")).to_have_text("1")


def test_the_same_journey_without_javascript(browser, live_server, transactional_db):
    user = UserFactory(email="nojs@example.com", username="nojs")
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, live_server.url, user.email)
        page.goto(f"{live_server.url}/settings/workspace/")
        page.click("text=+ Create new credentials")  # a plain link to the dialog's page
        expect(page.locator("h2#modal-title")).to_have_text("Create new credentials")
        page.get_by_label("Label").fill("no-js")
        page.get_by_role("button", name="Create").click()
        # Both formats one above the other, no tab bar
        expect(page.locator("#credential-configuration")).to_be_visible()
        expect(page.locator("#credential-jupyter")).to_be_visible()
        expect(page.get_by_role("tablist")).to_be_hidden()
        credential = Credential.objects.get(user=user)
        page.get_by_role("link", name="Done").click()

        row = page.locator(f"#credential-{credential.pk}")
        expect(row.locator("[data-testid=credential-label]")).to_have_text("no-js")
        row.get_by_role("link", name=re.compile("Edit the label")).click()
        row = page.locator(f"#credential-{credential.pk}")
        row.locator("input[name=label]").fill("still no js")
        row.get_by_role("button", name="Save label").click()
        expect(page.locator("#messages")).to_contain_text("Label saved.")
        expect(page.locator(f"#credential-{credential.pk} [data-testid=credential-label]")).to_have_text(
            "still no js"
        )

        page.locator(f"#credential-{credential.pk}").get_by_role("link", name=re.compile("Revoke")).click()
        expect(page.locator("h2#modal-title")).to_have_text("Revoke credentials?")
        page.get_by_role("button", name="Revoke").click()
        expect(page.locator("#messages")).to_contain_text(f"Credentials {credential.access_key} revoked.")
        expect(page.locator(f"#credential-{credential.pk}")).to_have_count(0)
    finally:
        context.close()
