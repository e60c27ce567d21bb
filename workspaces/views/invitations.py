"""Inviting: the portal's one invitation dialog, used by the Workspace page (INVITE USERS) and by
Users & Groups (+ INVITE USER), and the pending invitations' Resend and Revoke.

A dialog opened from either page goes back to it (`next`); after a change both pages' member
lists refresh themselves (`members-changed`, `members-changed-<slug>`).
"""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from settings_portal.caching import shows_secret_once
from settings_portal.forms import error_messages, error_text
from settings_portal.htmx import (
    changed,
    next_url,
    render_confirm,
    render_dialog_invalid,
    render_fragment_or_page,
    render_shown_once,
)

from .. import invitations
from ..forms import InviteForm
from ..models import Invitation, Role
from ..scoping import WorkspaceRequest
from .page import settings_url, workspace_panel_view

TEMPLATE = "workspaces/invitation_create.html"


def members_changed(request: WorkspaceRequest) -> tuple[str, ...]:
    """The events that refresh every list of the workspace's members and invitations."""
    return ("members-changed", f"members-changed-{request.workspace.slug}")


def _users_url(request: WorkspaceRequest) -> str:
    return reverse("access:user-list", args=[request.workspace.slug])


def _context(request: WorkspaceRequest, **extra) -> dict:
    back = next_url(request, settings_url(request.workspace))
    return {
        "workspace": request.workspace,
        "next": back,
        # The spec: after inviting from the Workspace page, go to Users & Groups (pending
        # invitations are listed there); from Users & Groups, Done just closes the dialog.
        "from_users_page": back.startswith(_users_url(request)),
        "users_url": _users_url(request),
        **extra,
    }


def _invite_all(request: WorkspaceRequest, form: InviteForm) -> list[invitations.IssuedInvitation]:
    """Invite every address of FORM, or none: a refused address (already a member, no room left)
    is named on the form and the others are rolled back, their emails never sent."""
    emails = form.cleaned_data["emails"]
    role = Role(form.cleaned_data["role"])
    issued, refused = [], []
    with transaction.atomic():
        for email in emails:
            try:
                issued.append(
                    invitations.invitation_create(
                        workspace=request.workspace, actor=request.user, email=email, role=role
                    )
                )
            except (ValidationError, PermissionDenied) as exc:
                refused.append((email, exc))
        if refused:
            transaction.set_rollback(True)
    for email, exc in refused:
        for message in error_messages(exc):
            form.add_error(
                "emails", message if email in message or len(emails) == 1 else f"{email}: {message}"
            )
    return [] if refused else issued


@shows_secret_once
@workspace_panel_view(role=Role.ADMIN)
@require_http_methods(["GET", "POST"])
def invitation_create(request: WorkspaceRequest) -> HttpResponse:
    """INVITE USERS: one or more emails and a role, then the links to send (also mailed)."""
    max_role = request.membership.role
    if request.method == "GET":
        context = _context(request, form=InviteForm(max_role=max_role))
        return render_fragment_or_page(request, TEMPLATE, "invite-form", context)
    form = InviteForm(request.POST, max_role=max_role)
    issued = _invite_all(request, form) if form.is_valid() else []
    if not issued:
        return render_dialog_invalid(request, TEMPLATE, "invite-form", _context(request, form=form))
    context = _context(request, issued=issued)
    return render_shown_once(request, TEMPLATE, "invite-created", context, events=members_changed(request))


def _pending(request: WorkspaceRequest, pk: int) -> Invitation:
    return get_object_or_404(Invitation.objects.for_workspace(request.workspace).pending(), pk=pk)


@shows_secret_once
@workspace_panel_view(role=Role.ADMIN)
@require_POST
def invitation_resend(request: WorkspaceRequest, pk: int) -> HttpResponse:
    """A fresh link and expiry for a pending invitation (the old link stops working)."""
    invitation = _pending(request, pk)
    try:
        issued = invitations.invitation_create(
            workspace=request.workspace,
            actor=request.user,
            email=invitation.email,
            role=Role(invitation.role),
        )
    except (ValidationError, PermissionDenied) as exc:
        back = next_url(request, settings_url(request.workspace))
        return render_confirm(
            request,
            title="Resend invitation",
            text=f"The invitation of {invitation.email} could not be sent again.",
            action=request.path,
            button="Resend",
            cancel=back,
            error=error_text(exc),
            next_url=back,
        )
    context = _context(request, issued=[issued])
    return render_shown_once(request, TEMPLATE, "invite-created", context, events=members_changed(request))


@workspace_panel_view(role=Role.ADMIN)
@require_http_methods(["GET", "POST"])
def invitation_revoke(request: WorkspaceRequest, pk: int) -> HttpResponse:
    """Revoke a pending invitation, after a confirmation (GET shows it): its link stops working."""
    invitation = _pending(request, pk)
    back = next_url(request, settings_url(request.workspace))
    if request.method == "GET":
        return render_confirm(
            request,
            title="Revoke invitation",
            text=f"Revoke the invitation of {invitation.email}? Its link stops working.",
            action=reverse("workspaces:invitation-revoke", args=[request.workspace.slug, invitation.pk]),
            button="Revoke",
            cancel=back,
            next_url=back,
        )
    invitations.invitation_revoke(invitation=invitation, actor=request.user)
    return changed(
        request,
        events=members_changed(request),
        page_url=back,
        message=f"The invitation of {invitation.email} was revoked.",
    )


# --- The URLs Users & Groups had before the flow was one (bookmarks, old links) ---------------


@workspace_panel_view(role=Role.ADMIN)
@require_GET
def old_user_invite(request: WorkspaceRequest) -> HttpResponse:
    url = reverse("workspaces:invitation-create", args=[request.workspace.slug])
    return redirect(f"{url}?next={_users_url(request)}")


@workspace_panel_view(role=Role.ADMIN)
@require_GET
def old_invitation_revoke(request: WorkspaceRequest, pk: int) -> HttpResponse:
    url = reverse("workspaces:invitation-revoke", args=[request.workspace.slug, pk])
    return redirect(f"{url}?next={_users_url(request)}")
