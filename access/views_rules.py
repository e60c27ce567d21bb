"""Access Rules (administrators only): the rules table, the ADD/EDIT RULE dialog, delete.

Every view works as a plain page and as an htmx fragment; dialogs load into #modal-content.
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import reswap, retarget, trigger_client_event

from settings_portal.htmx import is_fragment, render_in_modal
from settings_portal.inputs import parse_id
from workspaces.models import Role
from workspaces.scoping import WorkspaceRequest, workspace_view

from . import selectors, services
from .forms_rules import AccessRuleForm, targets_from
from .models import AccessRule, UserGroup
from .selectors import workspace_users

MAX_QUERY = 100
LIST = "access/access_rule_list.html"
FORM = "access/access_rule_form.html"


def _text(data, key: str) -> str:
    return data.get(key, "").strip()[:MAX_QUERY]


def _table_context(request: WorkspaceRequest, resource_type: str = "", target: str = "") -> dict:
    if resource_type not in AccessRule.ResourceType.values:
        resource_type = ""
    return {
        "rows": selectors.rule_list(workspace=request.workspace, resource_type=resource_type, target=target),
        "view": resource_type,
        "target": target,
        "resource_types": AccessRule.ResourceType.choices,
    }


@workspace_view(role=Role.ADMIN)
@require_GET
@vary_on_headers("HX-Request")
def rule_list(request: WorkspaceRequest) -> HttpResponse:
    context = _table_context(request, _text(request.GET, "view"), _text(request.GET, "target"))
    return render(request, f"{LIST}#rule-table" if is_fragment(request) else LIST, context)


def _rule(request: WorkspaceRequest, pk: int) -> AccessRule:
    return get_object_or_404(AccessRule.objects.for_workspace(request.workspace), pk=pk)


def _form_context(request, form, user_ids, group_ids, rule=None, *, object_q="", target_q="", searched=False):
    workspace = request.workspace
    data = form.data if form.is_bound else form.initial
    resource_type = data.get("resource_type") or AccessRule.ResourceType.QUEUE
    selected = str(data.get("object") or "")
    objects = selectors.resource_objects(workspace=workspace, resource_type=resource_type, query=object_q)
    selected_id = parse_id(selected)
    if selected_id is not None and all(pk != selected_id for pk, _ in objects):
        # The chosen object stays listed whatever the filter.
        objects = (
            selectors.resource_objects(workspace=workspace, resource_type=resource_type, pk=selected_id)
            + objects
        )
    users = workspace_users(workspace=workspace, user_ids=user_ids)
    groups = list(UserGroup.objects.for_workspace(workspace).filter(pk__in=group_ids).order_by("name"))
    found_users, found_groups = (None, None)
    if searched:
        found_users, found_groups = selectors.target_search(
            workspace=workspace, query=target_q, exclude_users=user_ids, exclude_groups=group_ids
        )
    return {
        "form": form,
        "rule": rule,
        "resource_type": resource_type,
        "selected": selected,
        "objects": objects,
        "object_q": object_q,
        "target_q": target_q,
        "users": users,
        "groups": groups,
        "found_users": found_users,
        "found_groups": found_groups,
        "searched": searched,
    }


def _rule_form_view(request: WorkspaceRequest, rule: AccessRule | None) -> HttpResponse:
    """Create or edit a rule. Adding/removing a target or searching re-renders the form (targets travel
    as hidden inputs) until Save; the same steps work without JS."""
    if request.method == "GET":
        if rule is None:
            form = AccessRuleForm(initial={"resource_type": "queue", "object": "", "permission": "read"})
            user_ids, group_ids = [], []
        else:
            form = AccessRuleForm(
                initial={
                    "resource_type": rule.resource_type,
                    "object": rule.object_id or "",
                    "permission": rule.permission,
                }
            )
            user_ids = list(rule.users.values_list("pk", flat=True))
            group_ids = list(rule.groups.values_list("pk", flat=True))
        context = _form_context(request, form, user_ids, group_ids, rule)
        return render(request, f"{FORM}#rule-form" if is_fragment(request) else FORM, context)

    user_ids, group_ids = targets_from(request.POST.getlist("targets"))
    object_q, target_q = _text(request.POST, "object_q"), _text(request.POST, "target_q")
    step = request.POST.get("add") or request.POST.get("remove") or "find" in request.POST
    if step:
        # A step while editing: nothing is saved yet.
        add_users, add_groups = targets_from([request.POST.get("add", "")])
        user_ids += [u for u in add_users if u not in user_ids]
        group_ids += [g for g in add_groups if g not in group_ids]
        del_users, del_groups = targets_from([request.POST.get("remove", "")])
        user_ids = [u for u in user_ids if u not in del_users]
        group_ids = [g for g in group_ids if g not in del_groups]
        form = AccessRuleForm(
            initial={k: request.POST.get(k, "") for k in ("resource_type", "object", "permission")}
        )
        context = _form_context(
            request, form, user_ids, group_ids, rule, object_q=object_q, target_q=target_q, searched=True
        )
        return render(request, f"{FORM}#rule-form" if is_fragment(request) else FORM, context)

    form = AccessRuleForm(request.POST)
    saved = None
    if form.is_valid():
        data = form.cleaned_data
        args = {
            "actor": request.user,
            "resource_type": data["resource_type"],
            "object_id": data["object"],
            "permission": data["permission"],
            "user_ids": user_ids,
            "group_ids": group_ids,
        }
        try:
            if rule is None:
                saved = services.rule_create(workspace=request.workspace, **args)
            else:
                saved = services.rule_update(rule=rule, **args)
        except ValidationError as exc:
            for key, errors in exc.message_dict.items():
                form.add_error(key if key in form.fields else None, errors)
    if saved is None:
        context = _form_context(
            request, form, user_ids, group_ids, rule, object_q=object_q, target_q=target_q
        )
        if is_fragment(request):
            return render_in_modal(request, f"{FORM}#rule-form", context)
        return render(request, FORM, context, status=422)
    return _done(request, "Access rule saved.")


def _done(request: WorkspaceRequest, message: str) -> HttpResponse:
    if is_fragment(request):
        response = render(request, f"{LIST}#rule-table", _table_context(request))
        retarget(response, "#rule-table")
        reswap(response, "outerHTML")
        return trigger_client_event(response, "closeModal")
    messages.success(request, message)
    return redirect("access:rule-list", request.workspace.slug)


@workspace_view(role=Role.ADMIN)
@require_http_methods(["GET", "POST"])
def rule_create(request: WorkspaceRequest) -> HttpResponse:
    return _rule_form_view(request, None)


@workspace_view(role=Role.ADMIN)
@require_http_methods(["GET", "POST"])
def rule_edit(request: WorkspaceRequest, pk: int) -> HttpResponse:
    return _rule_form_view(request, _rule(request, pk))


@workspace_view(role=Role.ADMIN)
@require_GET
def rule_search(request: WorkspaceRequest) -> HttpResponse:
    """htmx live search in the dialog: KIND=object (the object list) or target (users and groups)."""
    user_ids, group_ids = targets_from(request.GET.getlist("targets"))
    form = AccessRuleForm(
        initial={k: request.GET.get(k, "") for k in ("resource_type", "object", "permission")}
    )
    kind = request.GET.get("kind")
    context = _form_context(
        request,
        form,
        user_ids,
        group_ids,
        object_q=_text(request.GET, "object_q"),
        target_q=_text(request.GET, "target_q"),
        searched=kind == "target",
    )
    partial = "target-options" if kind == "target" else "object-options"
    return render(request, f"{FORM}#{partial}", context)


@workspace_view(role=Role.ADMIN)
@require_http_methods(["GET", "POST"])
def rule_delete(request: WorkspaceRequest, pk: int) -> HttpResponse:
    rule = _rule(request, pk)
    list_url = reverse("access:rule-list", args=[request.workspace.slug])
    if request.method == "GET":
        context = {
            "title": "Delete access rule",
            "text": f"Delete the rule “{rule}”? Its users, service accounts and groups lose the access it "
            "grants (unless another rule grants it).",
            "action": reverse("access:rule-delete", args=[request.workspace.slug, rule.pk]),
            "button": "Delete",
            "target": "#rule-table",
            "cancel": list_url,
        }
        template = "access/confirm.html"
        return render(request, f"{template}#confirm-form" if is_fragment(request) else template, context)
    services.rule_delete(rule=rule, actor=request.user)
    return _done(request, "Access rule deleted.")
