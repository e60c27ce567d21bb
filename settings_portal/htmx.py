from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def is_fragment(request: HttpRequest) -> bool:
    """True when htmx asked for a piece of the page (not a boosted navigation or history restore)."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def render_form_error(request: HttpRequest, template: str, context: dict) -> HttpResponse:
    """Re-render a form with its errors: 422 so htmx swaps it and clients see a failure."""
    return render(request, template, context, status=422)


def render_in_modal(request: HttpRequest, template: str, context: dict, status: int = 422) -> HttpResponse:
    """Re-render a dialog's form (with errors) inside the dialog, whatever the form's hx-target."""
    from django_htmx.http import reswap, retarget

    response = render(request, template, context, status=status)
    if is_fragment(request):
        retarget(response, "#modal-content")
        reswap(response, "innerHTML")
    return response
