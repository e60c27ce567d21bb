from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.vary import vary_on_headers

from settings_portal.htmx import is_fragment

from . import selectors
from .models import Role
from .scoping import WorkspaceRequest, workspace_view

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
    template = "workspaces/audit_log.html"
    if is_fragment(request):
        template += "#audit-table"
    return render(request, template, {"page": page, "filters": filters})
