"""The audit log reads as sentences ("who did what to which object, field: old → new"), filters by
date range, and exports the same rows as CSV (streamed, safe to open in a spreadsheet)."""

import csv
import datetime as dt
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests.factories import UserFactory
from workspaces.audit import audit_log
from workspaces.audit_display import Change, action_label, event_changes, target_kind
from workspaces.models import AuditEvent
from workspaces.services import workspace_rename
from workspaces.views.audit import csv_safe

HX = {"HX-Request": "true"}


def audit_url(workspace):
    return reverse("workspaces:audit-log", args=[workspace.slug])


def export_url(workspace):
    return reverse("workspaces:audit-export", args=[workspace.slug])


def read_csv(response) -> list[dict]:
    assert response.streaming
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


# --- Reading a row ------------------------------------------------------------------------------


def test_changed_fields_read_old_to_new():
    assert event_changes({"name": "Old"}, {"name": "Team"}) == [Change("Name", "Old", "Team")]
    assert Change("Name", "Old", "Team").text == "Name: Old → Team"


def test_created_and_deleted_fields_read_their_one_side():
    created = event_changes(None, {"label": "laptop", "allow_impersonation": True})
    assert [c.text for c in created] == ["Label: laptop", "Impersonation allowed: yes"]
    deleted = event_changes({"name": "Vision", "members": ["a@x.org", "b@x.org"]}, None)
    assert [c.text for c in deleted] == ["Name: Vision", "Members: a@x.org, b@x.org"]
    # Disjoint sides (groups removed / added) read each on its own.
    groups = event_changes({"groups_removed": ["Ops"]}, {"groups_added": ["Vision"]})
    assert [c.text for c in groups] == ["Groups added: Vision", "Groups removed: Ops"]


def test_values_read_as_text():
    rows = event_changes(
        {"max_members": None, "enabled": False},
        {
            "max_members": 5,
            "enabled": True,
            "keys": {"added": ["a.b"]},
            "expires_at": "2026-01-02T03:04:00+00:00",
        },
    )
    texts = [c.text for c in rows]
    assert "Member limit: — → 5" in texts
    assert "Enabled: no → yes" in texts
    assert "Keys: Added: a.b" in texts
    assert any(t.startswith("Expires: 2026-01-02 03:04") for t in texts)


def test_unknown_actions_and_types_fall_back_to_their_codes():
    assert action_label("workspace.rename") == "Renamed the workspace"
    assert action_label("robots.arm_wave") == "Robots: arm wave"
    assert action_label("cleanup") == "Cleanup"
    assert target_kind("workspaces.credential") == "Credential"
    assert target_kind("gone.widget_thing") == "Widget thing"
    assert target_kind("") == ""


def test_every_recorded_action_has_a_sentence():
    """Each action a service writes (found in the source) reads as a sentence, not a code."""
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[2]
    found = set()
    for path in root.glob("*/**/*.py"):
        if ".venv" in path.parts or "tests" in path.parts or "migrations" in path.parts:
            continue
        for line in path.read_text().splitlines():
            if "action=" in line:
                found |= set(re.findall(r'"([a-z_]+\.[a-z_]+)"', line))
    from workspaces.audit_display import ACTIONS

    assert {"workspace.rename", "vault.disable", "cloud_access.delete"} <= found
    missing = sorted(a for a in found if a not in ACTIONS)
    assert not missing, f"audit actions without a sentence in workspaces/audit_display.py: {missing}"


# --- The page -------------------------------------------------------------------------------------


def test_a_rename_reads_as_a_sentence(client, owner, workspace):
    workspace_rename(workspace=workspace, actor=owner, name="Renamed Lab")
    client.force_login(owner)
    html = client.get(audit_url(workspace), {"action": "workspace.rename"}).content.decode()
    assert "Renamed the workspace" in html and "Renamed Lab" in html
    assert '<span class="audit-old">' in html and "→" in html
    assert "<time datetime=" in html  # the portal's |when


def test_unknown_action_still_shows(client, owner, workspace):
    audit_log(
        actor=owner, action="robots.arm_wave", workspace=workspace, target_label="arm", after={"x": [1, 2]}
    )
    client.force_login(owner)
    html = client.get(audit_url(workspace)).content.decode()
    assert "Robots: arm wave" in html and "X:</span>" in html and "1, 2" in html


def test_impersonated_rows_name_the_real_actor_and_whom(client, owner, member, workspace):
    agent = UserFactory(email="agent@example.com")
    audit_log(
        actor=agent, on_behalf_of=member, action="credential.create", workspace=workspace, target_label="k"
    )
    client.force_login(owner)
    html = client.get(audit_url(workspace), {"actor": "member@"}).content.decode()
    assert "agent@example.com" in html and "on behalf of member@example.com" in html


