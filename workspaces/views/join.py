"""The invitee's side of an invitation: the emailed link (`/invite/<token>/`), which works signed
in or not (sign-up through the invitation), and joining from the in-app notification."""

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts.models import User
from settings_portal.caching import shows_secret_once
from settings_portal.forms import error_text, form_add_service_error

from .. import invitations
from ..forms import InvitationSignupForm
from ..models import Invitation, Membership
from .page import settings_url

TEMPLATE = "workspaces/invitation_accept.html"


def _invalid_invitation(request: HttpRequest, message: str, status: int) -> HttpResponse:
    return render(request, "workspaces/invitation_invalid.html", {"message": message}, status=status)


def _accept(request: HttpRequest, invitation: Invitation, action_url: str) -> HttpResponse:
    """The accept page and its POST, for the token link and for the in-app notification."""
    state = invitations.invitation_state(invitation)
    if state != "pending":
        return _invalid_invitation(request, invitations.STATE_MESSAGES[state], status=410)
    user = request.user
    context = {"invitation": invitation, "workspace": invitation.workspace, "action_url": action_url}

    if user.is_authenticated:
        if not invitations.email_matches(invitation, user):
            return render(request, TEMPLATE, {**context, "wrong_account": True}, status=403)
        already = Membership.objects.for_workspace(invitation.workspace).filter(user=user).exists()
        if request.method == "GET" or already:
            return render(request, TEMPLATE, {**context, "already_member": already})
        try:
            invitations.invitation_accept(invitation=invitation, user=user)
        except PermissionDenied as exc:
            return render(
                request, TEMPLATE, {**context, "wrong_account": True, "error": str(exc)}, status=403
            )
        except ValidationError as exc:
            return _invalid_invitation(request, error_text(exc), status=410)
        return _joined(request, invitation)

    if User.objects.filter(email__iexact=invitation.email).exists():
        return render(request, TEMPLATE, {**context, "sign_in_needed": True})
    form = InvitationSignupForm(request.POST if request.method == "POST" else None, email=invitation.email)
    if request.method == "GET":
        return render(request, TEMPLATE, {**context, "form": form})
    if form.is_valid():
        try:
            new_user = invitations.invitation_signup(
                invitation=invitation,
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password1"],
            )
        except ValidationError as exc:
            form_add_service_error(form, exc)
        else:
            login(request, new_user, backend="accounts.backends.EmailOrUsernameBackend")
            return _joined(request, invitation)
    return render(request, TEMPLATE, {**context, "form": form}, status=422)


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
