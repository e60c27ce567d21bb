"""Resource Configuration (pools, profiles, links; the editor) and Resource Policies pages.

Administrators only. Outside the editor the page shows the provisioned configuration;
the editor (`.../resources/editor/`) shows the working draft. Editor actions answer
htmx with the board fragment (`#rc-board`) and plain requests with a redirect, so
every action also works without JavaScript.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings as django_settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from settings_portal.forms import error_messages, form_add_service_error
from settings_portal.htmx import (
    go_to,
    is_fragment,
    render_confirm,
    render_dialog_invalid,
    render_fragment_or_page,
)
from settings_portal.inputs import parse_id
from workspaces.models import Role
from workspaces.scoping import WorkspaceRequest, workspace_view

from . import draft as drafts
from . import selectors
from .forms import ConnectForm, EnqueueForm, PolicyForm, PoolForm, ProfileForm
from .models import Job, Policy
from .services import editor as editor_services
from .services import jobs as job_services
from .services import policies as policy_services
from .services import provisioning as provisioning_services
from .services import scheduling as scheduling_services

PAGE = "resources/resource_config.html"
ADMIN = Role.ADMIN


def _page_context(request: WorkspaceRequest, *, editing: bool, **extra) -> dict:
    workspace = request.workspace
    settings = scheduling_services.settings_get(workspace=workspace)
    provision_blocked: list[str] = []
    if editing:
        state = selectors.editor_state_get(workspace=workspace, settings=settings)
        draft = state.draft
        if state.has_saved or state.has_unsaved:  # why Provision cannot work, shown before it is pressed
            provision_blocked = provisioning_services.draft_errors(workspace=workspace, draft=draft)
    else:
        state = None
        draft = selectors.configuration_get(workspace=workspace)
    return {
        "settings": settings,
        "editing": editing,
        "state": state,
        "board": selectors.board(workspace=workspace, draft=draft),
        "geometry": {"card": selectors.CARD_WIDTH, "gap": selectors.CARD_GAP},
        "provision_blocked": provision_blocked,
        **extra,
    }


def _board(request: WorkspaceRequest, *, errors: list[str] | None = None, status: int = 200) -> HttpResponse:
    """After an editor action: the board (htmx) or back to the editor page (no JS)."""
    if is_fragment(request):
        context = _page_context(request, editing=True, errors=errors or [])
        return render(request, f"{PAGE}#rc-board", context, status=status)
    for error in errors or []:
        messages.error(request, error)
    return redirect("resources:editor", request.workspace.slug)


def _edit(request: WorkspaceRequest, edit) -> HttpResponse:
    try:
        editor_services.editor_edit(workspace=request.workspace, actor=request.user, edit=edit)
    except ValidationError as exc:
        return _board(request, errors=error_messages(exc), status=422)
    return _board(request)


# --- the page ------------------------------------------------------------------------------


@workspace_view(role=ADMIN)
@require_GET
@vary_on_headers("HX-Request")
def config(request: WorkspaceRequest) -> HttpResponse:
    return render(request, PAGE, _page_context(request, editing=False))


@workspace_view(role=ADMIN)
@require_GET
@vary_on_headers("HX-Request")
def editor(request: WorkspaceRequest) -> HttpResponse:
    template = f"{PAGE}#rc-board" if is_fragment(request) else PAGE
    return render(request, template, _page_context(request, editing=True))


@workspace_view(role=ADMIN)
@require_POST
def enable(request: WorkspaceRequest) -> HttpResponse:
    enabled = request.POST.get("enabled") in {"on", "true", "1"}
    settings = scheduling_services.resource_management_set(
        workspace=request.workspace, actor=request.user, enabled=enabled
    )
    if is_fragment(request):
        return render(request, f"{PAGE}#enable-toggle", {"settings": settings, "saved": True})
    messages.success(request, f"Resource management {'enabled' if enabled else 'disabled'}.")
    return redirect(
        (request.POST.get("next") == "editor" and "resources:editor") or "resources:config",
        request.workspace.slug,
    )


# --- editor: pools and profiles ------------------------------------------------------------


def _draft(request: WorkspaceRequest) -> drafts.Draft:
    return selectors.editor_state_get(workspace=request.workspace).draft


def _item(draft: drafts.Draft, kind: str, key: str) -> dict:
    for item in draft[kind]:
        if item["key"] == key:
            return item
    raise Http404("Not in the configuration")


@dataclass(frozen=True)
class Card:
    """A kind of card of the board that the editor adds, edits and deletes with a dialog: a pool or a
    profile. Both dialogs are one template (resources/card_form.html) and one view (`_card_form`)."""

    kind: str  # "pool" | "profile": the URL names' prefix and the form's id
    items: str  # the draft's list
    title: str
    form: type
    add: Callable
    edit: Callable


POOL = Card("pool", "pools", "Pool", PoolForm, drafts.pool_add, drafts.pool_edit)
PROFILE = Card("profile", "profiles", "Profile", ProfileForm, drafts.profile_add, drafts.profile_edit)
CARD_FORM = "resources/card_form.html"


def _card_form(request: WorkspaceRequest, card: Card, key: str | None) -> HttpResponse:
    """Create (KEY None) or edit a card of the draft; Save and Provision apply it later."""
    item = _item(_draft(request), card.items, key) if key else None
    slug = request.workspace.slug
    action = (
        reverse(f"resources:{card.kind}-edit", args=[slug, key])
        if key
        else reverse(f"resources:{card.kind}-new", args=[slug])
    )
    context = {"card": card, "item": item, "action": action}
    if request.method == "GET":
        initial = {name: item[name] for name in card.form.base_fields} if item else {}
        return render_fragment_or_page(
            request, CARD_FORM, "card-form", {**context, "form": card.form(initial=initial)}
        )
    form = card.form(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        edit = (lambda d: card.edit(d, key, **data)) if item else (lambda d: card.add(d, **data))
        try:
            editor_services.editor_edit(workspace=request.workspace, actor=request.user, edit=edit)
        except ValidationError as exc:
            form_add_service_error(form, exc)
    if not form.is_valid():
        return render_dialog_invalid(request, CARD_FORM, "card-form", {**context, "form": form})
    return _board(request)


def _card_delete(
    request: WorkspaceRequest, card: Card, key: str, edit: Callable[[], Callable]
) -> HttpResponse:
    """Delete a card from the draft, after a confirmation (GET shows it); EDIT() gives the draft edit."""
    if request.method == "GET":
        item = _item(_draft(request), card.items, key)
        return render_confirm(
            request,
            title=f"Delete {card.kind}",
            text=f"Delete the {card.kind} {item['name']} from the draft? It stays in effect until you "
            "Save and Provision.",
            action=reverse(f"resources:{card.kind}-delete", args=[request.workspace.slug, key]),
            button="Delete",
            cancel=reverse("resources:editor", args=[request.workspace.slug]),
            target="#rc-board",
        )
    return _edit(request, edit())


@workspace_view(role=ADMIN)
@require_http_methods(["GET", "POST"])
def pool_form(request: WorkspaceRequest, key: str | None = None) -> HttpResponse:
    return _card_form(request, POOL, key)


@workspace_view(role=ADMIN)
@require_http_methods(["GET", "POST"])
def pool_delete(request: WorkspaceRequest, key: str) -> HttpResponse:
    return _card_delete(request, POOL, key, lambda: lambda d: drafts.pool_delete(d, key))


@workspace_view(role=ADMIN)
@require_http_methods(["GET", "POST"])
def profile_form(request: WorkspaceRequest, key: str | None = None) -> HttpResponse:
    return _card_form(request, PROFILE, key)


@workspace_view(role=ADMIN)
@require_http_methods(["GET", "POST"])
def profile_delete(request: WorkspaceRequest, key: str) -> HttpResponse:
    return _card_delete(
        request,
        PROFILE,
        key,
        lambda: editor_services.profile_delete_edit(workspace=request.workspace, key=key),
    )


# --- editor: links and orders ----------------------------------------------------------------


@workspace_view(role=ADMIN)
@require_http_methods(["GET", "POST"])
def connect(request: WorkspaceRequest) -> HttpResponse:
    """Connect Profile: drag a profile's handle onto a pool (the dialog opens with both chosen),
    or choose both in the dialog."""
    draft = _draft(request)
    template = "resources/connect_form.html"
    if request.method == "GET":
        profile, pool = request.GET.get("profile", ""), request.GET.get("pool", "")
        profile_name = next((p["name"] for p in draft["profiles"] if p["key"] == profile), "")
        pool_name = next((p["name"] for p in draft["pools"] if p["key"] == pool), "")
        initial = {"profile": profile, "pool": pool}
        if profile_name and pool_name:
            initial["name"] = f"{profile_name} {pool_name}"[:100]
        form = ConnectForm(initial=initial, draft=draft)
        return render_fragment_or_page(request, template, "connect-form", {"form": form, "draft": draft})
    form = ConnectForm(request.POST, draft=draft)
    if form.is_valid():
        data = form.cleaned_data
        try:
            editor_services.editor_edit(
                workspace=request.workspace,
                actor=request.user,
                edit=lambda d: drafts.link_add(
                    d, profile=data["profile"], pool=data["pool"], name=data["name"]
                ),
            )
        except ValidationError as exc:
            form_add_service_error(form, exc)
    if not form.is_valid():
        return render_dialog_invalid(request, template, "connect-form", {"form": form, "draft": draft})
    return _board(request)


@workspace_view(role=ADMIN)
@require_POST
def link_delete(request: WorkspaceRequest, key: str) -> HttpResponse:
    return _edit(request, lambda d: drafts.link_delete(d, key))


def _current_order(request: WorkspaceRequest, draft: drafts.Draft, scope: str, owner: str) -> list:
    if scope == "pool":
        return [x["key"] for x in drafts.pool_links(draft, owner)]
    if scope == "profile":
        return [x["key"] for x in drafts.profile_links(draft, owner)]
    board = selectors.board(workspace=request.workspace, draft=draft)
    for profile in board["profiles"]:
        if profile["key"] == owner:
            return [q.pk for q in profile["queues"]]
    return []


def _set_order(scope: str, owner: str, order: list, current: list):
    if scope == "pool":
        return lambda d: drafts.execution_set(d, owner, order)
    if scope == "profile":
        return lambda d: drafts.precedence_set(d, owner, order)
    return lambda d: drafts.policy_priority_set(d, owner, order, current)


def _order_args(request: WorkspaceRequest):
    scope, owner = request.POST.get("scope", ""), request.POST.get("owner", "")
    if scope not in {"pool", "profile", "policies"}:
        raise ValidationError("Unknown list.")
    draft = _draft(request)
    kinds = {"pool": "pools", "profile": "profiles", "policies": "profiles"}
    if not any(item["key"] == owner for item in draft[kinds[scope]]):
        raise ValidationError("That card is not in the configuration any more; reload the page.")
    current = _current_order(request, draft, scope, owner)
    return scope, owner, current


def _as_items(scope: str, values: list[str]) -> list:
    if scope != "policies":
        return list(values)
    try:
        return [int(v) for v in values]
    except ValueError:
        raise ValidationError("Unknown policy in the order.") from None


@workspace_view(role=ADMIN)
@require_POST
def order(request: WorkspaceRequest) -> HttpResponse:
    """Set a whole order at once (drag and drop): SCOPE pool|profile|policies, OWNER card key, ORDER items."""
    try:
        scope, owner, current = _order_args(request)
        wanted = _as_items(scope, request.POST.getlist("order"))
    except ValidationError as exc:
        return _board(request, errors=error_messages(exc), status=422)
    return _edit(request, _set_order(scope, owner, wanted, current))


@workspace_view(role=ADMIN)
@require_POST
def move(request: WorkspaceRequest) -> HttpResponse:
    """Move one ITEM of a list one place up or down (the keyboard and no-JS way to reorder)."""
    try:
        scope, owner, current = _order_args(request)
        (item,) = _as_items(scope, [request.POST.get("item", "")])
        direction = request.POST.get("direction")
        if direction not in {"up", "down"}:
            raise ValidationError("Move up or down.")
        wanted = drafts.moved(current, item, direction)
    except ValidationError as exc:
        return _board(request, errors=error_messages(exc), status=422)
    return _edit(request, _set_order(scope, owner, wanted, current))


# --- editor: save, provision, reset, exit ------------------------------------------------


@workspace_view(role=ADMIN)
@require_POST
def save(request: WorkspaceRequest) -> HttpResponse:
    editor_services.draft_save(workspace=request.workspace, actor=request.user)
    messages.success(request, "Draft saved. It takes effect when you provision it.")
    return redirect("resources:editor", request.workspace.slug)


def _provision_confirm(request: WorkspaceRequest, *, error: str = "") -> HttpResponse:
    """The Provision dialog: what Provision will do (with unsaved changes: save them too), or why it
    cannot; ERROR is a refused POST."""
    workspace = request.workspace
    state = selectors.editor_state_get(workspace=workspace)
    action = reverse("resources:provision", args=[workspace.slug])
    blocked = (
        "" if error else " ".join(provisioning_services.draft_errors(workspace=workspace, draft=state.draft))
    )
    if state.has_unsaved:
        title, button, action = "Save and provision", "Save and provision", f"{action}?save=1"
        text = (
            "The editor has unsaved changes. Provision saves them and applies the whole configuration "
            "at once: the scheduler uses it from now on. Running jobs keep running."
        )
    else:
        title, button = "Provision", "Provision"
        text = "Apply the saved draft: the scheduler uses it from now on. Running jobs keep running."
    return render_confirm(
        request,
        title=title,
        text=text,
        action=action,
        button=button,
        cancel=reverse("resources:editor", args=[workspace.slug]),
        blocked=blocked and f"It cannot be provisioned yet: {blocked}",
        error=error,
        danger=False,
    )


@workspace_view(role=ADMIN)
@require_http_methods(["GET", "POST"])
def provision(request: WorkspaceRequest) -> HttpResponse:
    """Provision: apply the saved draft. With unsaved changes it asks first (GET shows the dialog)
    and, confirmed (`?save=1`), saves and provisions in one step. Always ends on the editor page."""
    workspace = request.workspace
    if request.method == "GET":
        return _provision_confirm(request)
    save_too = request.GET.get("save") == "1"
    if not save_too and selectors.editor_state_get(workspace=workspace).has_unsaved:
        # Changes this page did not show (another tab made them): ask before applying them.
        return (
            _provision_confirm(request)
            if is_fragment(request)
            else redirect("resources:provision", workspace.slug)
        )
    try:
        if save_too:
            result = provisioning_services.draft_save_and_provision(workspace=workspace, actor=request.user)
        else:
            result = provisioning_services.draft_provision(workspace=workspace, actor=request.user)
    except ValidationError as exc:
        if is_fragment(request):
            return _provision_confirm(request, error=" ".join(error_messages(exc)))
        for error in error_messages(exc):
            messages.error(request, error)
        return redirect("resources:editor", workspace.slug)
    messages.success(
        request,
        f"Configuration {'saved and ' if save_too else ''}provisioned: the scheduler uses it from now on.",
    )
    for warning in result.warnings:
        messages.warning(request, warning)
    return go_to(request, reverse("resources:editor", args=[workspace.slug]))


@workspace_view(role=ADMIN)
@require_http_methods(["GET", "POST"])
def reset(request: WorkspaceRequest) -> HttpResponse:
    """Reset Configuration, after a confirmation (GET shows it)."""
    if request.method == "GET":
        return render_confirm(
            request,
            title="Reset configuration",
            text="Discard every change that is not provisioned, saved or not? The editor then shows the "
            "provisioned configuration.",
            action=reverse("resources:reset", args=[request.workspace.slug]),
            button="Reset configuration",
            cancel=reverse("resources:editor", args=[request.workspace.slug]),
        )
    editor_services.draft_reset(workspace=request.workspace, actor=request.user)
    messages.success(
        request, "Unprovisioned changes discarded: the editor shows the provisioned configuration."
    )
    return go_to(request, reverse("resources:editor", args=[request.workspace.slug]))


@workspace_view(role=ADMIN)
@require_http_methods(["GET", "POST"])
def exit_editor(request: WorkspaceRequest) -> HttpResponse:
    """Exit the editor; with unsaved changes, after a confirmation (GET shows it)."""
    if request.method == "GET":
        return render_confirm(
            request,
            title="Leave the editor",
            text="Leave the editor? Unsaved changes are lost (a saved draft stays).",
            action=reverse("resources:exit", args=[request.workspace.slug]),
            button="Leave the editor",
            cancel=reverse("resources:editor", args=[request.workspace.slug]),
        )
    editor_services.editor_exit(workspace=request.workspace, actor=request.user)
    return go_to(request, reverse("resources:config", args=[request.workspace.slug]))


# --- resource policies -----------------------------------------------------------------------


def _policies_context(request: WorkspaceRequest) -> dict:
    workspace = request.workspace
    policy_id = parse_id(request.GET.get("policy", ""))
    shown = None
    if policy_id is not None:
        shown = Policy.objects.for_workspace(workspace).filter(pk=policy_id).first()
    return {
        "rows": selectors.policy_dashboard(workspace=workspace),
        "jobs": selectors.active_jobs(workspace=workspace, policy=shown),
        "shown": shown,
        "settings": scheduling_services.settings_get(workspace=workspace),
        "clearml_web_url": django_settings.CLEARML_UPSTREAM_WEB_URL,
        "agent_queues": selectors.agent_queue_list(workspace=workspace),
        "queue_problems": selectors.upstream_queue_problem_list(workspace=workspace),
    }


@workspace_view(role=ADMIN)
@require_GET
@vary_on_headers("HX-Request")
def policies(request: WorkspaceRequest) -> HttpResponse:
    template = "resources/policy_list.html"
    if is_fragment(request):
        template += "#policy-dashboard"
    return render(request, template, _policies_context(request))


def _policies_done(request: WorkspaceRequest, message: str) -> HttpResponse:
    messages.success(request, message)
    return go_to(request, reverse("resources:policies", args=[request.workspace.slug]))


@workspace_view(role=ADMIN)
@require_http_methods(["GET", "POST"])
def policy_form(request: WorkspaceRequest, pk: int | None = None) -> HttpResponse:
    policy = get_object_or_404(Policy.objects.for_workspace(request.workspace), pk=pk) if pk else None
    template = "resources/policy_form.html"
    initial = {}
    if policy:
        initial = {
            "name": policy.name,
            "group": policy.group_id,
            "reservation": drafts.amount_text(policy.reservation),
            "limit": drafts.amount_text(policy.limit),
            "description": policy.description,
        }
    if request.method == "GET":
        form = PolicyForm(initial=initial, workspace=request.workspace, policy=policy)
        return render_fragment_or_page(request, template, "policy-form", {"form": form, "policy": policy})
    form = PolicyForm(request.POST, workspace=request.workspace, policy=policy)
    if form.is_valid():
        data = form.cleaned_data
        values = {
            "name": data["name"],
            "group": data["group"],
            "reservation": data["reservation"],
            "limit": data["limit"],
            "description": data["description"],
            "queues": [policy_services.QueueSpec(profile=f, name=n) for f, n in form.chosen_queues()],
        }
        try:
            if policy:
                policy_services.policy_update(policy=policy, actor=request.user, **values)
            else:
                policy = policy_services.policy_create(
                    workspace=request.workspace, actor=request.user, **values
                )
        except ValidationError as exc:
            form_add_service_error(form, exc)
    if not form.is_valid():
        return render_dialog_invalid(
            request, template, "policy-form", {"form": form, "policy": policy if pk else None}
        )
    return _policies_done(request, f"Policy “{policy.name}” saved.")


@workspace_view(role=ADMIN)
@require_http_methods(["GET", "POST"])
def policy_delete(request: WorkspaceRequest, pk: int) -> HttpResponse:
    policy = get_object_or_404(Policy.objects.for_workspace(request.workspace), pk=pk)
    if request.method == "GET":
        pending = policy.jobs.filter(state="pending").count()
        leave = (
            f"Its {pending} pending job{'s leave' if pending != 1 else ' leaves'} the queue (back to draft). "
        )
        return render_confirm(
            request,
            title="Delete policy",
            text=f"Delete the policy {policy.name} and its queues? {leave if pending else ''}"
            "Running jobs finish normally.",
            action=reverse("resources:policy-delete", args=[request.workspace.slug, policy.pk]),
            button="Delete",
            cancel=reverse("resources:policies", args=[request.workspace.slug]),
        )
    name = policy.name
    dropped = policy_services.policy_delete(policy=policy, actor=request.user)
    return _policies_done(request, f"Policy “{name}” deleted; {dropped} pending job(s) went back to draft.")


@workspace_view(role=ADMIN)
@require_http_methods(["GET", "POST"])
def enqueue(request: WorkspaceRequest) -> HttpResponse:
    template = "resources/enqueue_form.html"
    if request.method == "GET":
        form = EnqueueForm(workspace=request.workspace, initial={"queue": request.GET.get("queue")})
        return render_fragment_or_page(request, template, "enqueue-form", {"form": form})
    form = EnqueueForm(request.POST, workspace=request.workspace)
    if form.is_valid():
        try:
            job = job_services.job_enqueue(
                workspace=request.workspace,
                actor=request.user,
                queue=form.cleaned_data["queue"],
                name=form.cleaned_data["name"],
            )
        except (ValidationError, PermissionDenied) as exc:
            form_add_service_error(form, exc)
    if not form.is_valid():
        return render_dialog_invalid(request, template, "enqueue-form", {"form": form})
    return _policies_done(request, f"Job “{job.name}” enqueued in {job.queue_name}.")


@workspace_view(role=ADMIN)
@require_http_methods(["GET", "POST"])
def job_abort(request: WorkspaceRequest, pk: int) -> HttpResponse:
    """Abort a pending or running job, after a confirmation (GET shows it)."""
    job = get_object_or_404(Job.objects.for_workspace(request.workspace), pk=pk)
    if request.method == "GET":
        return render_confirm(
            request,
            title="Abort job",
            text=f"Abort the job {job.name}? A running job's resources are freed for the next in line.",
            action=reverse("resources:job-abort", args=[request.workspace.slug, job.pk]),
            button="Abort",
            cancel=reverse("resources:policies", args=[request.workspace.slug]),
            target="#policy-dashboard",
        )
    if job_services.job_abort(job=job, actor=request.user, membership=request.membership):
        message = f"Job “{job.name}” aborted."
    else:
        message = f"Job “{job.name}” was not queued or running any more."
    if is_fragment(request):
        return render(request, "resources/policy_list.html#policy-dashboard", _policies_context(request))
    messages.success(request, message)
    return redirect("resources:policies", request.workspace.slug)
