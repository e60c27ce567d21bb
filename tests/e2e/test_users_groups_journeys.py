"""Browser journeys through Users & Groups (headless Chromium, real htmx, dialogs and the real SDK)."""

import json
import re
import subprocess
import sys
import textwrap

import pytest
from playwright.sync_api import Page, expect

from access.models import ServiceAccount, UserGroup
from tests.e2e.conftest import sign_in
from tests.factories import UserFactory, make_workspace
from tests.realclient.conftest import SDK_TIMEOUT, clean_env
from workspaces.models import Credential, Membership, Role

pytestmark = pytest.mark.e2e


@pytest.fixture
def portal_urls(live_server, settings):
    """Links and configuration text the portal prints point at the live server."""
    settings.PORTAL_BASE_URL = live_server.url
    settings.PORTAL_API_URL = f"{live_server.url}/api"
    settings.PORTAL_FILES_URL = ""
    return live_server.url


@pytest.fixture
def team(transactional_db):
    owner = UserFactory(email="boss@example.com", username="boss")
    member = UserFactory(email="mia@example.com", username="mia")
    workspace = make_workspace(owner=owner, name="Team", members={member: Role.MEMBER})
    return workspace, owner, member


def users_page(page: Page, base: str, workspace) -> None:
    page.goto(f"{base}/w/{workspace.slug}/users/")
    expect(page.locator("h1")).to_have_text("Users & Groups")


def test_invite_pending_accept_active_then_remove(page: Page, browser, portal_urls, team):
    workspace, owner, _ = team
    base = portal_urls
    sign_in(page, base, owner.email)
    users_page(page, base, workspace)
    expect(page.locator("nav.sidebar [aria-current=page]")).to_have_text("Users & Groups")

    page.get_by_role("link", name="+ Invite user").click()
    dialog = page.locator("dialog#modal")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Email").fill("newbie@example.com")
    dialog.get_by_role("button", name="Add").click()
    link_box = dialog.locator("#invitation-link")
    expect(link_box).to_contain_text("/invite/")
    link = link_box.text_content().strip()
    # The table behind the dialog already shows the pending row.
    pending = page.locator("[data-testid=invitation-row]", has_text="newbie@example.com")
    expect(pending).to_contain_text("Pending")
    dialog.get_by_role("link", name="Done").click()
    expect(dialog).to_be_hidden()

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
    finally:
        invitee_context.close()

    page.reload()
    row = page.locator("[data-testid=user-row]", has_text="newbie@example.com")
    expect(row).to_contain_text("Active")
    expect(page.locator("[data-testid=invitation-row]")).to_have_count(0)

    # The live filter narrows the table as one types.
    page.get_by_label("Filter").fill("newb")
    expect(page.locator("[data-testid=user-row]")).to_have_count(1)
    page.get_by_label("Filter").fill("")
    expect(page.locator("[data-testid=user-row]")).to_have_count(3)

    row.hover()
    row.get_by_role("link", name="Remove newbie").click()
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("lose access at once")
    dialog.get_by_role("button", name="Remove").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("[data-testid=user-row]", has_text="newbie@example.com")).to_have_count(0)
    assert not Membership.objects.filter(workspace=workspace, user__email="newbie@example.com").exists()


SDK_LOGIN = """
    import json, sys
    from clearml.backend_api.session import Session
    from clearml.backend_api.session.session import LoginError
    try:
        session = Session()
    except LoginError as exc:
        print(json.dumps({"error": str(exc)}))
        sys.exit(0)
    me = session.send_request("users", "get_current_user").json()["data"]["user"]
    print(json.dumps({"user": me["id"], "host": session.host}))
"""


