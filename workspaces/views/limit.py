"""The member limit dialog (Users & Groups, "N of M" members): the owner sets or clears it."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from settings_portal.forms import form_add_service_error
from settings_portal.htmx import changed, next_url, render_dialog_invalid, render_fragment_or_page

from .. import selectors, services
from ..forms import MemberLimitForm
from ..models import Role
from ..scoping import WorkspaceRequest, workspace_view
from .invitations import members_changed

TEMPLATE = "workspaces/member_limit.html"


@workspace_view(role=Role.OWNER)
@require_http_methods(["GET", "POST"])
def member_limit(request: WorkspaceRequest) -> HttpResponse:
    workspace = request.workspace
    back = next_url(request, reverse("access:user-list", args=[workspace.slug]))
    context = {"workspace": workspace, "next": back, "seats": selectors.seat_count(workspace=workspace)}
    if request.method == "GET":
        form = MemberLimitForm(initial={"max_members": workspace.max_members})
        return render_fragment_or_page(request, TEMPLATE, "limit-form", {**context, "form": form})
    form = MemberLimitForm(request.POST)
    if form.is_valid():
        limit = form.cleaned_data["max_members"]
        try:
            services.workspace_set_member_limit(workspace=workspace, actor=request.user, max_members=limit)
        except (ValidationError, PermissionDenied) as exc:
            form_add_service_error(form, exc)
    if not form.is_valid():
        return render_dialog_invalid(request, TEMPLATE, "limit-form", {**context, "form": form})
    message = f"Member limit set to {limit}." if limit else "The member limit was removed."
    return changed(request, events=members_changed(request), page_url=back, message=message)
