"""The signed-in user's notifications: the list, marking read, and opening what one points to."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from settings_portal.htmx import go_to, is_fragment, render_fragment_or_page

from .. import notifications, selectors
from ..models import Notification

NOTIFICATION_PAGE_SIZE = 50
TEMPLATE = "workspaces/notification_list.html"


def _page(request: HttpRequest, number=None):
    return Paginator(selectors.notification_list(user=request.user), NOTIFICATION_PAGE_SIZE).get_page(number)


@login_required
@require_GET
def notification_list(request: HttpRequest) -> HttpResponse:
    page = _page(request, request.GET.get("page"))
    return render_fragment_or_page(request, TEMPLATE, "notification-list", {"page": page})


def _safe_target(url: str) -> str | None:
    """A notification's link, if it is a path of this site (never another site's URL)."""
    if url and url_has_allowed_host_and_scheme(url, allowed_hosts=None) and url.startswith("/"):
        return url
    return None


@login_required
@require_POST
def notification_read(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark one notification read; with `open`, go on to where it points."""
    notification = get_object_or_404(Notification.objects.filter(user=request.user), pk=pk)
    notifications.notification_mark_read(user=request.user, notification=notification)
    target = _safe_target(notification.url) if request.POST.get("open") else None
    if target:
        return go_to(request, target)
    if is_fragment(request):
        return render(
            request,
            f"{TEMPLATE}#notification-item",
            {"notification": notification, "item_oob_bell": True},
        )
    return redirect("workspaces:notification-list")


@login_required
@require_POST
def notifications_read_all(request: HttpRequest) -> HttpResponse:
    count = notifications.notifications_mark_all_read(user=request.user)
    if is_fragment(request):
        return render(request, f"{TEMPLATE}#notification-list", {"page": _page(request, 1), "oob_bell": True})
    messages.success(request, f"{count} notification{'s' if count != 1 else ''} marked read.")
    return redirect("workspaces:notification-list")
