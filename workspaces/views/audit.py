"""The audit log page (administrators): every administrative change, readable, filtered and
paginated, and its CSV export (the same filters)."""

import csv
import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterator

from django.core.paginator import Paginator
from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from settings_portal.htmx import render_fragment_or_page

from .. import selectors
from ..audit_display import EventRow, action_label, event_row
from ..forms import AuditFilterForm
from ..models import Role
from ..scoping import WorkspaceRequest, workspace_view

AUDIT_PAGE_SIZE = 50
CSV_COLUMNS = [
    "time (UTC)",
    "actor",
    "on behalf of",
    "action",
    "what",
    "object type",
    "object id",
    "object",
    "changes",
    "before",
    "after",
    "ip address",
]
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _action_groups(actions: list[str], selected: str) -> list[dict]:
    """The action filter's options: per area, "every <area> action" then each action."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for action in actions:
        groups[action.partition(".")[0]].append({"value": action, "label": action_label(action)})
    if selected and selected not in actions and selected not in {f"{area}." for area in groups}:
        groups["other"].append({"value": selected, "label": selected})
    return [
        {
            "area": area,
            "all": f"{area}.",
            "label": area.replace("_", " ").capitalize(),
            "actions": items,
        }
        for area, items in sorted(groups.items())
    ]


@workspace_view(role=Role.ADMIN)
@require_GET
@vary_on_headers("HX-Request")
def audit_log(request: WorkspaceRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET)
    filters = form.filters()
    events = selectors.audit_event_list(workspace=request.workspace, **filters)
    page = Paginator(events, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [event_row(event) for event in page.object_list]
    choices = selectors.audit_filter_choices(workspace=request.workspace)
    query = request.GET.copy()
    query.pop("page", None)
    return render_fragment_or_page(
        request,
        "workspaces/audit_log.html",
        "audit-table",
        {
            "page": page,
            "rows": rows,
            "form": form,
            "filters": filters,
            "filtered": any(filters.values()),
            "action_groups": _action_groups(choices["actions"], filters["action"]),
            "actors": choices["actors"],
            "export_query": query.urlencode(),
        },
    )


def csv_safe(value) -> str:
    """VALUE as a CSV cell a spreadsheet shows as text: one starting like a formula gets a quote."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def _csv_cells(row: EventRow) -> list[str]:
    event = row.event
    cells = [
        event.created_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S"),
        event.actor_label,
        event.on_behalf_of_label,
        event.action,
        row.action_label,
        row.target_kind,
        event.target_id,
        event.target_label,
        row.changes_text,
        json.dumps(event.before, sort_keys=True) if event.before is not None else "",
        json.dumps(event.after, sort_keys=True) if event.after is not None else "",
        event.ip_address or "",
    ]
    return [csv_safe(cell) for cell in cells]


class _Echo:
    """A file that hands back what is written: csv.writer's rows, one string each."""

    def write(self, value: str) -> str:
        return value


def _csv_lines(events) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff"  # so spreadsheets read the file as UTF-8
    yield writer.writerow(CSV_COLUMNS)
    for event in events.iterator(chunk_size=500):
        yield writer.writerow(_csv_cells(event_row(event)))


@workspace_view(role=Role.ADMIN)
@require_GET
def audit_export(request: WorkspaceRequest) -> StreamingHttpResponse:
    """The filtered log as CSV, streamed row by row whatever its size."""
    filters = AuditFilterForm(request.GET).filters()
    events = selectors.audit_event_list(workspace=request.workspace, **filters)
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response = StreamingHttpResponse(_csv_lines(events), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-{request.workspace.slug}-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    return response
