"""Access Rules (administrators only): the rules table and its filters, the ADD/EDIT RULE dialog (the
object list and the targets: the picker), delete, and Explain access."""

from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.http import HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers

from settings_portal.forms import form_add_service_error
from settings_portal.htmx import (
    is_fragment,
    render_confirm,
    render_dialog_invalid,
    render_fragment_or_page,
    table_changed,
)
from workspaces.models import Role
from workspaces.scoping import WorkspaceRequest, workspace_view

from .. import kinds as object_kinds
from .. import selectors, services
from ..forms_rules import AccessRuleForm, ExplainForm, targets_from
from ..models import AccessRule, UserGroup
from ..picker import MAX_QUERY, group_item, picker_context, picker_step, user_item
from ..selectors import workspace_users
from ..selectors_rules import RuleFilters, rule_page, rule_title, type_label, whole_type_label
from . import explain as explaining
from . import search_page

LIST = "access/access_rule_list.html"
FORM = "access/access_rule_form.html"
EXPLAIN = "access/access_rule_explain.html"
RULE_FIELDS = ("resource_type", "object", "permission")
OBJECT_LIMIT = 50
DATAVIEW = AccessRule.ResourceType.DATAVIEW.value
NO_ANSWER = "The ClearML server did not answer; try again shortly."
NO_ANSWER_FILTER = (
    "The ClearML server did not answer, so rules could not be found by their objects' names "
    "(only by id); try again shortly."
)


def _dialog_types(workspace, current: str = "") -> list[tuple[str, str]]:
    """The resource types the dialogs offer: those WORKSPACE has objects of (all six with a ClearML
    server; the portal's own queues and tasks without one), and CURRENT (a rule being edited)."""
    return [
        (value, label)
        for value, label in AccessRule.ResourceType.choices
        if value == current or object_kinds.kind_for(workspace, value) is not None
    ]


def _default_type(workspace) -> str:
    """The dialogs' first resource type: projects with a ClearML server, queues without one."""
    project = AccessRule.ResourceType.PROJECT.value
    if object_kinds.kind_for(workspace, project) is not None:
        return project
    return AccessRule.ResourceType.QUEUE.value


def _listed(names: list[str]) -> str:
    """ "a, b and c"."""
    return " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)


def _text(data, key: str) -> str:
    return data.get(key, "").strip()[:MAX_QUERY]


def _filters(data) -> RuleFilters:
    view = _text(data, "view")
    return RuleFilters(
        view=view if view in AccessRule.ResourceType.values else "",
        object=_text(data, "object"),
        users=_text(data, "users"),
        groups=_text(data, "groups"),
        service_accounts=_text(data, "service_accounts"),
    )


def _table_context(request: WorkspaceRequest, filters: RuleFilters | None = None, page_number=None) -> dict:
    filters = filters or RuleFilters()
    unanswered: set = set()
    page, rows = rule_page(
        workspace=request.workspace, filters=filters, page_number=page_number, unanswered=unanswered
    )
    return {
        # The object filter matched those kinds' objects by id only: their server did not answer.
        "filter_unanswered": NO_ANSWER_FILTER if unanswered else "",
        "page": page,
        "rows": rows,
        "filters": filters,
        "resource_types": AccessRule.ResourceType.choices,
        "type_names": _listed([label.lower() for _, label in _dialog_types(request.workspace)]),
        # A linked workspace's server is the open-source one: it has no dataviews to list.
        "dataview_note": filters.view == DATAVIEW
        and object_kinds.kind_for(request.workspace, DATAVIEW) is not None,
    }


@workspace_view(role=Role.ADMIN)
@require_GET
@vary_on_headers("HX-Request")
def rule_list(request: WorkspaceRequest) -> HttpResponse:
    context = _table_context(request, _filters(request.GET), request.GET.get("page"))
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


def _picker(
    request: WorkspaceRequest, chosen: list[str], *, target_q: str, searched: bool, errors=()
) -> dict:
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
        errors=errors,
    )


def _search(workspace, resource_type: str, *, query: str = "", pk=None) -> list:
    """The kind's objects matching QUERY (or the one PK) as [(id as text, label)]; raises when the
    objects' owner (the ClearML server) cannot answer."""
    kind = object_kinds.kind_for(workspace, resource_type)
    if kind is None or kind.search is None:
        return []
    found = kind.search(workspace=workspace, query=query, pk=pk, limit=OBJECT_LIMIT)
    return [(str(key), label) for key, label in found]


