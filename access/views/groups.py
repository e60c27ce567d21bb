"""The USER GROUPS table, the group dialog (name, description, members: the picker) and delete."""

import uuid
from collections.abc import Iterable

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers

from settings_portal.forms import error_text, form_add_service_error
from settings_portal.htmx import (
    go_to,
    is_fragment,
    render_confirm,
    render_dialog_invalid,
    render_fragment_or_page,
    table_changed,
)
from workspaces.models import Membership, Role
from workspaces.scoping import WorkspaceRequest, workspace_view

from .. import selectors, services
from ..forms import GroupForm
from ..models import BuiltinGroup, UserGroup
from ..picker import picker_context, picker_step, user_item
from . import query_of, search_page
from .users import leave_admin_pages

GROUPS_PAGE_SIZE = 50
LIST = "access/group_list.html"
FORM = "access/group_form.html"


def _group_table_context(request: WorkspaceRequest, query: str = "", page_number=None) -> dict:
    rows = selectors.group_list(workspace=request.workspace, query=query)
    page = Paginator(rows, GROUPS_PAGE_SIZE).get_page(page_number)
    return {"page": page, "rows": page.object_list, "query": query}


@workspace_view(role=Role.ADMIN)
@require_GET
@vary_on_headers("HX-Request")
def group_list(request: WorkspaceRequest) -> HttpResponse:
    context = _group_table_context(request, query_of(request), request.GET.get("page"))
    return render_fragment_or_page(request, LIST, "group-table", context)


def member_ids(values: Iterable[str]) -> list[uuid.UUID]:
    """The user ids among VALUES, malformed and repeated ones dropped, in order."""
    ids: list[uuid.UUID] = []
    for raw in values:
        try:
            value = uuid.UUID(str(raw))
        except ValueError:
            continue
        if value not in ids:
            ids.append(value)
    return ids


def _results(request: WorkspaceRequest, search: str, chosen: list):
    return [
        user_item(user)
        for user in selectors.member_search(workspace=request.workspace, query=search, exclude=chosen)
    ]


def _no_results(search: str) -> str:
    return f"No member matches “{search}”." if search else "Everyone is in the group already."


def _picker(request: WorkspaceRequest, form, chosen: list, group, *, search: str = "", results=None) -> dict:
    admins = group is not None and group.builtin == BuiltinGroup.ADMINS
    return picker_context(
        id="group-members",
        field="members",
        legend="Members",
        help="Members of Admins administer the workspace: adding someone makes them an administrator, "
        "removing them makes them a member. The owner always stays."
        if admins
        else "",
        chosen=[
            user_item(user)
            for user in selectors.workspace_users(workspace=request.workspace, user_ids=chosen)
        ],
        empty="No members yet.",
        remove_from="the group",
        errors=form.errors.get("members", []),
        search_field="search",
        search=search,
        search_label="Add members",
        placeholder="Type part of a username or email",
        search_url=reverse("access:group-member-search", args=[request.workspace.slug]),
        results=results,
        no_results=_no_results(search),
    )


def _form_context(request: WorkspaceRequest, form, chosen, group=None, *, search="", results=None) -> dict:
    if group is not None and group.is_builtin:
        form.fields["name"].widget.attrs["readonly"] = True
        form.fields["name"].help_text = "Built-in groups keep their names."
    if results is None and search:
        results = _results(request, search, chosen)
    return {
        "form": form,
        "group": group,
        "picker": _picker(request, form, chosen, group, search=search, results=results),
    }


