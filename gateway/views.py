"""The "ClearML Server" panel of the Workspace page (workspace administrators): the link's status,
a Test connection button (htmx), and in standalone mode how to connect a server. Secrets are
never rendered. The Workspace page loads the panel from here (templates/gateway/_panel.html)."""

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from settings_portal.htmx import is_fragment
from workspaces.models import Role
from workspaces.scoping import WorkspaceRequest, workspace_view

from . import services

PANEL = "gateway/server_panel.html"
PAGE = "gateway/server_page.html"


def _render(request: WorkspaceRequest, *, check: bool) -> HttpResponse:
    context = {
        "workspace": request.workspace,
        "status": services.link_status(request.workspace, check=check),
        "checked_now": check,
    }
    return render(request, PANEL if is_fragment(request) else PAGE, context)


@workspace_view(role=Role.ADMIN, make_current=False)
@require_GET
@vary_on_headers("HX-Request")
def server_panel(request: WorkspaceRequest) -> HttpResponse:
    return _render(request, check=False)


@workspace_view(role=Role.ADMIN, make_current=False)
@require_POST
@vary_on_headers("HX-Request")
def server_test(request: WorkspaceRequest) -> HttpResponse:
    """Test connection: ask the server now (its system login and server.info) and show the result."""
    return _render(request, check=True)
