"""The portal's htmx gestures, each written once.

Every view answers a plain request with a whole page (or a redirect after a POST) and an htmx
request with a fragment of that page: the partial `template#name` whose root element has the id
`name`. These helpers are the repeated shapes of that answer; `docs/ui.md` says when to use which.
"""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.http import HttpResponseClientRedirect, reswap, retarget, trigger_client_event

MODAL_CONTENT = "#modal-content"
CONFIRM = "components/confirm.html"


def is_fragment(request: HttpRequest) -> bool:
    """True when htmx asked for a piece of the page (not a boosted navigation or history restore)."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def render_fragment_or_page(
    request: HttpRequest, template: str, partial: str, context: dict, status: int = 200
) -> HttpResponse:
    """TEMPLATE's PARTIAL for htmx, the whole TEMPLATE (which works without JS) otherwise."""
    name = f"{template}#{partial}" if is_fragment(request) else template
    return render(request, name, context, status=status)


def render_in_modal(request: HttpRequest, template: str, context: dict, status: int = 422) -> HttpResponse:
    """Render TEMPLATE into the dialog, whatever the hx-target of the form that asked for it."""
    response = render(request, template, context, status=status)
    if is_fragment(request):
        retarget(response, MODAL_CONTENT)
        reswap(response, "innerHTML")
    return response


def render_dialog_invalid(request: HttpRequest, template: str, partial: str, context: dict) -> HttpResponse:
    """A dialog's form with its errors, status 422: back into the dialog for htmx (even when the
    form targets the table behind it), the whole page without JS."""
    if is_fragment(request):
        return render_in_modal(request, f"{template}#{partial}", context)
    return render(request, template, context, status=422)


def render_shown_once(
    request: HttpRequest, template: str, partial: str, context: dict, *, events: tuple[str, ...] = ()
) -> HttpResponse:
    """Something shown once (a secret, an invitation link): in the dialog, with EVENTS sent so the
    tables behind it refresh themselves; the whole page without JS. The view that calls this is
    decorated with `shows_secret_once` (no caching, no referrer)."""
    if not is_fragment(request):
        return render(request, template, context)
    response = render_in_modal(request, f"{template}#{partial}", context, status=200)
    for event in events:
        trigger_client_event(response, event)
    return response


def table_changed(
    request: HttpRequest, template: str, partial: str, context: dict, *, page_url: str, message: str = ""
) -> HttpResponse:
    """After a dialog changed a table: htmx gets the fresh table, swapped over the old one (#PARTIAL)
    and the dialog closed; a plain request goes back to PAGE_URL with MESSAGE."""
    if not is_fragment(request):
        if message:
            messages.success(request, message)
        return redirect(page_url)
    response = render(request, f"{template}#{partial}", context)
    retarget(response, f"#{partial}")
    reswap(response, "outerHTML")
    return trigger_client_event(response, "closeModal")


def go_to(request: HttpRequest, url: str) -> HttpResponse:
    """Leave for another page: a client-side redirect for htmx (a fragment cannot hold a page),
    a plain redirect otherwise."""
    if is_fragment(request):
        return HttpResponseClientRedirect(url)
    return redirect(url)


def changed(
    request: HttpRequest, *, events: tuple[str, ...], page_url: str, message: str = ""
) -> HttpResponse:
    """After a dialog changed something several pages list: htmx gets no content, only EVENTS
    (each list listening with `hx-trigger="<event> from:body"` refreshes itself) and the dialog
    closes; a plain request goes back to PAGE_URL with MESSAGE."""
    if not is_fragment(request):
        if message:
            messages.success(request, message)
        return redirect(page_url)
    response = HttpResponse(status=204)
    for event in (*events, "closeModal"):
        trigger_client_event(response, event)
    return response


def render_confirm(
    request: HttpRequest,
    *,
    title: str,
    text: str,
    action: str,
    button: str,
    cancel: str,
    blocked: str = "",
    error: str = "",
    target: str = "",
    next_url: str = "",
    danger: bool = True,
) -> HttpResponse:
    """The confirmation dialog (a page without JS) whose form POSTs to ACTION: TEXT says what
    happens, BUTTON does it, CANCEL is where the page goes back to. BLOCKED says why it cannot be
    done (no button); ERROR is the refusal of a POST (422). TARGET is the form's hx-target when
    the answer is a fragment that is not retargeted; NEXT_URL travels as the form's `next`.
    DANGER False: the button is the primary one (a confirmed step that loses nothing)."""
    context = {
        "title": title,
        "text": text,
        "action": action,
        "button": button,
        "cancel": cancel,
        "blocked": blocked,
        "error": error,
        "target": target,
        "next": next_url,
        "button_class": "btn-danger" if danger else "btn-primary",
    }
    if error:
        return render_dialog_invalid(request, CONFIRM, "confirm-form", context)
    return render_fragment_or_page(request, CONFIRM, "confirm-form", context)


def next_url(request: HttpRequest, default: str) -> str:
    """Where to go back to: the request's `next` (posted, else in the query) when it is a path
    of this site, else DEFAULT. A dialog used from several pages goes back to the one it came from."""
    url = request.POST.get("next") or request.GET.get("next") or ""
    if (
        url.startswith("/")
        and len(url) <= 2000
        and url_has_allowed_host_and_scheme(url, allowed_hosts=None, require_https=False)
    ):
        return url
    return default
