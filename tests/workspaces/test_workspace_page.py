import pytest
from django.urls import reverse

from tests.factories import UserFactory, make_workspace
from workspaces.credentials import credential_create
from workspaces.invitations import invitation_create
from workspaces.models import AuditEvent, Role, Workspace
from workspaces.selectors import personal_workspace_get

PAGE = reverse("workspaces:workspace-settings")


def url(name, workspace, *args):
    return reverse(f"workspaces:{name}", args=[workspace.slug, *args])


def test_page_needs_sign_in(client):
    response = client.get(PAGE)
    assert response.status_code == 302
    assert reverse("accounts:login") in response["Location"]


def test_page_lists_memberships_personal_first(client, member, workspace):
    other = make_workspace(owner=UserFactory(), name="Aardvark", members={member: Role.MEMBER})
    client.force_login(member)
    html = client.get(PAGE).content.decode()
    personal = personal_workspace_get(user=member)
    positions = [html.index(f'id="workspace-{ws.slug}"') for ws in (personal, other, workspace)]
    assert positions == sorted(positions), "personal first, then by name"
    assert "Switch to workspace" in html
    assert 'href="/settings/workspace/" aria-current="page">Workspace</a>' in html  # the sidebar link


def test_page_does_not_list_other_workspaces(client, outsider, workspace):
    client.force_login(outsider)
    html = client.get(PAGE).content.decode()
    assert f'id="workspace-{workspace.slug}"' not in html
    assert "Team" not in html


def test_current_workspace_panel_is_open_and_open_param_opens_another(client, member, workspace):
    client.force_login(member)  # lands in Team, the workspace with the latest activity
    personal = personal_workspace_get(user=member)
    html = client.get(PAGE).content.decode()
    assert _panel_is_open(html, workspace) and not _panel_is_open(html, personal)
    html = client.get(PAGE + f"?open={personal.slug}").content.decode()
    assert _panel_is_open(html, personal) and not _panel_is_open(html, workspace)


def _panel_is_open(html: str, workspace: Workspace) -> bool:
    start = html.index(f'id="workspace-{workspace.slug}"')
    details = html[start : html.index("<summary", start)]
    return " open>" in details


def test_switch_sets_the_current_workspace(client, member, workspace):
    client.force_login(member)
    response = client.post(url("workspace-switch", workspace), follow=True)
    assert response.status_code == 200
    assert client.session["workspace_id"] == str(workspace.id)
    html = response.content.decode()
    assert f"Switched to {workspace.name}." in html
    assert '<span class="workspace-chip" id="topbar-workspace" title="Current workspace">Team</span>' in html


def test_switch_with_htmx_redirects_the_page(client, member, workspace, hx):
    client.force_login(member)
    response = client.post(url("workspace-switch", workspace), headers=hx)
    assert response.status_code == 200
    assert response["HX-Redirect"].startswith(PAGE)
    assert client.session["workspace_id"] == str(workspace.id)


def test_switch_is_post_only_and_members_only(client, member, outsider, workspace):
    client.force_login(member)
    assert client.get(url("workspace-switch", workspace)).status_code == 405
    client.force_login(outsider)
    assert client.post(url("workspace-switch", workspace)).status_code == 404
    assert client.session.get("workspace_id") != str(workspace.id)


def test_acting_in_a_panel_does_not_switch(client, member, workspace, hx):
    client.force_login(member)
    personal = personal_workspace_get(user=member)
    client.post(url("workspace-switch", personal))
    client.post(url("credential-create", workspace), {"label": "x"}, headers=hx)
    assert client.session["workspace_id"] == str(personal.id)


def test_single_workspace_mode_lists_the_current_one_and_cannot_switch(client, member, workspace, settings):
    settings.PORTAL_SINGLE_WORKSPACE = True
    client.force_login(member)
    session = client.session
    session["workspace_id"] = str(workspace.id)
    session.save()
    html = client.get(PAGE).content.decode()
    assert f'id="workspace-{workspace.slug}"' in html
    assert f'id="workspace-{personal_workspace_get(user=member).slug}"' not in html
    assert "Switch to workspace" not in html
    personal = personal_workspace_get(user=member)
    assert client.post(url("workspace-switch", personal)).status_code == 404
    assert client.session["workspace_id"] == str(workspace.id)


# --- Workspace name ---------------------------------------------------------------------------


def test_name_pencil_only_for_admins(client, member, admin_member, workspace):
    client.force_login(member)
    html = client.get(PAGE + f"?open={workspace.slug}").content.decode()
    assert url("workspace-name", workspace) not in html
    client.force_login(admin_member)
    html = client.get(PAGE + f"?open={workspace.slug}").content.decode()
    assert url("workspace-name", workspace) + "?edit=1" in html


def test_name_edit_fragment(client, owner, workspace, hx):
    client.force_login(owner)
    response = client.get(url("workspace-name", workspace) + "?edit=1", headers=hx)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert f'id="workspace-name-{workspace.slug}"' in html
    assert 'name="name"' in html and 'value="Team"' in html


