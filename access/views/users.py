"""The USERS table: members and pending invitations, and removing a member."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers

from settings_portal.forms import error_text
from settings_portal.htmx import go_to, is_fragment, render_confirm, render_fragment_or_page, table_changed
from workspaces.models import Membership, Role
from workspaces.scoping import WorkspaceRequest, workspace_view

from .. import selectors, services
from . import query_of

USERS_PAGE_SIZE = 50
TEMPLATE = "access/user_list.html"


def _user_table_context(request: WorkspaceRequest, query: str = "", page_number=None) -> dict:
    workspace = request.workspace
    page = Paginator(selectors.member_row_list(workspace=workspace, query=query), USERS_PAGE_SIZE).get_page(
        page_number
    )
    rows = list(page.object_list)
    names = selectors.group_names_by_user(
        workspace=workspace, user_ids=[row["row_user_id"] for row in rows if row["row_user_id"]]
    )
    for row in rows:
        row["groups"] = (
            selectors.row_groups(role=row["row_role"], names=names.get(row["row_user_id"], []))
            if row["row_kind"] == "member"
            else []
        )
        row["is_owner"] = row["row_kind"] == "member" and row["row_user_id"] == workspace.owner_id
        row["is_self"] = row["row_user_id"] == request.user.pk
        if row["row_kind"] == "invitation":
            row["invitation"] = {"pk": row["row_id"], "email": row["row_email"]}  # its row actions
    return {
        "page": page,
        "rows": rows,
        "query": query,
        "member_count": selectors.member_count(workspace=workspace),
        "max_members": workspace.max_members,
        # The owner sets the member limit here; other admins read it.
        "can_set_limit": request.membership.role >= Role.OWNER,
    }


@workspace_view(role=Role.ADMIN)
@require_GET
@vary_on_headers("HX-Request")
def user_list(request: WorkspaceRequest) -> HttpResponse:
    context = _user_table_context(request, query_of(request), request.GET.get("page"))
    return render_fragment_or_page(request, TEMPLATE, "user-table", context)


def leave_admin_pages(request: WorkspaceRequest) -> HttpResponse:
    """The admin removed themselves (or their own admin role): these pages are no longer theirs."""
    return go_to(request, reverse("accounts:profile"))


@workspace_view(role=Role.ADMIN)
@require_http_methods(["GET", "POST"])
def member_remove(request: WorkspaceRequest, user_id) -> HttpResponse:
    membership = get_object_or_404(
        Membership.objects.for_workspace(request.workspace).select_related("user"),
        user_id=user_id,
        user__is_service_account=False,
    )
    user = membership.user
    list_url = reverse("access:user-list", args=[request.workspace.slug])
    confirm = {
        "title": "Remove user",
        "text": f"Remove {user.username} ({user.email}) from {request.workspace.name}? They lose access at "
        "once and their credentials for this workspace are revoked. What they logged stays. They can only "
        "come back through a new invitation.",
        "action": reverse("access:member-remove", args=[request.workspace.slug, user.pk]),
        "button": "Remove",
        "target": "#user-table",
        "cancel": list_url,
    }
    if request.method == "GET":
        return render_confirm(request, **confirm)
    try:
        revoked = services.member_remove(workspace=request.workspace, actor=request.user, user=user)
    except (ValidationError, PermissionDenied) as exc:
        if is_fragment(request):
            return render_confirm(request, **confirm, error=error_text(exc))
        messages.error(request, error_text(exc))
        return redirect(list_url)
    if user.pk == request.user.pk:
        messages.success(request, f"You left {request.workspace.name}.")
        return leave_admin_pages(request)
    return table_changed(
        request,
        TEMPLATE,
        "user-table",
        _user_table_context(request),
        page_url=list_url,
        message=f"{user.username} was removed; {revoked} credential(s) revoked.",
    )
