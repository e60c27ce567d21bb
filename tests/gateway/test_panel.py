"""The "ClearML Server" panel of the Workspace page (workspace administrators)."""

import pytest
from django.urls import reverse

from gateway.models import UpstreamLink

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


def panel_url(workspace):
    return reverse("gateway:server-panel", args=[workspace.slug])


def test_the_workspace_page_loads_the_panel_for_administrators_only(client, workspace, owner, member):
    client.force_login(owner)
    page = client.get(reverse("workspaces:workspace-settings") + f"?open={workspace.slug}").content.decode()
    assert f'hx-get="{panel_url(workspace)}"' in page
    client.force_login(member)
    page = client.get(reverse("workspaces:workspace-settings") + f"?open={workspace.slug}").content.decode()
    assert panel_url(workspace) not in page
    assert client.get(panel_url(workspace), headers=HTMX).status_code == 403


def test_a_linked_workspace_shows_its_server_and_never_its_secrets(client, linked, workspace, owner, standin):
    client.force_login(owner)
    response = client.get(panel_url(workspace), headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert standin.url in html and "Reachable" in html and "2.0.0" in html and standin.company_id in html
    assert "Test connection" in html
    assert standin.token_secret not in html and standin.system_secret_key not in html
    assert "<html" not in html  # a fragment for htmx
    assert "<html" in client.get(panel_url(workspace)).content.decode()  # a page without JavaScript


def test_test_connection_asks_the_server_now(client, linked, workspace, owner, standin):
    client.force_login(owner)
    test_url = reverse("gateway:server-test", args=[workspace.slug])
    standin.go_down()
    html = client.post(test_url, headers=HTMX).content.decode()
    assert "Not reachable" in html and "could not be reached" in html and "Checked just now" in html
    assert UpstreamLink.objects.get().reachable is False
    standin.come_up()
    html = client.post(test_url, headers=HTMX).content.decode()
    assert "Reachable" in html and "Not reachable" not in html
    assert client.get(test_url).status_code == 405


def test_a_standalone_workspace_explains_how_to_connect_a_server(client, workspace, owner):
    client.force_login(owner)
    html = client.get(panel_url(workspace), headers=HTMX).content.decode()
    assert 'data-testid="server-standalone"' in html
    assert "CLEARML_UPSTREAM_API_URL" in html and f"portal_upstream link --workspace {workspace.slug}" in html
    assert "Test connection" not in html