def _objects(request: WorkspaceRequest, data: dict, object_q: str) -> dict:
    """The object list: the resource type's objects matching OBJECT_Q, the chosen one always in it."""
    workspace = request.workspace
    resource_type = data.get("resource_type") or ""
    if resource_type not in AccessRule.ResourceType.values:
        resource_type = _default_type(workspace)
    selected = str(data.get("object") or "").strip()
    objects, unavailable = [], ""
    kind = object_kinds.kind_for(workspace, resource_type)
    try:
        objects = _search(workspace, resource_type, query=object_q)
        if selected and all(pk != selected for pk, _ in objects):
            # A malformed id for the kind is not listed (the form says so on Save).
            objects = _search(workspace, resource_type, pk=selected) + objects
    except object_kinds.ObjectsUnavailable:  # the list says so; the page still works
        unavailable = NO_ANSWER
    return {
        "resource_type": resource_type,
        "resource_label": type_label(resource_type),
        "whole_type": whole_type_label(resource_type),
        "selected": selected,
        "objects": objects,
        "object_q": object_q,
        "unavailable": unavailable,
        "is_dataview": resource_type == DATAVIEW,
        "no_objects_here": kind is None,
    }


def _rule_data(form) -> dict:
    if form.is_bound:
        return {key: form.data.get(key, "") for key in RULE_FIELDS}
    return dict(form.initial)


def _form_context(request, form, chosen, rule=None, *, object_q="", target_q="", searched=False) -> dict:
    target_errors = form.errors.get("targets", []) if form.is_bound else []
    return {
        "form": form,
        "rule": rule,
        "resource_types": _dialog_types(request.workspace, _rule_data(form).get("resource_type", "")),
        **_objects(request, _rule_data(form), object_q),
        "picker": _picker(request, chosen, target_q=target_q, searched=searched, errors=target_errors),
    }


def _rule_form_view(request: WorkspaceRequest, rule: AccessRule | None) -> HttpResponse:
    """Create or edit a rule. Picking targets is steps of the form (access/picker.py) until Save."""
    if request.method == "GET":
        if rule is None:
            initial = {
                "resource_type": _text(request.GET, "resource_type") or _default_type(request.workspace),
                "object": "",
                "permission": AccessRule.Permission.READ.value,
            }
            chosen = []
        else:
            initial = {
                "resource_type": rule.resource_type,
                "object": "" if rule.object_id is None else str(rule.object_id),
                "permission": rule.permission,
            }
            chosen = [f"u:{pk}" for pk in rule.users.values_list("pk", flat=True)]
            chosen += [f"g:{pk}" for pk in rule.groups.values_list("pk", flat=True)]
        form = AccessRuleForm(initial=initial)
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
        _check_object(request, form)
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
            _add_rule_error(form, exc)
    if saved is None:
        context = _form_context(request, form, step.chosen, rule, object_q=object_q, target_q=step.search)
        return render_dialog_invalid(request, FORM, "rule-form", context)
    return _done(request, "Access rule saved.")


def _check_object(request: WorkspaceRequest, form) -> None:
    """The chosen object must be one the kind's search finds (a malformed id is no such object and
    never reaches the service; a ClearML server that does not answer is an error on the field)."""
    data = form.cleaned_data
    if object_kinds.kind_for(request.workspace, data["resource_type"]) is None:
        form.add_error(
            "resource_type", "This workspace has no such objects: it is not linked to a ClearML server."
        )
        return
    if data["object"] is None:
        return
    try:
        found = _search(request.workspace, data["resource_type"], pk=data["object"])
    except object_kinds.ObjectsUnavailable:
        form.add_error("object", NO_ANSWER)
        return
    if not any(pk == str(data["object"]) for pk, _ in found):
        form.add_error("object", "Pick an object from the list: there is no such object in this workspace.")


def _add_rule_error(form, exc: ValidationError) -> None:
    """The service's refusal on the form; `targets` (not a form field) is shown by the picker."""
    if hasattr(exc, "error_dict") and "targets" in exc.error_dict:
        targets = exc.error_dict.pop("targets")
        form.errors.setdefault("targets", form.error_class()).extend(e.message for e in targets)
        if not exc.error_dict:
            return
    form_add_service_error(form, exc)


def _shown_filters(request: WorkspaceRequest) -> tuple[RuleFilters, str | None]:
    """The filters and page of the rules table the dialog was opened over (htmx's current URL), so
    the refreshed table matches the filter boxes still on the page."""
    current = request.htmx.current_url if getattr(request, "htmx", None) else None
    list_path = reverse("access:rule-list", args=[request.workspace.slug])
    if not current or urlsplit(current).path != list_path:
        return RuleFilters(), None
    query = QueryDict(urlsplit(current).query)
    return _filters(query), query.get("page")


