"""`manage.py portal_resources enqueue`: jobs into a policy's queue from the command line."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from access import services as access_services
from resources.demo import load_resources_demo
from resources.models import Job, JobState, Queue


@pytest.fixture
def demo(owner, member, outsider, workspace):
    load_resources_demo(
        workspace=workspace, admin=owner, members={"Dev": [member], "Research": [], "Product": []}
    )
    return workspace


def run(*args) -> str:
    out = StringIO()
    call_command("portal_resources", *args, stdout=out)
    return out.getvalue()


def test_a_group_member_enqueues_and_the_scheduler_places_the_jobs(demo, member):
    before = Job.objects.for_workspace(demo).count()
    out = run(
        "enqueue",
        "--workspace",
        demo.slug,
        "--queue",
        "4xgpu",
        "--user",
        member.email,
        "--name",
        "exp",
        "--count",
        "2",
        "--json",
    )
    jobs = json.loads(out)
    assert [job["name"] for job in jobs] == ["exp-1", "exp-2"]
    assert Job.objects.for_workspace(demo).count() == before + 2
    stored = Job.objects.for_workspace(demo).filter(name__in=["exp-1", "exp-2"])
    assert {job.created_by_id for job in stored} == {member.pk}
    assert {job["state"] for job in jobs} <= {JobState.PENDING, JobState.RUNNING}


def test_a_member_outside_the_policys_group_is_refused_and_nothing_is_queued(demo, admin_member):
    before = Job.objects.for_workspace(demo).count()
    with pytest.raises(CommandError, match="not in the user group"):
        run("enqueue", "--workspace", demo.slug, "--queue", "4xgpu", "--user", admin_member.email)
    assert Job.objects.for_workspace(demo).count() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--queue", "nope"], "No queue named"),
        (["--queue", "4xgpu", "--user", "nobody@example.com"], "No user"),
        (["--queue", "4xgpu", "--count", "0"], "--count"),
    ],
)
def test_bad_input_is_a_clear_error(demo, args, message):
    before = Job.objects.count()
    with pytest.raises(CommandError, match=message):
        run("enqueue", "--workspace", demo.slug, *args)
    assert Job.objects.count() == before


def test_an_operator_enqueues_without_a_user(demo):
    out = run("enqueue", "--workspace", demo.slug, "--queue", "4xgpu", "--name", "ops")
    assert out.startswith("enqueued ops (")
    assert Job.objects.for_workspace(demo).filter(name="ops", created_by=None).exists()


def test_the_access_rules_bind_the_command_too(demo, owner, member):
    queue = Queue.objects.for_workspace(demo).get(name="4xgpu")
    access_services.rule_create(
        workspace=demo,
        actor=owner,
        resource_type="queue",
        object_id=queue.pk,
        permission="read",
        user_ids=[member.pk],
    )
    before = Job.objects.for_workspace(demo).count()
    with pytest.raises(CommandError, match="access rule"):
        run("enqueue", "--workspace", demo.slug, "--queue", "4xgpu", "--user", member.email)
    assert Job.objects.for_workspace(demo).count() == before
