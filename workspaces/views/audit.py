"""The audit log page (administrators): every administrative change, filtered and paginated."""

from django.core.paginator import Paginator
from django.http import HttpResponse
from django.views.decorators.vary import vary_on_headers

from settings_portal.htmx import render_fragment_or_page

from .. import selectors
from ..models import Role
from ..scoping import WorkspaceRequest, workspace_view

AUDIT_PAGE_SIZE = 50


@workspace_view(role=Role.ADMIN)
@vary_on_headers("HX-Request")
def audit_log(request: WorkspaceRequest) -> HttpResponse:
    filters = {
        "action": request.GET.get("action", "").strip()[:64],
        "actor": request.GET.get("actor", "").strip()[:254],
        "query": request.GET.get("q", "").strip()[:255],
    }
    events = selectors.audit_event_list(workspace=request.workspace, **filters)
    page = Paginator(events, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    return render_fragment_or_page(
        request, "workspaces/audit_log.html", "audit-table", {"page": page, "filters": filters}
    )
