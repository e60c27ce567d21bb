"""portal_resources export / import / schedule, and the demo data."""

from io import StringIO

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError

from access.models import UserGroup
from resources.demo import load_resources_demo
from resources.models import Job, JobState, Link, Policy, Pool, Profile, Queue
from resources.services.jobs import job_complete, job_enqueue
from resources.services.scheduling import resource_management_set, settings_get
from resources.transfer import export_data, export_yaml, import_yaml
from workspaces.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(owner, workspace, member, admin_member):
    load_resources_demo(
        workspace=workspace, admin=owner, members={"Dev": [member], "Research": [admin_member]}
    )
    return workspace


def state(workspace) -> dict:
    return {
        "pools": sorted(Pool.objects.for_workspace(workspace).values_list("name", "capacity", "description")),
        "profiles": sorted(Profile.objects.for_workspace(workspace).values_list("name", "allotment")),
        "links": sorted(
            Link.objects.for_workspace(workspace).values_list(
                "name", "profile__name", "pool__name", "precedence", "execution_priority"
            )
        ),
        "policies": sorted(
            Policy.objects.for_workspace(workspace).values_list("name", "group__name", "reservation", "limit")
        ),
        "queues": sorted(
            Queue.objects.for_workspace(workspace).values_list(
                "name", "policy__name", "profile__name", "priority"
            )
        ),
    }


def test_demo_is_the_example_workflow(demo):
    running = dict(
        Job.objects.for_workspace(demo)
        .filter(name__in=["D1", "D2", "R1", "R2"])
        .values_list("name", "pool__name")
    )
    assert running == {
        "D1": "Bare Metal Low END GPUs",
        "D2": "Bare Metal Low END GPUs",
        "R1": "H100 Half a Superpod",
        "R2": "H100 Half a Superpod",
    }
    pending = Job.objects.for_workspace(demo).filter(state=JobState.PENDING).order_by("seq")
    assert list(pending.values_list("name", flat=True)) == ["R3", "D3", "R4", "D4"]
    assert Job.objects.for_workspace(demo).filter(state=JobState.COMPLETED).count() == 3
    assert UserGroup.objects.get(workspace=demo, name="Dev").members.count() == 1
    assert settings_get(workspace=demo).enabled


def test_demo_loads_once(demo, owner):
    assert load_resources_demo(workspace=demo, admin=owner) is False
    assert Pool.objects.for_workspace(demo).count() == 3


def test_export_import_round_trip(demo, owner, tmp_path):
    before = state(demo)
    path = tmp_path / "resources.yaml"
    call_command("portal_resources", "export", str(path), "--workspace", demo.slug, stdout=StringIO())
    data = yaml.safe_load(path.read_text())
    assert data["version"] == 1 and data["enabled"] is True
    assert {p["name"]: p["capacity"] for p in data["pools"]}["H100 Half a Superpod"] == 64
    assert {p["name"]: p["policy_priority"] for p in data["profiles"]}["4xGPU"] == [
        "Dev Team",
        "Research Team",
        "Product Team",
    ]
    out = StringIO()
    call_command("portal_resources", "import", str(path), "--workspace", demo.slug, stdout=out)
    assert state(demo) == before
    # Objects matched by name stay the same rows: running jobs keep their pools.
    assert Job.objects.for_workspace(demo).filter(state=JobState.RUNNING, pool__isnull=True).count() == 0


def test_import_into_an_empty_workspace_recreates_it(demo, owner, outsider):
    from workspaces.services import workspace_create

    other = workspace_create(owner=owner, name="Other")
    for name in ("Dev", "Research", "Product"):
        UserGroup.objects.create(workspace=other, name=name)
    import_yaml(workspace=other, actor=owner, text=export_yaml(workspace=demo))
    assert export_data(workspace=other) == export_data(workspace=demo)