def test_name_edit_without_javascript_shows_the_input_in_the_page(client, owner, workspace):
    client.force_login(owner)
    html = client.get(url("workspace-name", workspace) + "?edit=1").content.decode()
    assert "<html" in html and 'name="name"' in html


def test_rename_with_htmx(client, admin_member, workspace, hx):
    client.force_login(admin_member)
    response = client.post(url("workspace-name", workspace), {"name": "  Research  "}, headers=hx)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and "Saved" in html
    assert 'hx-swap-oob="true">Research</span>' in html  # the panel's title follows
    workspace.refresh_from_db()
    assert workspace.name == "Research"
    event = AuditEvent.objects.for_workspace(workspace).get(action="workspace.rename")
    assert event.before == {"name": "Team"} and event.after == {"name": "Research"}


def test_rename_of_the_current_workspace_renames_the_top_bar_at_once(client, owner, workspace, hx):
    client.force_login(owner)
    client.post(url("workspace-switch", workspace))
    page = client.get(PAGE).content.decode()
    assert '<span class="workspace-chip" id="topbar-workspace" title="Current workspace">Team</span>' in page
    html = client.post(url("workspace-name", workspace), {"name": "Research"}, headers=hx).content.decode()
    assert (
        '<span class="workspace-chip" id="topbar-workspace" title="Current workspace" hx-swap-oob="true">'
        "Research</span>"
    ) in html


def test_rename_of_another_workspace_leaves_the_top_bar(client, owner, workspace, hx):
    client.force_login(owner)
    client.post(url("workspace-switch", personal_workspace_get(user=owner)))
    html = client.post(url("workspace-name", workspace), {"name": "Research"}, headers=hx).content.decode()
    assert "topbar-workspace" not in html  # the top bar names the personal workspace, unchanged


def test_rename_without_javascript(client, owner, workspace):
    client.force_login(owner)
    response = client.post(url("workspace-name", workspace), {"name": "Lab"}, follow=True)
    assert "Workspace name saved." in response.content.decode()
    workspace.refresh_from_db()
    assert workspace.name == "Lab"


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"name": ""}, "This field is required."),
        ({"name": "   "}, "This field is required."),
        ({"name": "x" * 101}, "at most 100 characters"),
        ({}, "This field is required."),
    ],
)
@pytest.mark.parametrize("htmx", [True, False])
def test_rename_bad_input(client, owner, workspace, hx, data, error, htmx):
    client.force_login(owner)
    response = client.post(url("workspace-name", workspace), data, headers=hx if htmx else {})
    assert response.status_code == 422
    html = response.content.decode()
    assert error in html
    assert 'aria-invalid="true"' in html
    assert ("<html" in html) is not htmx
    workspace.refresh_from_db()
    assert workspace.name == "Team"
    assert not AuditEvent.objects.filter(action="workspace.rename").exists()


def test_rename_roles(client, member, outsider, workspace):
    client.force_login(member)
    assert client.post(url("workspace-name", workspace), {"name": "Mine"}).status_code == 403
    assert client.get(url("workspace-name", workspace) + "?edit=1").status_code == 403
    client.force_login(outsider)
    assert client.post(url("workspace-name", workspace), {"name": "Mine"}).status_code == 404
    workspace.refresh_from_db()
    assert workspace.name == "Team"


# --- Bounded queries --------------------------------------------------------------------------


def _populate(workspace, owner, size: int):
    for n in range(size):
        user = UserFactory()
        from workspaces.services import membership_add

        membership_add(workspace=workspace, user=user, role=Role.MEMBER, actor=owner)
        credential_create(workspace=workspace, actor=user, label=f"c{n}")
        credential_create(workspace=workspace, actor=owner, label=f"o{n}")
        invitation_create(workspace=workspace, actor=owner, email=f"pending{n}@example.com")
        other = make_workspace(owner=user, name=f"Other {n}", members={owner: Role.MEMBER})
        credential_create(workspace=other, actor=owner, label=f"x{n}")


# session, user, current membership, preferences, bell count, memberships, credentials, members,
# invitations, and the configuration vault of the current workspace (vaults/_user_vault.html)
PAGE_QUERIES = 10


@pytest.mark.parametrize("size", [1, 12])
def test_page_queries_do_not_grow(client, owner, workspace, django_assert_num_queries, size):
    _populate(workspace, owner, size)
    client.force_login(owner)
    with django_assert_num_queries(PAGE_QUERIES):
        response = client.get(PAGE)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('<tr id="credential-') == 3 * size  # every credential shown
    assert html.count('data-testid="invitation-row"') == size  # and every pending invitation


@pytest.mark.parametrize("size", [1, 12])
def test_fragment_queries_do_not_grow(client, owner, workspace, django_assert_num_queries, size, hx):
    _populate(workspace, owner, size)
    client.force_login(owner)
    # session, user, membership, the list(s), then the context processors' preferences and current membership
    with django_assert_num_queries(6):
        assert client.get(url("credential-table", workspace), headers=hx).status_code == 200
    with django_assert_num_queries(7):
        assert client.get(url("member-table", workspace), headers=hx).status_code == 200