def _done(request: WorkspaceRequest, message: str) -> HttpResponse:
    filters, page_number = _shown_filters(request)
    return table_changed(
        request,
        LIST,
        "rule-table",
        _table_context(request, filters, page_number),
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
@vary_on_headers("HX-Request")
def rule_search(request: WorkspaceRequest) -> HttpResponse:
    """htmx live search in the dialogs: KIND=object (the object list, as one types or when the
    resource type changed), target (users and groups) or subject (Explain)."""
    kind = request.GET.get("kind")
    page = not is_fragment(request)  # opened as a page: the results inside the layout
    rules_page = (reverse("access:rule-list", args=[request.workspace.slug]), "Access Rules")
    if kind == "target":
        step = picker_step(request.GET, field="targets", parse=target_values, search_field="target_q")
        user_ids, group_ids = targets_from(step.chosen)
        found = _found(request, step.search, user_ids, group_ids)
        no_results = f"Nothing matches “{step.search}”."
        if page:
            items = [(item.value, f"{item.label} ({item.detail})") for item in found]
            return search_page(request, "Users, service accounts and groups", items, no_results, *rules_page)
        picker = {"results": found, "no_results": no_results}
        return render(request, "components/picker.html#picker-options", {"picker": picker})
    if kind == "subject":
        context = explaining.subjects(request)
        if page:
            back = (reverse("access:rule-explain", args=[request.workspace.slug]), "Explain access")
            return search_page(request, "Members", context["subjects"], "No member matches.", *back)
        return render(request, f"{EXPLAIN}#subject-options", context)
    data = {key: request.GET.get(key, "") for key in RULE_FIELDS}
    context = _objects(request, data, _text(request.GET, "object_q"))
    if page:
        items = [("", context["whole_type"]), *context["objects"]]
        title = context["resource_label"]
        return search_page(request, title, items, "", *rules_page, unavailable=context["unavailable"])
    return render(request, "access/_rule_object_field.html#object-update", context)


@workspace_view(role=Role.ADMIN)
@require_http_methods(["GET", "POST"])
def rule_delete(request: WorkspaceRequest, pk: int) -> HttpResponse:
    rule = _rule(request, pk)
    if request.method == "GET":
        title = rule_title(rule, workspace=request.workspace)
        return render_confirm(
            request,
            title="Delete access rule",
            text=f"Delete the rule on {title}? Its users, service accounts and groups lose the access it "
            "grants (unless another rule grants it).",
            action=reverse("access:rule-delete", args=[request.workspace.slug, rule.pk]),
            button="Delete",
            target="#rule-table",
            cancel=reverse("access:rule-list", args=[request.workspace.slug]),
        )
    services.rule_delete(rule=rule, actor=request.user)
    return _done(request, "Access rule deleted.")


@workspace_view(role=Role.ADMIN)
@require_GET
@vary_on_headers("HX-Request")
def rule_explain(request: WorkspaceRequest) -> HttpResponse:
    """Explain access: a user's (or service account's) effective level on one object, and why."""
    form = ExplainForm(request.GET) if "explain" in request.GET else ExplainForm(initial=_initial(request))
    data = {key: request.GET.get(key, "") for key in RULE_FIELDS}
    if not data["resource_type"]:
        data["resource_type"] = _default_type(request.workspace)
    context = {
        "form": form,
        "resource_types": _dialog_types(request.workspace, data["resource_type"]),
        **_objects(request, data, _text(request.GET, "object_q")),
        **explaining.subjects(request, selected=request.GET.get("subject", "")),
        "explanation": None,
    }
    if form.is_bound:
        if form.is_valid():
            _check_object(request, form)
        if form.is_valid():
            try:
                label = dict(context["objects"]).get(context["selected"]) or context["whole_type"]
                context["explanation"] = explaining.explain(request.workspace, form.cleaned_data, label)
            except ValidationError as exc:
                form_add_service_error(form, exc)
        if not form.is_valid() or form.errors:
            return render_dialog_invalid(request, EXPLAIN, "explain-form", context)
    return render_fragment_or_page(request, EXPLAIN, "explain-form", context)


def _initial(request: WorkspaceRequest) -> dict:
    return {"resource_type": _default_type(request.workspace), "object": "", "subject": ""}