def test_filter_choices_list_what_occurs(client, owner, workspace):
    audit_log(actor=owner, action="vault.update", workspace=workspace, target_label="v")
    client.force_login(owner)
    html = client.get(audit_url(workspace)).content.decode()
    assert '<option value="vault.update">Changed a vault</option>' in html
    assert '<option value="vault.">Every vault action</option>' in html
    assert '<option value="owner@example.com">' in html  # the actor list


@pytest.fixture
def dated(owner, workspace):
    now = timezone.now()
    for days, label in [(40, "long ago"), (10, "last week-ish"), (0, "today")]:
        AuditEvent.objects.create(
            workspace=workspace,
            actor_label="x@example.com",
            action="t.dated",
            target_label=label,
            created_at=now - dt.timedelta(days=days),
        )
    return now


def test_date_range_is_inclusive_whole_days(client, owner, workspace, dated):
    client.force_login(owner)
    today = timezone.localdate(dated)
    since = (today - dt.timedelta(days=11)).isoformat()
    html = client.get(audit_url(workspace), {"action": "t.", "since": since}).content.decode()
    assert "today" in html and "last week-ish" in html and "long ago" not in html
    html = client.get(
        audit_url(workspace), {"action": "t.", "until": (today - dt.timedelta(days=10)).isoformat()}
    ).content.decode()
    assert "last week-ish" in html and "long ago" in html and ">today<" not in html
    html = client.get(
        audit_url(workspace), {"action": "t.", "since": today.isoformat(), "until": today.isoformat()}
    )
    assert "today" in html.content.decode() and "long ago" not in html.content.decode()


@pytest.mark.parametrize(
    "params,error",
    [
        ({"since": "yesterday"}, "Enter a valid date"),
        ({"since": "2026-05-02", "until": "2026-05-01"}, "before the start"),
    ],
)
def test_bad_dates_are_explained_and_ignored(client, owner, workspace, dated, params, error):
    client.force_login(owner)
    response = client.get(audit_url(workspace), {"action": "t.", **params})
    html = response.content.decode()
    assert response.status_code == 200
    assert error in html and "this filter is not applied" in html


# --- CSV export ---------------------------------------------------------------------------------


def test_csv_export_has_the_filtered_rows_readably(client, owner, admin_member, workspace):
    workspace_rename(workspace=workspace, actor=owner, name="CSV Lab")
    audit_log(actor=admin_member, action="credential.create", workspace=workspace, target_label="laptop")
    client.force_login(admin_member)
    response = client.get(export_url(workspace), {"action": "workspace.rename"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith(f'attachment; filename="audit-{workspace.slug}-')
    rows = read_csv(response)
    assert len(rows) == 1
    row = rows[0]
    assert row["actor"] == "owner@example.com" and row["action"] == "workspace.rename"
    assert row["what"] == "Renamed the workspace" and row["object type"] == "Workspace"
    assert row["object"] == "CSV Lab" and row["changes"].endswith("→ CSV Lab")
    assert '"name": "CSV Lab"' in row["after"]
    # No filters: every row of this workspace.
    everything = read_csv(client.get(export_url(workspace)))
    assert {"workspace.rename", "credential.create"} <= {r["action"] for r in everything}


def test_page_links_the_export_with_its_filters(client, owner, workspace):
    client.force_login(owner)
    html = client.get(
        audit_url(workspace), {"action": "vault.", "since": "2026-01-01"}, headers=HX
    ).content.decode()
    assert f'href="{export_url(workspace)}?action=vault.&amp;since=2026-01-01"' in html


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_csv_cells_that_look_like_formulas_are_escaped(client, owner, workspace, start):
    assert csv_safe(f"{start}cmd") == f"'{start}cmd"
    audit_log(
        actor=owner,
        action="group.create",
        workspace=workspace,
        target_label=f'{start}HYPERLINK("http://evil")',
        after={"name": f"{start}1+1"},
    )
    client.force_login(owner)
    row = read_csv(client.get(export_url(workspace), {"action": "group.create"}))[0]
    assert row["object"].startswith("'" + start)
    assert row["changes"] == f"Name: {start}1+1"  # starts with "Name", not a formula
    assert csv_safe("plain") == "plain" and csv_safe(None) == ""


def test_csv_is_for_admins_of_the_workspace_only(client, member, outsider, workspace):
    client.force_login(member)
    assert client.get(export_url(workspace)).status_code == 403
    client.force_login(outsider)
    assert client.get(export_url(workspace)).status_code == 404


def test_csv_export_queries_do_not_grow_with_rows(client, owner, workspace):
    client.force_login(owner)
    read_csv(client.get(export_url(workspace)))

    def count():
        with CaptureQueriesContext(connection) as queries:
            rows = read_csv(client.get(export_url(workspace)))
        return len(queries), len(rows)

    few, few_rows = count()
    AuditEvent.objects.bulk_create(
        AuditEvent(
            workspace=workspace, actor_label="bot", action="bulk.thing", target_label=f"r{n}", after={"n": n}
        )
        for n in range(1200)
    )
    many, many_rows = count()
    assert many_rows == few_rows + 1200
    assert many == few