def sdk_with_conf(tmp_path, conf: str) -> dict:
    """The real SDK in a fresh process whose clearml.conf is CONF (what was copied)."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / "clearml.conf").write_text(conf)
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SDK_LOGIN)],
        env=clean_env(home),
        capture_output=True,
        text=True,
        timeout=SDK_TIMEOUT,
        cwd=home,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert result.returncode == 0 and lines, result.stdout + result.stderr
    return json.loads(lines[-1])


@pytest.mark.realclient
def test_service_account_credentials_work_in_the_sdk_until_deleted(
    page: Page, context, portal_urls, team, tmp_path
):
    workspace, owner, _ = team
    base = portal_urls
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    sign_in(page, base, owner.email)
    page.goto(f"{base}/w/{workspace.slug}/users/service-accounts/")

    page.get_by_role("link", name="+ Add service account").click()
    dialog = page.locator("dialog#modal")
    dialog.get_by_label("Name").fill("gpu-agents")
    dialog.get_by_role("switch", name="Allow impersonation").check()
    dialog.get_by_role("button", name="Save").click()
    configuration = dialog.locator("#sa-credential-configuration")
    expect(configuration).to_contain_text('"secret_key" = "')
    account = ServiceAccount.objects.get(workspace=workspace, name="gpu-agents")
    assert account.allow_impersonation

    dialog.locator("[data-copy-from='#sa-credential-configuration']").click()
    expect(dialog.locator("[data-copy-from='#sa-credential-configuration']")).to_have_text("Copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("api {") and f"api_server: {base}/api" in copied
    dialog.get_by_role("link", name="Done").click()
    expect(dialog).to_be_hidden()
    row = page.locator("[data-testid=service-account-row]", has_text="gpu-agents")
    expect(row).to_contain_text(account.user_id.hex)
    expect(row.locator("td").nth(3)).to_have_text("1")

    # The real SDK authenticates with exactly what was copied.
    result = sdk_with_conf(tmp_path, copied)
    assert result == {"user": account.user_id.hex, "host": f"{base}/api"}

    row.hover()
    row.get_by_role("link", name="Delete gpu-agents").click()
    expect(dialog).to_contain_text("agents using them fail at once")
    dialog.get_by_role("button", name="Delete").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("[data-testid=service-account-row]")).to_have_count(0)

    result = sdk_with_conf(tmp_path, copied)
    assert "error" in result and "invalid credentials" in result["error"]


def test_service_account_panel_edits_and_credentials(page: Page, portal_urls, team):
    workspace, owner, _ = team
    from access import services

    account, first, _ = services.service_account_create(workspace=workspace, actor=owner, name="ci-bot")
    group = services.group_create(workspace=workspace, actor=owner, name="Builders")
    base = portal_urls
    sign_in(page, base, owner.email)
    page.goto(f"{base}/w/{workspace.slug}/users/service-accounts/")
    row = page.locator("[data-testid=service-account-row]", has_text="ci-bot")
    row.hover()
    row.get_by_role("link", name="Edit ci-bot").click()
    dialog = page.locator("dialog#modal")
    expect(dialog.locator("h2")).to_have_text("Edit service account")
    dialog.get_by_label("Name").fill("ci-robot")
    dialog.get_by_role("switch", name="Allow impersonation").check()
    dialog.get_by_label("Builders").check()
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.locator("[role=status]")).to_have_text("Saved")
    # The table behind refreshed.
    expect(page.locator("[data-testid=service-account-row]", has_text="ci-robot")).to_contain_text("Builders")
    account.refresh_from_db()
    assert account.name == "ci-robot" and account.allow_impersonation
    assert group.members.filter(pk=account.user_id).exists()

    dialog.get_by_placeholder("Label (optional)").fill("node-2")
    dialog.get_by_role("button", name="+ Create new credentials").click()
    expect(dialog.locator("#sa-credential-configuration")).to_contain_text("# node-2")
    dialog.get_by_role("link", name="Done").click()

    row = page.locator("[data-testid=service-account-row]", has_text="ci-robot")
    expect(row.locator("td").nth(3)).to_have_text("2")
    row.hover()
    row.get_by_role("link", name="Edit ci-robot").click()
    credential_row = dialog.locator("[data-testid=sa-credential-row]", has_text=first.access_key)
    credential_row.hover()
    credential_row.get_by_role("link", name=f"Revoke {first.access_key}").click()
    # The portal's own confirmation dialog (never the browser's confirm()), then the panel again.
    expect(dialog.get_by_role("heading", name="Revoke credentials")).to_be_visible()
    expect(dialog).to_contain_text("Agents using it fail at once")
    dialog.get_by_role("button", name="Revoke").click()
    expect(dialog.locator("[data-testid=sa-credential-row]")).to_have_count(1)
    first.refresh_from_db()
    assert first.is_revoked
    assert Credential.objects.filter(user=account.user, revoked_at__isnull=True).count() == 1


def wait_for_htmx_idle(page: Page) -> None:
    page.wait_for_function(
        "!document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling, .htmx-added')"
    )


def test_create_a_group_picking_members_as_you_type_then_delete_it(page: Page, portal_urls, team):
    workspace, owner, _ = team
    from access import services

    services.service_account_create(workspace=workspace, actor=owner, name="gpu-agents")
    base = portal_urls
    sign_in(page, base, owner.email)
    page.goto(f"{base}/w/{workspace.slug}/users/groups/")
    expect(page.locator("[data-testid=group-row]")).to_have_count(3)  # the built-ins

    page.get_by_role("link", name="+ Add group").click()
    dialog = page.locator("dialog#modal")
    dialog.get_by_label("Name").fill("Vision")
    dialog.get_by_label("Description").fill("Computer vision")
    search = dialog.get_by_label("Add members")
    search.click()  # the list of members appears on focus
    expect(dialog.locator("[data-testid=picker-option]")).to_have_count(3)
    search.fill("mi")
    expect(dialog.locator("[data-testid=picker-option]")).to_have_count(1)
    dialog.locator("[data-testid=picker-option]", has_text="mia").click()
    expect(dialog.locator("[data-testid=picker-chosen]")).to_have_count(1)
    wait_for_htmx_idle(page)  # the re-rendered form's search box listens once htmx has settled
    dialog.get_by_label("Add members").fill("gpu")
    dialog.locator("[data-testid=picker-option]", has_text="gpu-agents").click()
    expect(dialog.locator("[data-testid=picker-chosen]")).to_have_count(2)
    dialog.get_by_role("button", name="Remove mia from the group").click()
    expect(dialog.locator("[data-testid=picker-chosen]")).to_have_count(1)
    expect(dialog.get_by_label("Name")).to_have_value("Vision")
    dialog.get_by_role("button", name="Save", exact=True).click()
    expect(dialog).to_be_hidden()

    row = page.locator("[data-testid=group-row]", has_text="Vision")
    expect(row).to_contain_text("gpu-agents")
    group = UserGroup.objects.get(workspace=workspace, name="Vision")
    assert [u.username for u in group.members.all()] == ["gpu-agents"]

    row.hover()
    row.get_by_role("link", name="Delete Vision").click()
    expect(dialog).to_contain_text("lose the access privileges")
    dialog.get_by_role("button", name="Delete").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("[data-testid=group-row]", has_text="Vision")).to_have_count(0)
    assert not UserGroup.objects.filter(pk=group.pk).exists()


def test_users_and_groups_without_javascript(browser, portal_urls, team):
    workspace, owner, member = team
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        base = portal_urls
        sign_in(page, base, owner.email)
        page.goto(f"{base}/w/{workspace.slug}/users/groups/")
        page.get_by_role("link", name="+ Add group").click()
        page.get_by_label("Name").fill("Plain")
        page.get_by_label("Add members").fill("mia")
        page.get_by_role("button", name="Search").click()
        page.locator("[data-testid=picker-option]", has_text="mia").click()
        expect(page.locator("[data-testid=picker-chosen]")).to_have_count(1)
        page.get_by_role("button", name="Save", exact=True).last.click()
        expect(page.locator("#messages")).to_contain_text("Group Plain saved.")
        assert list(UserGroup.objects.get(name="Plain").members.all()) == [member]

        page.goto(f"{base}/w/{workspace.slug}/users/")
        page.get_by_role("link", name="+ Invite user").click()
        page.get_by_label("Email").fill("quiet@example.com")
        page.get_by_role("button", name="Add").click()
        expect(page.locator("#invitation-link")).to_contain_text("/invite/")
        page.get_by_role("link", name="Done").click()
        expect(page.locator("[data-testid=invitation-row]", has_text="quiet@example.com")).to_contain_text(
            "Pending"
        )

        page.goto(f"{base}/w/{workspace.slug}/users/?q=mia")
        expect(page.locator("[data-testid=user-row]")).to_have_count(1)
        page.get_by_role("link", name="Remove mia").click()
        page.get_by_role("button", name="Remove").click()
        expect(page.locator("#messages")).to_contain_text(re.compile("mia was removed"))
        assert not Membership.objects.filter(workspace=workspace, user=member).exists()
    finally:
        context.close()
