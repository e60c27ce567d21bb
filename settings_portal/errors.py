"""Error pages: 403, 404, 500 and the CSRF failure, styled and with a way back.

403 and 404 render inside the settings layout for a signed-in user (the plain card layout
otherwise). A member below a workspace view's role (workspaces.scoping.RoleRequired) is told
which role the page needs and who the workspace's administrators are. 500 renders
500.html without a request context: no context processor, no database query, so it still
renders when those are what failed.
"""

import logging

from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.shortcuts import render
from django.template import loader
from django.utils.http import url_has_allowed_host_and_scheme

from workspaces.models import Role
from workspaces.scoping import RoleRequired
from workspaces.selectors import member_list

logger = logging.getLogger(__name__)

FALLBACK_500 = (
    "<!doctype html><title>Server error</title><h1>Something went wrong on our side</h1>"
    '<p>The error was logged. Try again in a moment. <a href="/">Back to the portal</a></p>'
)


def _layout(request: HttpRequest) -> str:
    user = getattr(request, "user", None)
    return "layouts/settings.html" if user is not None and user.is_authenticated else "layouts/plain.html"


def _back_url(request: HttpRequest) -> str:
    """The page the user came from, when it is one of ours; else empty."""
    referer = request.headers.get("Referer", "")
    if referer and url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return referer
    return ""


def _render(request: HttpRequest, template: str, context: dict, status: int) -> HttpResponse:
    context = {"layout": _layout(request), "back_url": _back_url(request), **context}
    return render(request, template, context, status=status)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    context: dict = {"reason": str(exception) if exception is not None else ""}
    if isinstance(exception, RoleRequired):
        workspace = exception.membership.workspace
        context.update(
            workspace=workspace,
            needed_role=Role(exception.role).label,
            your_role=exception.membership.get_role_display(),
            admins=[m for m in member_list(workspace_ids=[workspace.pk]) if m.role >= Role.ADMIN],
        )
    return _render(request, "403.html", context, status=403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    # The exception's message is not shown: it may name what the user must not learn exists.
    return _render(request, "404.html", {}, status=404)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: the form was stale (signed out, new session) or posted from elsewhere."""
    return _render(request, "403_csrf.html", {"reason": reason}, status=403)


def server_error(request: HttpRequest) -> HttpResponse:
    try:
        return HttpResponseServerError(loader.get_template("500.html").render())
    except Exception:  # the error page itself must never fail
        logger.exception("500.html could not be rendered")
        return HttpResponseServerError(FALLBACK_500)
