"""The Workspace page: one panel per workspace of the user (credentials, vault, name, members),
switching the current workspace, renaming it and leaving it.

Acting in a panel does not switch to its workspace (`workspace_panel_view`); the panels'
credential and member tables refresh themselves on `credentials-changed-<slug>` and
`members-changed-<slug>`, which the dialogs (views/credentials.py, views/invitations.py) send.
"""

from collections import defaultdict
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from settings_portal.htmx import go_to, is_fragment, render_confirm
from settings_portal.inline_edit import inline_edit_view

from .. import selectors, services
from ..credentials import can_manage
from ..forms import WorkspaceNameForm
from ..models import Credential, Membership, Role
from ..scoping import WorkspaceRequest, workspace_view

PAGE = "workspaces/workspace_settings.html"


def workspace_panel_view(role: Role = Role.MEMBER) -> Callable:
    """The Workspace page's panels: scoped like any workspace view, without switching to it."""
    return workspace_view(role, make_current=False)


def settings_url(workspace=None, *, anchor: bool = True) -> str:
    """The Workspace page, with WORKSPACE's panel open (and scrolled to, with ANCHOR)."""
    url = reverse("workspaces:workspace-settings")
    if workspace is not None:
        url += f"?open={workspace.slug}"
        if anchor:
            url += f"#workspace-{workspace.slug}"
    return url


def mark_manageable(queryset, user, memberships_by_workspace: dict) -> list[Credential]:
    """The credentials of QUERYSET, each with `manageable`: may USER relabel or revoke it."""
    rows = list(queryset)
    for credential in rows:
        membership = memberships_by_workspace.get(credential.workspace_id)
        credential.manageable = can_manage(credential=credential, actor=user, membership=membership)
    return rows


def panel(membership: Membership, *, current_id=None, open_slug: str | None = None, **parts) -> dict:
    """The context of one workspace's panel; PARTS are its tables (credentials, members, invitations)."""
    workspace = membership.workspace
    is_current = workspace.id == current_id
    return {
        "membership": membership,
        "workspace": workspace,
        "is_current": is_current,
        "open": open_slug == workspace.slug if open_slug else is_current,
        "leave_refusal": services.leave_refusal(membership=membership),
        **parts,
    }


def _listed_memberships(request: HttpRequest) -> list[Membership]:
    if settings.PORTAL_SINGLE_WORKSPACE:
        current = request.current_membership
        return [current] if current else []
    return list(selectors.membership_list(user=request.user))


def _page_context(request: HttpRequest, **extra) -> dict:
    """Everything the Workspace page shows, in a fixed number of queries whatever the
    number of workspaces, credentials, members and invitations."""
    user = request.user
    memberships = _listed_memberships(request)
    by_workspace = {membership.workspace_id: membership for membership in memberships}
    current = request.current_membership
    current_id = current.workspace_id if current else None

    credentials_by_workspace = defaultdict(list)
    for credential in mark_manageable(
        selectors.credential_list_for_memberships(viewer=user, memberships=memberships), user, by_workspace
    ):
        credentials_by_workspace[credential.workspace_id].append(credential)
    members = defaultdict(list)
    for member in selectors.member_list(workspace_ids=by_workspace):
        members[member.workspace_id].append(member)
    pending = defaultdict(list)
    for invitation in selectors.invitation_pending_list(memberships=memberships):
        pending[invitation.workspace_id].append(invitation)

    open_slug = extra.pop("open_slug", None) or request.GET.get("open", "")[:64] or None
    panels = [
        panel(
            membership,
            current_id=current_id,
            open_slug=open_slug,
            credentials=credentials_by_workspace[membership.workspace_id],
            members=members[membership.workspace_id],
            invitations=pending[membership.workspace_id],
        )
        for membership in memberships
    ]
    return {"panels": panels, **extra}


def render_page(request: HttpRequest, status: int = 200, **extra) -> HttpResponse:
    """The whole Workspace page; EXTRA is added to its context (e.g. `open_slug`, an inline edit)."""
    return render(request, PAGE, _page_context(request, **extra), status=status)


@login_required
@require_GET
def workspace_settings(request: HttpRequest) -> HttpResponse:
    return render_page(request)


@workspace_panel_view()
@require_POST
def workspace_switch(request: WorkspaceRequest) -> HttpResponse:
    if settings.PORTAL_SINGLE_WORKSPACE:
        raise Http404("This portal has a single workspace: there is nothing to switch to.")
    request.session["workspace_id"] = str(request.workspace.id)
    messages.success(request, f"Switched to {request.workspace.name}.")
    return go_to(request, settings_url(request.workspace, anchor=False))  # the page changes: from the top


@workspace_panel_view(role=Role.ADMIN)
@require_http_methods(["GET", "POST"])
def workspace_name(request: WorkspaceRequest) -> HttpResponse:
    """Inline edit of the workspace name: GET ?edit=1 gives the input, POST saves."""
    workspace = request.workspace
    return inline_edit_view(
        request,
        key=f"workspace-name-{workspace.slug}",
        form=WorkspaceNameForm,
        initial={"name": workspace.name},
        save=lambda data: services.workspace_rename(
            workspace=workspace, actor=request.user, name=data["name"]
        ),
        fragment=f"{PAGE}#workspace-name",
        context=lambda: {"panel": panel(request.membership)},
        page=lambda **inline: render_page(request, open_slug=workspace.slug, **inline),
        saved_url=settings_url(workspace),
        saved_message="Workspace name saved.",
        reset=lambda: workspace.refresh_from_db(fields=["name"]),
    )


@workspace_panel_view()
@require_http_methods(["GET", "POST"])
def workspace_leave(request: WorkspaceRequest) -> HttpResponse:
    """LEAVE WORKSPACE, after a confirmation. Not the personal one, not by its owner."""
    refusal = services.leave_refusal(membership=request.membership)
    confirm = {
        "title": f"Leave {request.workspace.name}?",
        "text": "You will lose access to its tasks, models and other resources at once, and your credentials "
        "for it will be revoked. What you logged there stays in the workspace. To come back you need a new "
        "invitation.",
        "action": reverse("workspaces:workspace-leave", args=[request.workspace.slug]),
        "button": "Leave workspace",
        "cancel": settings_url(request.workspace),
        "blocked": refusal or "",
    }
    if request.method == "GET":
        return render_confirm(request, **confirm)
    if refusal:
        return render_confirm(request, **confirm, error=refusal)
    services.membership_leave(membership=request.membership)
    personal = selectors.personal_workspace_get(user=request.user)
    if personal is not None:
        request.session["workspace_id"] = str(personal.id)
    else:
        request.session.pop("workspace_id", None)
    messages.success(request, f"You left {request.workspace.name}. Your credentials there were revoked.")
    return go_to(request, settings_url())


def member_panel(request: WorkspaceRequest) -> dict:
    """The panel of the request's workspace with its members and pending invitations."""
    return panel(
        request.membership,
        members=list(selectors.member_list(workspace_ids=[request.workspace.id])),
        invitations=list(selectors.invitation_pending_list(memberships=[request.membership])),
    )


@workspace_panel_view()
@require_GET
def member_table(request: WorkspaceRequest) -> HttpResponse:
    if not is_fragment(request):
        return redirect(settings_url(request.workspace))
    return render(request, f"{PAGE}#member-table", {"panel": member_panel(request)})