def test_import_changes_the_configuration(demo, owner):
    data = export_data(workspace=demo)
    data["pools"] = [p for p in data["pools"] if p["name"] != "AWS Autoscaler"]
    data["pools"][0]["capacity"] = 80
    data["links"] = [x for x in data["links"] if x["pool"] != "AWS Autoscaler"]
    data["policies"] = [p for p in data["policies"] if p["name"] != "Research Team"]
    data["profiles"][2]["policy_priority"] = ["Product Team", "Dev Team"]
    data["policies"][0]["queues"][0]["name"] = "dev-renamed"
    import_yaml(workspace=demo, actor=owner, text=yaml.safe_dump(data))
    after = export_data(workspace=demo)
    assert [p["name"] for p in after["pools"]] == ["H100 Half a Superpod", "Bare Metal Low END GPUs"]
    assert after["pools"][0]["capacity"] == 80
    assert [p["name"] for p in after["policies"]] == ["Dev Team", "Product Team"]
    assert after["profiles"][2]["policy_priority"] == ["Product Team", "Dev Team"]
    assert Queue.objects.get(workspace=demo, name="dev-renamed").policy.name == "Dev Team"
    # Research's pending jobs left the queue with the policy; its running jobs keep running.
    assert not Job.objects.for_workspace(demo).filter(state=JobState.PENDING, name__startswith="R").exists()
    assert Job.objects.for_workspace(demo).filter(name="R1", state=JobState.RUNNING).exists()
    assert AuditEvent.objects.filter(workspace=demo, action="resources.import").exists()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["pools"][0].update(capacity=-1), "must not be negative"),
        (lambda d: d["profiles"][0].update(allotment=0), "greater than 0"),
        (lambda d: d["links"][0].update(pool="Nowhere"), "unknown pool “Nowhere”"),
        (lambda d: d["links"].append(dict(d["links"][0])), "already exists"),
        (lambda d: d["policies"][0].update(group="No such group"), "no user group named"),
        (lambda d: d["policies"][0].update(reservation=100, limit=10), "larger than the limit"),
        (lambda d: d["policies"][0]["queues"].append({"name": "x", "profile": "Nope"}), "unknown profile"),
        (lambda d: d["policies"][0].update(limit=2), "more than the limit"),
        (lambda d: d["profiles"][0].update(policy_priority=["Dev Team"]), "has no queue on it"),
        (lambda d: d.update(version=7), "Unsupported version"),
    ],
)
def test_import_refuses_bad_files_and_changes_nothing(demo, owner, mutate, message):
    before = state(demo)
    events = AuditEvent.objects.count()
    data = export_data(workspace=demo)
    data["pools"].append({"name": "New pool", "capacity": 4})  # a valid change that must not happen either
    mutate(data)
    with pytest.raises(Exception) as info:
        import_yaml(workspace=demo, actor=owner, text=yaml.safe_dump(data))
    assert message.lower() in str(info.value).lower()
    assert state(demo) == before
    assert AuditEvent.objects.count() == events


def test_import_command_reports_errors(demo, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("pools: [1, 2")
    with pytest.raises(CommandError, match="Not valid YAML"):
        call_command("portal_resources", "import", str(path), "--workspace", demo.slug)
    with pytest.raises(CommandError, match="No workspace"):
        call_command("portal_resources", "export", "-", "--workspace", "nope")


def test_schedule_command_prints_admissions(demo, owner):
    queue = Queue.objects.get(workspace=demo, name="product-0.5x")
    job_complete(job=Job.objects.get(workspace=demo, name="prod-2x-1"))  # 2 free on H100
    job_enqueue(workspace=demo, actor=owner, queue=queue, name="small-one", check_group=False)
    out = StringIO()
    call_command("portal_resources", "schedule", "--workspace", demo.slug, stdout=out)
    assert "admitted 1 job(s)" in out.getvalue()
    assert "small-one -> H100 Half a Superpod" in out.getvalue()
    resource_management_set(workspace=demo, actor=owner, enabled=False)
    out = StringIO()
    call_command("portal_resources", "schedule", "--workspace", demo.slug, stdout=out)
    assert "disabled" in out.getvalue()
