from collections import defaultdict
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event

from accounts.models import User
from settings_portal.caching import shows_secret_once
from settings_portal.htmx import is_fragment, render_in_modal

from . import credentials, invitations, notifications, selectors, services
from .credentials import can_manage, configuration_text, credential_edit_label, credential_list, jupyter_text
from .forms import CredentialLabelForm, InvitationSignupForm, InviteForm, WorkspaceNameForm
from .models import Credential, Invitation, Membership, Notification, Role
from .scoping import WorkspaceRequest, workspace_view

AUDIT_PAGE_SIZE = 50
NOTIFICATION_PAGE_SIZE = 50


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


# --- The Workspace page -------------------------------------------------------------------------


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


def _mark_manageable(queryset, user, memberships_by_workspace: dict) -> list[Credential]:
    rows = list(queryset)
    for credential in rows:
        membership = memberships_by_workspace.get(credential.workspace_id)
        credential.manageable = can_manage(credential=credential, actor=user, membership=membership)
    return rows


def _panel(membership: Membership, *, current_id=None, open_slug: str | None = None, **parts) -> dict:
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
    for credential in _mark_manageable(
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
        _panel(
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


def _render_page(request: HttpRequest, status: int = 200, **extra) -> HttpResponse:
    return render(
        request, "workspaces/workspace_settings.html", _page_context(request, **extra), status=status
    )


@login_required
@require_GET
def workspace_settings(request: HttpRequest) -> HttpResponse:
    return _render_page(request)


@workspace_panel_view()
@require_POST
def workspace_switch(request: WorkspaceRequest) -> HttpResponse:
    if settings.PORTAL_SINGLE_WORKSPACE:
        raise Http404("This portal has a single workspace: there is nothing to switch to.")
    request.session["workspace_id"] = str(request.workspace.id)
    messages.success(request, f"Switched to {request.workspace.name}.")
    url = settings_url(request.workspace, anchor=False)  # the page changes: show it from the top
    if is_fragment(request):
        return HttpResponseClientRedirect(url)
    return redirect(url)


@workspace_panel_view(role=Role.ADMIN)
@require_http_methods(["GET", "POST"])
def workspace_name(request: WorkspaceRequest) -> HttpResponse:
    """Inline edit of the workspace name: GET ?edit=1 gives the input, POST saves."""
    workspace = request.workspace
    fragment = "workspaces/workspace_settings.html#workspace-name"
    panel = _panel(request.membership)
    if request.method == "GET":
        editing = request.GET.get("edit") == "1"
        form = WorkspaceNameForm(initial={"name": workspace.name})
        if not is_fragment(request):
            return _render_page(
                request,
                open_slug=workspace.slug,
                edit_name=workspace.slug if editing else None,
                name_form=form,
            )
        return render(
            request,
            fragment,
            {"panel": panel, "edit_name": workspace.slug if editing else None, "name_form": form},
        )

    form = WorkspaceNameForm(request.POST)
    if form.is_valid():
        try:
            services.workspace_rename(workspace=workspace, actor=request.user, name=form.cleaned_data["name"])
        except ValidationError as exc:
            form.add_error(None, exc)
    if not form.is_valid():
        workspace.refresh_from_db(fields=["name"])
        if is_fragment(request):
            return render(
                request,
                fragment,
                {"panel": panel, "edit_name": workspace.slug, "name_form": form},
                status=422,
            )
        return _render_page(
            request, status=422, open_slug=workspace.slug, edit_name=workspace.slug, name_form=form
        )
    if is_fragment(request):
        return render(request, fragment, {"panel": panel, "name_saved": True})
    messages.success(request, "Workspace name saved.")
    return redirect(settings_url(workspace))


# --- App credentials ----------------------------------------------------------------------------


def _credential_panel(request: WorkspaceRequest) -> dict:
    visible = credential_list(workspace=request.workspace, viewer=request.user, membership=request.membership)
    rows = _mark_manageable(visible, request.user, {request.workspace.id: request.membership})
    return _panel(request.membership, credentials=rows)


def _credential_get(request: WorkspaceRequest, pk: int) -> Credential:
    """An active credential of the request's workspace that the user may manage: 404 if it is
    not in this workspace (or revoked), 403 if it is but the user may not touch it."""
    credential = get_object_or_404(
        Credential.objects.for_workspace(request.workspace).active().select_related("user"), pk=pk
    )
    if not can_manage(credential=credential, actor=request.user, membership=request.membership):
        raise PermissionDenied(
            "You may only change credentials you created, or any in a workspace you administer."
        )
    credential.manageable = True
    return credential


@workspace_panel_view()
@require_GET
def credential_table(request: WorkspaceRequest) -> HttpResponse:
    if not is_fragment(request):
        return redirect(settings_url(request.workspace))
    return render(
        request, "workspaces/workspace_settings.html#credential-table", {"panel": _credential_panel(request)}
    )


@shows_secret_once
@workspace_panel_view()
@require_http_methods(["GET", "POST"])
def credential_create(request: WorkspaceRequest) -> HttpResponse:
    """The "+ Create new credentials" dialog: a label, then the new pair, shown once."""
    template = "workspaces/credential_create.html"
    context = {"workspace": request.workspace}
    if request.method == "GET":
        form = CredentialLabelForm()
        return render(
            request,
            template + ("#credential-form" if is_fragment(request) else ""),
            {**context, "form": form},
        )

    form = CredentialLabelForm(request.POST)
    credential = secret = None
    if form.is_valid():
        try:
            credential, secret = credentials.credential_create(
                workspace=request.workspace, actor=request.user, label=form.cleaned_data["label"]
            )
        except ValidationError as exc:
            form.add_error(None, exc)
    if credential is None:
        return render_in_modal(
            request,
            template + ("#credential-form" if is_fragment(request) else ""),
            {**context, "form": form},
        )
    context |= {
        "credential": credential,
        "configuration": configuration_text(credential=credential, secret=secret),
        "jupyter": jupyter_text(credential=credential, secret=secret),
    }
    response = render(request, template + ("#credential-created" if is_fragment(request) else ""), context)
    if is_fragment(request):
        trigger_client_event(response, f"credentials-changed-{request.workspace.slug}")
    return response


@workspace_panel_view()
@require_http_methods(["GET", "POST"])
def credential_label(request: WorkspaceRequest, pk: int) -> HttpResponse:
    """Inline edit of a credential's label (like the username on Profile)."""
    credential = _credential_get(request, pk)
    fragment = "workspaces/workspace_settings.html#credential-label"
    panel = _panel(request.membership)
    if request.method == "GET":
        editing = request.GET.get("edit") == "1"
        form = CredentialLabelForm(initial={"label": credential.label})
        context = {
            "panel": panel,
            "credential": credential,
            "edit_label": pk if editing else None,
            "label_form": form,
        }
        if not is_fragment(request):
            return _render_page(
                request, open_slug=request.workspace.slug, edit_label=context["edit_label"], label_form=form
            )
        return render(request, fragment, context)

    form = CredentialLabelForm(request.POST)
    if form.is_valid():
        try:
            credential_edit_label(credential=credential, actor=request.user, label=form.cleaned_data["label"])
        except ValidationError as exc:
            form.add_error(None, exc)
    if not form.is_valid():
        credential.refresh_from_db(fields=["label"])
        if is_fragment(request):
            context = {"panel": panel, "credential": credential, "edit_label": pk, "label_form": form}
            return render(request, fragment, context, status=422)
        return _render_page(
            request, status=422, open_slug=request.workspace.slug, edit_label=pk, label_form=form
        )
    if is_fragment(request):
        return render(request, fragment, {"panel": panel, "credential": credential, "label_saved": True})
    messages.success(request, "Label saved.")
    return redirect(settings_url(request.workspace))


@workspace_panel_view()
@require_http_methods(["GET", "POST"])
def credential_revoke(request: WorkspaceRequest, pk: int) -> HttpResponse:
    """Revoke, after a confirmation (GET shows it): irrecoverable."""
    credential = _credential_get(request, pk)
    template = "workspaces/credential_revoke.html"
    if request.method == "GET":
        fragment = template + ("#credential-revoke-form" if is_fragment(request) else "")
        return render(request, fragment, {"workspace": request.workspace, "credential": credential})
    credentials.credential_revoke(credential=credential, actor=request.user)
    if is_fragment(request):
        return render(
            request,
            "workspaces/workspace_settings.html#credential-table",
            {"panel": _credential_panel(request)},
        )
    messages.success(request, f"Credentials {credential.access_key} revoked.")
    return redirect(settings_url(request.workspace))


# --- Members and invitations --------------------------------------------------------------------


def _member_panel(request: WorkspaceRequest) -> dict:
    ids = [request.workspace.id]
    return _panel(
        request.membership,
        members=list(selectors.member_list(workspace_ids=ids)),
        invitations=list(selectors.invitation_pending_list(memberships=[request.membership])),
    )


@workspace_panel_view()
@require_GET
def member_table(request: WorkspaceRequest) -> HttpResponse:
    if not is_fragment(request):
        return redirect(settings_url(request.workspace))
    return render(
        request, "workspaces/workspace_settings.html#member-table", {"panel": _member_panel(request)}
    )


@shows_secret_once
@workspace_panel_view(role=Role.ADMIN)
@require_http_methods(["GET", "POST"])
def invitation_create(request: WorkspaceRequest) -> HttpResponse:
    """INVITE USERS: an email, ADD, then the link to send (also mailed to the invitee)."""
    template = "workspaces/invitation_create.html"
    context = {"workspace": request.workspace}
    if request.method == "GET":
        return render(
            request,
            template + ("#invite-form" if is_fragment(request) else ""),
            {**context, "form": InviteForm()},
        )

    form = InviteForm(request.POST)
    issued = None
    if form.is_valid():
        try:
            issued = invitations.invitation_create(
                workspace=request.workspace, actor=request.user, email=form.cleaned_data["email"]
            )
        except ValidationError as exc:
            form.add_error(None, exc)
    if issued is None:
        return render_in_modal(
            request, template + ("#invite-form" if is_fragment(request) else ""), {**context, "form": form}
        )
    context |= {"invitation": issued.invitation, "url": issued.url, "refreshed": issued.refreshed}
    response = render(request, template + ("#invite-created" if is_fragment(request) else ""), context)
    if is_fragment(request):
        trigger_client_event(response, f"members-changed-{request.workspace.slug}")
    return response


@workspace_panel_view(role=Role.ADMIN)
@require_POST
def invitation_revoke(request: WorkspaceRequest, pk: int) -> HttpResponse:
    invitation = get_object_or_404(Invitation.objects.for_workspace(request.workspace).pending(), pk=pk)
    invitations.invitation_revoke(invitation=invitation, actor=request.user)
    if is_fragment(request):
        return render(
            request, "workspaces/workspace_settings.html#member-table", {"panel": _member_panel(request)}
        )
    messages.success(request, f"The invitation of {invitation.email} was cancelled.")
    return redirect(settings_url(request.workspace))


@workspace_panel_view()
@require_http_methods(["GET", "POST"])
def workspace_leave(request: WorkspaceRequest) -> HttpResponse:
    """LEAVE WORKSPACE, after a confirmation. Not the personal one, not by its owner."""
    template = "workspaces/workspace_leave.html"
    fragment = template + ("#leave-form" if is_fragment(request) else "")
    refusal = services.leave_refusal(membership=request.membership)
    context = {"workspace": request.workspace, "refusal": refusal}
    if request.method == "GET":
        return render(request, fragment, context)
    if refusal:
        return render_in_modal(request, fragment, context)
    services.membership_leave(membership=request.membership)
    personal = selectors.personal_workspace_get(user=request.user)
    if personal is not None:
        request.session["workspace_id"] = str(personal.id)
    else:
        request.session.pop("workspace_id", None)
    messages.success(request, f"You left {request.workspace.name}. Your credentials there were revoked.")
    if is_fragment(request):
        return HttpResponseClientRedirect(settings_url())
    return redirect(settings_url())


# --- Accepting an invitation --------------------------------------------------------------------


def _invalid_invitation(request: HttpRequest, message: str, status: int) -> HttpResponse:
    return render(request, "workspaces/invitation_invalid.html", {"message": message}, status=status)


def _accept(request: HttpRequest, invitation: Invitation, action_url: str) -> HttpResponse:
    """The accept page and its POST, for the token link and for the in-app notification."""
    state = invitations.invitation_state(invitation)
    if state != "pending":
        return _invalid_invitation(request, invitations.STATE_MESSAGES[state], status=410)
    template = "workspaces/invitation_accept.html"
    user = request.user
    context = {"invitation": invitation, "workspace": invitation.workspace, "action_url": action_url}

    if user.is_authenticated:
        if not invitations.email_matches(invitation, user):
            return render(request, template, {**context, "wrong_account": True}, status=403)
        already = Membership.objects.for_workspace(invitation.workspace).filter(user=user).exists()
        if request.method == "GET" or already:
            return render(request, template, {**context, "already_member": already})
        try:
            invitations.invitation_accept(invitation=invitation, user=user)
        except PermissionDenied as exc:
            return render(
                request, template, {**context, "wrong_account": True, "error": str(exc)}, status=403
            )
        except ValidationError as exc:
            return _invalid_invitation(request, " ".join(exc.messages), status=410)
        return _joined(request, invitation)

    if User.objects.filter(email__iexact=invitation.email).exists():
        return render(request, template, {**context, "sign_in_needed": True})
    form = InvitationSignupForm(request.POST if request.method == "POST" else None, email=invitation.email)
    if request.method == "GET":
        return render(request, template, {**context, "form": form})
    if form.is_valid():
        try:
            new_user = invitations.invitation_signup(
                invitation=invitation,
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password1"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            login(request, new_user, backend="accounts.backends.EmailOrUsernameBackend")
            return _joined(request, invitation)
    return render(request, template, {**context, "form": form}, status=422)


def _joined(request: HttpRequest, invitation: Invitation) -> HttpResponse:
    workspace = invitation.workspace
    request.session["workspace_id"] = str(workspace.id)
    messages.success(request, f"Welcome to {workspace.name}.")
    return redirect(settings_url(workspace))


@shows_secret_once  # the token is in the URL
@require_http_methods(["GET", "POST"])
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """`/invite/<token>/`: the link an invitee receives. Works signed in or not."""
    invitation = invitations.invitation_from_token(token)
    if invitation is None:
        return _invalid_invitation(
            request, "This invitation link is not valid. Check that you copied all of it.", status=404
        )
    return _accept(request, invitation, request.path)


@login_required
@require_http_methods(["GET", "POST"])
def invitation_join(request: HttpRequest, pk: int) -> HttpResponse:
    """An invitation to the signed-in user's own email, reached from the in-app notification."""
    invitation = (
        Invitation.objects.dangerously_all()  # any workspace's, but only for the invited email
        .select_related("workspace", "invited_by")
        .filter(pk=pk, email__iexact=request.user.email)
        .first()
    )
    if invitation is None:
        raise Http404("No such invitation")
    return _accept(request, invitation, request.path)


# --- Notifications ------------------------------------------------------------------------------


@login_required
@require_GET
def notification_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.notification_list(user=request.user), NOTIFICATION_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    template = "workspaces/notification_list.html"
    if is_fragment(request):
        template += "#notification-list"
    return render(request, template, {"page": page})


def _safe_next(request: HttpRequest, url: str) -> str | None:
    if url and url_has_allowed_host_and_scheme(url, allowed_hosts=None) and url.startswith("/"):
        return url
    return None


@login_required
@require_POST
def notification_read(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark one notification read; with `open`, go on to where it points."""
    notification = get_object_or_404(Notification.objects.filter(user=request.user), pk=pk)
    notifications.notification_mark_read(user=request.user, notification=notification)
    target = _safe_next(request, notification.url) if request.POST.get("open") else None
    if target:
        return HttpResponseClientRedirect(target) if is_fragment(request) else redirect(target)
    if is_fragment(request):
        return render(
            request,
            "workspaces/notification_list.html#notification-item",
            {"notification": notification, "item_oob_bell": True},
        )
    return redirect("workspaces:notification-list")


@login_required
@require_POST
def notifications_read_all(request: HttpRequest) -> HttpResponse:
    count = notifications.notifications_mark_all_read(user=request.user)
    if is_fragment(request):
        page = Paginator(selectors.notification_list(user=request.user), NOTIFICATION_PAGE_SIZE).get_page(1)
        return render(
            request, "workspaces/notification_list.html#notification-list", {"page": page, "oob_bell": True}
        )
    messages.success(request, f"{count} notification{'s' if count != 1 else ''} marked read.")
    return redirect("workspaces:notification-list")
