"""The inline edit: a value shown with a pencil; the pencil swaps in an input, ✓ saves, ✕ or Escape
cancels (the username on Profile, a workspace's name, a credential's label).

The view side is `inline_edit_view`; the template side is the `{% inline_edit %}` tag of the
`portal` library (templates/components/inline_edit.html). They agree on three context names:
`inline_editing` (the key of the field showing its input), `inline_form` (its form, with errors)
and `inline_saved` (the key of the field just saved). Without JavaScript the pencil is a link
to `?edit=1`, which renders the whole page with that field's input, and the form posts normally.
"""

from collections.abc import Callable

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from .forms import form_add_service_error
from .htmx import is_fragment


def inline_edit_view(
    request: HttpRequest,
    *,
    key: str,
    form: type[forms.Form],
    initial: dict,
    save: Callable[[dict], object],
    fragment: str,
    context: Callable[[], dict],
    page: Callable[..., HttpResponse],
    saved_url: str,
    saved_message: str,
    reset: Callable[[], object] | None = None,
) -> HttpResponse:
    """GET ?edit=1: the input (GET without it: the value, i.e. cancel); POST: save.

    KEY names the field (the id of the partial's root element); SAVE(cleaned_data) calls the
    service, which may refuse with ValidationError or PermissionDenied; FRAGMENT is the
    `template#partial` htmx swaps; CONTEXT() gives the rest of the partial's context; PAGE(status=,
    **inline) renders the whole page for plain requests. RESET() undoes what a refused save left
    on the object in memory before the value is shown again.
    """
    if request.method == "GET":
        editing = {"inline_editing": key if request.GET.get("edit") == "1" else None}
        editing["inline_form"] = form(initial=initial)
        if not is_fragment(request):
            return page(status=200, **editing)
        return render(request, fragment, {**context(), **editing})

    bound = form(request.POST)
    if bound.is_valid():
        try:
            save(bound.cleaned_data)
        except (ValidationError, PermissionDenied) as exc:
            form_add_service_error(bound, exc)
    if not bound.is_valid():
        if reset is not None:
            reset()
        invalid = {"inline_editing": key, "inline_form": bound}
        if is_fragment(request):
            return render(request, fragment, {**context(), **invalid}, status=422)
        return page(status=422, **invalid)
    if is_fragment(request):
        return render(request, fragment, {**context(), "inline_saved": key})
    messages.success(request, saved_message)
    return redirect(saved_url)
