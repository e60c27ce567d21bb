import time

from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from .models import Membership
from .selectors import current_membership_get, landing_membership_get


class CurrentWorkspaceMiddleware:
    """`request.current_membership`: the user's membership of the session's current
    workspace (falling back to the personal one), resolved only when used."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.current_membership = SimpleLazyObject(lambda: current_membership_get(request))
        return self.get_response(request)


# "Last active" in Users & Groups is kept to this precision, so a signed-in user's
# browsing costs at most one small UPDATE per interval, not one per request.
ACTIVITY_INTERVAL_SECONDS = 300
ACTIVITY_SESSION_KEY = "activity_at"


class ActivityMiddleware:
    """Record when a signed-in user was last active, in the user and in the current workspace."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not hasattr(request, "session"):
            return response
        _record_workspace_used(request, user)
        now = time.time()
        if now - request.session.get(ACTIVITY_SESSION_KEY, 0) < ACTIVITY_INTERVAL_SECONDS:
            return response
        request.session[ACTIVITY_SESSION_KEY] = now
        stamp = timezone.now()
        # request.user is a SimpleLazyObject: type(request.user) is the wrapper, not the model.
        get_user_model().objects.filter(pk=user.pk).update(last_active=stamp)
        workspace_id = _activity_workspace_id(request)
        if workspace_id:
            Membership.objects.filter(user_id=user.pk, workspace_id=workspace_id).update(last_active=stamp)
        return response


# The current workspace already written to Membership.last_used_at in this session: the
# write happens when the user switches (or lands) somewhere else, not on every request.
USED_SESSION_KEY = "workspace_used_id"


def _record_workspace_used(request, user) -> None:
    workspace_id = request.session.get("workspace_id")
    if not workspace_id or request.session.get(USED_SESSION_KEY) == workspace_id:
        return
    request.session[USED_SESSION_KEY] = workspace_id
    Membership.objects.filter(user_id=user.pk, workspace_id=workspace_id).update(last_used_at=timezone.now())


def _activity_workspace_id(request):
    """The workspace the user is active in: the page's own, else the session's current one."""
    workspace = getattr(request, "workspace", None)
    if workspace is not None:
        return workspace.pk
    return request.session.get("workspace_id")


def record_sign_in_activity(sender, request, user, **kwargs) -> None:
    """`user_logged_in` receiver: signing in is activity; it also starts the throttle window."""
    if request is None or not hasattr(request, "session"):
        return
    request.session[ACTIVITY_SESSION_KEY] = time.time()
    get_user_model().objects.filter(pk=user.pk).update(last_active=timezone.now())


def land_in_workspace(sender, request, user, **kwargs) -> None:
    """`user_logged_in` receiver: sign-in lands in the workspace used last (else the most
    active one), whatever the way in (password, SSO, invitation)."""
    if request is None or not hasattr(request, "session"):
        return
    membership = landing_membership_get(user=user)
    if membership is None:
        return
    workspace_id = str(membership.workspace_id)
    request.session["workspace_id"] = workspace_id
    request.session[USED_SESSION_KEY] = workspace_id  # landing is not a new use: no write
    # Signing in is activity in the workspace landed in too (record_sign_in_activity started the
    # interval): Users & Groups shows the user active there at once, not "Never" for an interval.
    Membership.objects.filter(pk=membership.pk).update(last_active=timezone.now())
