"""Access Rules (administrators only): the rules table, the ADD/EDIT RULE dialog (the object list
and the targets: the picker), delete."""

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers

from settings_portal.forms import form_add_service_error
from settings_portal.htmx import render_confirm, render_dialog_invalid, render_fragment_or_page, table_changed
from settings_portal.inputs import parse_id
from workspaces.models import Role
from workspaces.scoping import WorkspaceRequest, workspace_view

from .. import selectors, services
from ..forms_rules import AccessRuleForm, targets_from
from ..models import AccessRule, UserGroup
from ..picker import MAX_QUERY, group_item, picker_context, picker_step, user_item
from ..selectors import workspace_users

LIST = "access/access_rule_list.html"
FORM = "access/access_rule_form.html"
RULE_FIELDS = ("resource_type", "object", "permission")


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
    return render_fragment_or_page(request, LIST, "rule-table", context)


def _rule(request: WorkspaceRequest, pk: int) -> AccessRule:
    return get_object_or_404(AccessRule.objects.for_workspace(request.workspace), pk=pk)


def target_values(values) -> list[str]:
    """The posted targets (`u:<user id>`, `g:<group id>`), malformed and repeated ones dropped."""
    user_ids, group_ids = targets_from(values)
    return [f"u:{uid}" for uid in user_ids] + [f"g:{gid}" for gid in group_ids]


def _found(request: WorkspaceRequest, query: str, user_ids, group_ids) -> list:
    users, groups = selectors.target_search(
        workspace=request.workspace, query=query, exclude_users=user_ids, exclude_groups=group_ids
    )
    return [user_item(u, f"u:{u.pk}") for u in users] + [group_item(g, f"g:{g.pk}") for g in groups]


def _picker(request: WorkspaceRequest, chosen: list[str], *, target_q: str, searched: bool) -> dict:
    user_ids, group_ids = targets_from(chosen)
    users = workspace_users(workspace=request.workspace, user_ids=user_ids)
    groups = UserGroup.objects.for_workspace(request.workspace).filter(pk__in=group_ids).order_by("name")
    return picker_context(
        id="rule-targets",
        field="targets",
        legend="Users, service accounts and groups",
        chosen=[user_item(u, f"u:{u.pk}") for u in users] + [group_item(g, f"g:{g.pk}") for g in groups],
        empty="No targets yet.",
        remove_from="the rule",
        search_field="target_q",
        search=target_q,
        search_label="Add users, service accounts or groups",
        placeholder="Type part of a name",
        search_url=reverse("access:rule-search", args=[request.workspace.slug]) + "?kind=target",
        results=_found(request, target_q, user_ids, group_ids) if searched else None,
        no_results=f"Nothing matches “{target_q}”.",
    )


def _objects(request: WorkspaceRequest, form, object_q: str) -> dict:
    """The object list: the resource type's objects matching OBJECT_Q, the chosen one always in it."""
    workspace = request.workspace
    data = form.data if form.is_bound else form.initial
    resource_type = data.get("resource_type") or AccessRule.ResourceType.QUEUE
    selected = str(data.get("object") or "")
    objects = selectors.resource_objects(workspace=workspace, resource_type=resource_type, query=object_q)
    selected_id = parse_id(selected)
    if selected_id is not None and all(pk != selected_id for pk, _ in objects):
        objects = (
            selectors.resource_objects(workspace=workspace, resource_type=resource_type, pk=selected_id)
            + objects
        )
    return {"resource_type": resource_type, "selected": selected, "objects": objects, "object_q": object_q}


def _form_context(request, form, chosen, rule=None, *, object_q="", target_q="", searched=False) -> dict:
    return {
        "form": form,
        "rule": rule,
        **_objects(request, form, object_q),
        "picker": _picker(request, chosen, target_q=target_q, searched=searched),
    }


def _rule_form_view(request: WorkspaceRequest, rule: AccessRule | None) -> HttpResponse:
    """Create or edit a rule. Picking targets is steps of the form (access/picker.py) until Save."""
    if request.method == "GET":
        if rule is None:
            form = AccessRuleForm(initial={"resource_type": "queue", "object": "", "permission": "read"})
            chosen = []
        else:
            form = AccessRuleForm(
                initial={
                    "resource_type": rule.resource_type,
                    "object": rule.object_id or "",
                    "permission": rule.permission,
                }
            )
            chosen = [f"u:{pk}" for pk in rule.users.values_list("pk", flat=True)]
            chosen += [f"g:{pk}" for pk in rule.groups.values_list("pk", flat=True)]
        return render_fragment_or_page(request, FORM, "rule-form", _form_context(request, form, chosen, rule))

    step = picker_step(request.POST, field="targets", parse=target_values, search_field="target_q")
    object_q = _text(request.POST, "object_q")
    if step.is_step:
        form = AccessRuleForm(initial={key: request.POST.get(key, "") for key in RULE_FIELDS})
        context = _form_context(
            request, form, step.chosen, rule, object_q=object_q, target_q=step.search, searched=True
        )
        return render_fragment_or_page(request, FORM, "rule-form", context)

    form = AccessRuleForm(request.POST)
    saved = None
    if form.is_valid():
        user_ids, group_ids = targets_from(step.chosen)
        data = form.cleaned_data
        fields = {
            "actor": request.user,
            "resource_type": data["resource_type"],
            "object_id": data["object"],
            "permission": data["permission"],
            "user_ids": user_ids,
            "group_ids": group_ids,
        }
        try:
            if rule is None:
                saved = services.rule_create(workspace=request.workspace, **fields)
            else:
                saved = services.rule_update(rule=rule, **fields)
        except ValidationError as exc:
            form_add_service_error(form, exc)
    if saved is None:
        context = _form_context(request, form, step.chosen, rule, object_q=object_q, target_q=step.search)
        return render_dialog_invalid(request, FORM, "rule-form", context)
    return _done(request, "Access rule saved.")


def _done(request: WorkspaceRequest, message: str) -> HttpResponse:
    return table_changed(
        request,
        LIST,
        "rule-table",
        _table_context(request),
        page_url=reverse("access:rule-list", args=[request.workspace.slug]),
        message=message,
    )


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
    if request.GET.get("kind") == "target":
        step = picker_step(request.GET, field="targets", parse=target_values, search_field="target_q")
        user_ids, group_ids = targets_from(step.chosen)
        picker = {
            "results": _found(request, step.search, user_ids, group_ids),
            "no_results": f"Nothing matches “{step.search}”.",
        }
        return render(request, "components/picker.html#picker-options", {"picker": picker})
    form = AccessRuleForm(initial={key: request.GET.get(key, "") for key in RULE_FIELDS})
    return render(request, f"{FORM}#object-options", _objects(request, form, _text(request.GET, "object_q")))


@workspace_view(role=Role.ADMIN)
@require_http_methods(["GET", "POST"])
def rule_delete(request: WorkspaceRequest, pk: int) -> HttpResponse:
    rule = _rule(request, pk)
    if request.method == "GET":
        return render_confirm(
            request,
            title="Delete access rule",
            text=f"Delete the rule “{rule}”? Its users, service accounts and groups lose the access it "
            "grants (unless another rule grants it).",
            action=reverse("access:rule-delete", args=[request.workspace.slug, rule.pk]),
            button="Delete",
            target="#rule-table",
            cancel=reverse("access:rule-list", args=[request.workspace.slug]),
        )
    services.rule_delete(rule=rule, actor=request.user)
    return _done(request, "Access rule deleted.")