def _group_form_view(request: WorkspaceRequest, group: UserGroup | None) -> HttpResponse:
    """Create or edit a group. Picking members is steps of the form (access/picker.py) until Save."""
    if request.method == "GET":
        chosen = [user.pk for user in selectors.group_members(group=group)] if group else []
        initial = {"name": group.name, "description": group.description} if group else {}
        form = GroupForm(initial={**initial, "members": chosen})
        return render_fragment_or_page(
            request, FORM, "group-form", _form_context(request, form, chosen, group)
        )

    step = picker_step(request.POST, field="members", parse=member_ids, search_field="search")
    if step.is_step:
        form = GroupForm(initial={key: request.POST.get(key, "") for key in ("name", "description")})
        results = _results(request, step.search, step.chosen)
        context = _form_context(request, form, step.chosen, group, search=step.search, results=results)
        return render_fragment_or_page(request, FORM, "group-form", context)

    form = GroupForm(request.POST)
    saved = None
    if form.is_valid():
        data = form.cleaned_data
        fields = {"actor": request.user, "name": data["name"], "description": data["description"]}
        try:
            if group is None:
                saved = services.group_create(workspace=request.workspace, member_ids=step.chosen, **fields)
            else:
                saved = services.group_update(group=group, member_ids=step.chosen, **fields)
        except (ValidationError, PermissionDenied) as exc:
            form_add_service_error(form, exc)
    if saved is None:
        return render_dialog_invalid(
            request, FORM, "group-form", _form_context(request, form, step.chosen, group)
        )
    if not Membership.objects.filter(pk=request.membership.pk, role__gte=Role.ADMIN).exists():
        # The admin took themselves out of Admins: this page is no longer theirs.
        messages.success(request, f"You are no longer an administrator of {request.workspace.name}.")
        return leave_admin_pages(request)
    return table_changed(
        request,
        LIST,
        "group-table",
        _group_table_context(request),
        page_url=reverse("access:group-list", args=[request.workspace.slug]),
        message=f"Group {saved.name} saved.",
    )


@workspace_view(role=Role.ADMIN)
@require_http_methods(["GET", "POST"])
def group_create(request: WorkspaceRequest) -> HttpResponse:
    return _group_form_view(request, None)


def _group(request: WorkspaceRequest, pk: int) -> UserGroup:
    return get_object_or_404(UserGroup.objects.for_workspace(request.workspace), pk=pk)


@workspace_view(role=Role.ADMIN)
@require_http_methods(["GET", "POST"])
def group_edit(request: WorkspaceRequest, pk: int) -> HttpResponse:
    group = _group(request, pk)
    if group.builtin == BuiltinGroup.USERS:
        messages.error(request, "The Users group holds every member and cannot be modified.")
        return go_to(request, reverse("access:group-list", args=[request.workspace.slug]))
    return _group_form_view(request, group)


@workspace_view(role=Role.ADMIN)
@require_GET
@vary_on_headers("HX-Request")
def group_member_search(request: WorkspaceRequest) -> HttpResponse:
    """The members to pick from as the admin types (users and service accounts)."""
    step = picker_step(request.GET, field="members", parse=member_ids, search_field="search")
    picker = {"results": _results(request, step.search, step.chosen), "no_results": _no_results(step.search)}
    if not is_fragment(request):  # opened as a page: the results inside the layout
        items = [(item.value, f"{item.label} ({item.detail})") for item in picker["results"]]
        back = reverse("access:group-list", args=[request.workspace.slug])
        return search_page(request, "Members to add", items, picker["no_results"], back, "Users & Groups")
    return render(request, "components/picker.html#picker-options", {"picker": picker})


@workspace_view(role=Role.ADMIN)
@require_http_methods(["GET", "POST"])
def group_delete(request: WorkspaceRequest, pk: int) -> HttpResponse:
    group = _group(request, pk)
    list_url = reverse("access:group-list", args=[request.workspace.slug])
    confirm = {
        "title": "Delete group",
        "text": f"Delete the group {group.name}? Its members lose the access privileges granted to it "
        "(unless they have them individually or through another group).",
        "action": reverse("access:group-delete", args=[request.workspace.slug, group.pk]),
        "button": "Delete",
        "target": "#group-table",
        "cancel": list_url,
    }
    if request.method == "GET":
        blocked = f"{group.name} is a built-in group and cannot be deleted." if group.is_builtin else ""
        return render_confirm(request, **confirm, blocked=blocked)
    try:
        services.group_delete(group=group, actor=request.user)
    except ValidationError as exc:
        if is_fragment(request):
            return render_confirm(request, **confirm, error=error_text(exc))
        messages.error(request, error_text(exc))
        return redirect(list_url)
    return table_changed(
        request,
        LIST,
        "group-table",
        _group_table_context(request),
        page_url=list_url,
        message=f"Group {group.name} deleted.",
    )
