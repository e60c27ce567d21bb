"""Resource policies on a linked ClearML server (the upstream stand-in): the queues Provision makes,
the gateway's checks on enqueue, admissions moved upstream from the outbox, jobs following their
tasks, and the faults (server down during a pass, a worker dying between commit and move, two
workers at once, tasks deleted upstream)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from access.models import UserGroup
from access.services import group_add_member, service_account_create
from resources import scheduler, tasks
from resources.models import Job, JobState, UpstreamAction, UpstreamQueue
from resources.services import upstream
from resources.services.jobs import job_abort
from resources.services.scheduling import resource_management_set
from tests.factories import UserFactory
from tests.gateway.conftest import GatewayApi
from workspaces.credentials import credential_create
from workspaces.models import Role
from workspaces.services import membership_add

pytestmark = pytest.mark.django_db(transaction=True)

POLICY_QUEUES = {"4xgpu", "default research", "product-0.5x", "product-2x", "product-4x", "product-8x"}
AGENT_QUEUES = {"0.5 GPU H100", "2 GPU H100", "4 GPU Low End", "4 GPU H100", "Local H100", "g5.48xlarge"}


def team_member(workspace, owner, name: str, group: str):
    user = UserFactory(email=f"{name}@example.com", username=name)
    membership_add(workspace=workspace, user=user, role=Role.MEMBER, actor=owner)
    group_add_member(group=UserGroup.objects.for_workspace(workspace).get(name=group), actor=owner, user=user)
    return user


@pytest.fixture
def api(client):
    return GatewayApi(client)


class Person:
    """A portal user calling the gateway with their own credentials."""

    def __init__(self, api, workspace, user):
        self.api = api
        credential, secret = credential_create(workspace=workspace, actor=user, label="laptop")
        self.token = api.login(credential.access_key, secret)

    def call(self, endpoint, **data):
        return self.api.call(endpoint, data, token=self.token)

    def ok(self, endpoint, **data):
        status, body = self.call(endpoint, **data)
        assert status == 200, (endpoint, body)
        return body["data"]

    def task(self, name: str) -> str:
        return self.ok("tasks.create", name=name, type="training")["id"]


@pytest.fixture
def people(api, example, owner):
    dev = Person(api, example, team_member(example, owner, "dana", "Dev"))
    research = Person(api, example, team_member(example, owner, "rick", "Research"))
    outsider = Person(api, example, team_member(example, owner, "olga", "Product"))
    return dev, research, outsider


def ids(workspace) -> dict[str, str]:
    return {r.name: r.upstream_id for r in UpstreamQueue.objects.for_workspace(workspace)}


def enqueue_eight(workspace, owner, people):
    """Dev and Research enqueue four 4-GPU tasks each (resource management off), then it is on."""
    dev, research, _ = people
    queues = ids(workspace)
    resource_management_set(workspace=workspace, actor=owner, enabled=False)
    tasks_by = {"dev": [], "research": []}
    for i in range(1, 5):
        for who, person, queue in (("dev", dev, "4xgpu"), ("research", research, "default research")):
            task_id = person.task(f"{who}-job-{i}")
            person.ok("tasks.enqueue", task=task_id, queue=queues[queue])
            tasks_by[who].append(task_id)
    return tasks_by


# --- Provision: the server's queues ------------------------------------------------------------------


def test_provision_makes_a_policy_queue_per_policy_and_profile_and_an_agent_queue_per_connection(
    example, standin
):
    ledger = {r.name: r for r in UpstreamQueue.objects.for_workspace(example)}
    assert {n for n, r in ledger.items() if r.kind == "policy"} == POLICY_QUEUES
    assert {n for n, r in ledger.items() if r.kind == "agent"} == AGENT_QUEUES
    upstream_names = {q["name"]: qid for qid, q in standin.state.queues.items()}
    for name, row in ledger.items():
        assert upstream_names[name] == row.upstream_id
    # Idempotent: a second sync changes nothing and makes nothing twice.
    again = upstream.queues_sync(example)
    assert not (again.created or again.renamed or again.retired or again.errors)
    assert len(standin.state.queues) == 1 + len(POLICY_QUEUES) + len(AGENT_QUEUES)


def test_a_sync_that_died_half_way_is_repaired_without_making_queues_twice(example, standin, owner):
    from resources import draft as drafts
    from resources.services.editor import draft_save, editor_edit
    from resources.services.provisioning import draft_provision

    # The server made "4 GPU H100" but the sync died before recording it: the row lost its id.
    row = UpstreamQueue.objects.get(workspace=example, name="4 GPU H100")
    made = row.upstream_id
    UpstreamQueue.objects.filter(pk=row.pk).update(upstream_id="")
    result = upstream.queues_sync(example)
    assert result.adopted == ["4 GPU H100"] and not result.created
    assert UpstreamQueue.objects.get(pk=row.pk).upstream_id == made

    # Rename a connection, delete another: renamed and retired upstream by the next Provision.
    def edit(d):
        link = next(x for x in d["links"] if x["name"] == "Local H100")
        d = drafts.link_rename(d, link["key"], name="8 GPU H100")
        gone = next(x for x in d["links"] if x["name"] == "g5.48xlarge")
        return drafts.link_delete(d, gone["key"])

    editor_edit(workspace=example, actor=owner, edit=edit)
    draft_save(workspace=example, actor=owner)
    draft_provision(workspace=example, actor=owner)  # the pass after it syncs (eager)
    names = {q["name"] for q in standin.state.queues.values()}
    assert "8 GPU H100" in names and "Local H100" not in names and "g5.48xlarge" not in names
    assert {r.name for r in UpstreamQueue.objects.for_workspace(example)} == (
        AGENT_QUEUES - {"Local H100", "g5.48xlarge"} | {"8 GPU H100"} | POLICY_QUEUES
    )


# --- Enqueue: the gateway's checks ----------------------------------------------------------------------


def test_enqueue_checks_the_policy_group_agent_queues_and_unknown_queue_names(example, people, standin):
    dev, _research, outsider = people
    queues = ids(example)
    task_id = outsider.task("sneaky")
    status, body = outsider.call("tasks.enqueue", task=task_id, queue=queues["4xgpu"])
    assert status == 403 and "user group" in body["meta"]["result_msg"]
    status, body = dev.call("tasks.enqueue", task=dev.task("bypass"), queue=queues["4 GPU H100"])
    assert status == 403 and "agent queue" in body["meta"]["result_msg"]
    status, body = dev.call("tasks.enqueue", task=dev.task("byname"), queue_name="4 GPU Low End")
    assert status == 403
    status, body = dev.call("tasks.enqueue", task=dev.task("made-up"), queue_name="no-such-queue")
    assert status == 403 and "no queue named" in body["meta"]["result_msg"]
    assert not any(q["name"] == "no-such-queue" for q in standin.state.queues.values())
    assert not Job.objects.filter(upstream=True).exists()
    # By name into a policy queue: sent by id, recorded as a pending job of the caller.
    by_name = dev.task("by-name")
    dev.ok("tasks.enqueue", task=by_name, queue_name="4xgpu")
    job = Job.objects.get(task_id=by_name)
    assert job.upstream and job.created_by.username == "dana" and job.profile.name == "4xGPU"
    assert job.enqueued_at is not None
    # The default queue is not governed.
    dev.ok("tasks.enqueue", task=dev.task("ungoverned"), queue=standin.default_queue_id)


# --- Admit, Finish: the Example Workflow ------------------------------------------------------------------


def test_example_workflow_admissions_move_the_tasks_into_the_agent_queues(example, owner, people, standin):
    tasks_by = enqueue_eight(example, owner, people)
    queues = ids(example)
    # Resource management off: all eight wait in their policy queues.
    assert standin.queue_entries(queues["4xgpu"]) == tasks_by["dev"]
    assert standin.queue_entries(queues["default research"]) == tasks_by["research"]
    assert not standin.queue_entries(queues["4 GPU Low End"])

    resource_management_set(workspace=example, actor=owner, enabled=True)

    dev, research = tasks_by["dev"], tasks_by["research"]
    assert standin.queue_entries(queues["4 GPU Low End"]) == dev[:2]
    assert standin.queue_entries(queues["4 GPU H100"]) == research[:2]
    assert standin.queue_entries(queues["4xgpu"]) == dev[2:]
    assert standin.queue_entries(queues["default research"]) == research[2:]
    for task_id in dev[:2] + research[:2]:
        assert standin.task(task_id)["status"] == "queued"
        job = Job.objects.get(task_id=task_id)
        assert job.state == JobState.RUNNING and job.upstream_action == "" and job.moved_at
    assert {j.name for j in Job.objects.filter(upstream=True)} == {
        f"{who}-job-{i}" for who in ("dev", "research") for i in range(1, 5)
    }


def test_a_finished_task_frees_its_resources_and_the_next_one_is_admitted_at_once(
    example, owner, people, standin, api
):
    tasks_by = enqueue_eight(example, owner, people)
    resource_management_set(workspace=example, actor=owner, enabled=True)
    queues = ids(example)
    _account, credential, secret = service_account_create(workspace=example, actor=owner, name="gpu-agents")
    agent = GatewayApi(api.client)
    token = agent.login(credential.access_key, secret)
    first = tasks_by["dev"][0]
    # As clearml-agent does once it took the task from its queue.
    for name, data in (
        ("queues.get_next_task", {"queue": queues["4 GPU Low End"]}),
        ("tasks.started", {"task": first}),
        ("tasks.dequeue", {"task": first, "new_status": "in_progress"}),
    ):
        status, body = agent.call(name, data, token=token)
        assert status == 200, body
    job = Job.objects.get(task_id=first)
    assert job.state == JobState.RUNNING and job.fetched_at is not None
    status, body = agent.call("tasks.completed", {"task": first}, token=token)
    assert status == 200, body
    assert Job.objects.get(task_id=first).state == JobState.COMPLETED
    # Dev is at its reservation again (4 < 8): its third task goes to Bare Metal at once.
    third = tasks_by["dev"][2]
    assert Job.objects.get(task_id=third).state == JobState.RUNNING
    assert third in standin.queue_entries(queues["4 GPU Low End"])


def test_resource_management_off_keeps_tasks_queued_and_on_again_moves_them(example, owner, people, standin):
    tasks_by = enqueue_eight(example, owner, people)
    queues = ids(example)
    assert len(standin.queue_entries(queues["4xgpu"])) == 4
    assert not Job.objects.filter(state=JobState.RUNNING, upstream=True).exists()
    resource_management_set(workspace=example, actor=owner, enabled=True)
    assert len(standin.queue_entries(queues["4xgpu"])) == 2
    assert tasks_by


def test_aborting_a_job_in_the_portal_stops_the_task_upstream(example, owner, people, standin):
    tasks_by = enqueue_eight(example, owner, people)
    resource_management_set(workspace=example, actor=owner, enabled=True)
    running, waiting = tasks_by["dev"][0], tasks_by["dev"][3]
    for task_id in (running, waiting):
        assert job_abort(job=Job.objects.get(task_id=task_id), actor=owner)
        assert standin.task(task_id)["status"] == "stopped"
        assert Job.objects.get(task_id=task_id).upstream_action == ""
    assert not any(running in standin.queue_entries(q) for q in ids(example).values())


# --- Faults ------------------------------------------------------------------------------------------------


def test_server_down_during_a_pass_keeps_the_admission_and_moves_it_once_back(
    example, owner, people, standin, time_machine
):
    tasks_by = enqueue_eight(example, owner, people)
    queues = ids(example)
    start = timezone.now()
    time_machine.move_to(start, tick=False)
    standin.go_down()
    resource_management_set(workspace=example, actor=owner, enabled=True)
    admitted = Job.objects.filter(upstream=True, state=JobState.RUNNING)
    assert admitted.count() == 4  # committed in the portal
    assert set(admitted.values_list("upstream_action", flat=True)) == {UpstreamAction.MOVE}
    assert all(j.action_attempts == 1 and j.action_error for j in admitted)
    assert {j.action_due_at for j in admitted} == {start + timedelta(seconds=1)}
    standin.come_up()
    tasks.drain_all()  # backing off: not due yet
    assert not standin.queue_entries(queues["4 GPU Low End"])
    time_machine.move_to(start + timedelta(seconds=1), tick=False)
    tasks.drain_all()
    tasks.drain_all()  # a duplicate run changes nothing
    assert standin.queue_entries(queues["4 GPU Low End"]) == tasks_by["dev"][:2]
    assert standin.queue_entries(queues["4 GPU H100"]) == tasks_by["research"][:2]
    assert not Job.objects.exclude(upstream_action="").exists()
    assert Job.objects.filter(upstream=True, state=JobState.PENDING).count() == 4


def test_a_worker_killed_between_commit_and_move_loses_nothing(example, owner, people, standin, monkeypatch):
    tasks_by = enqueue_eight(example, owner, people)
    queues = ids(example)

    def killed(*args, **kwargs):
        raise RuntimeError("worker killed")

    # The pass commits its admissions; the worker dies before its outbox runs...
    monkeypatch.setattr(upstream, "outbox_drain", killed)
    resource_management_set(workspace=example, actor=owner, enabled=True)
    admitted = Job.objects.filter(upstream=True, state=JobState.RUNNING)
    assert admitted.count() == 4 and set(admitted.values_list("upstream_action", flat=True)) == {"move"}
    # ... one move had reached the server, unrecorded.
    system = upstream.upstream_of(example)
    assert upstream.system_call(
        system, "tasks.enqueue", {"task": tasks_by["dev"][0], "queue": queues["4 GPU Low End"]}
    ).ok
    monkeypatch.undo()
    tasks.drain_all()  # the next worker (or the beat)
    assert standin.queue_entries(queues["4 GPU Low End"]) == tasks_by["dev"][:2]
    assert standin.queue_entries(queues["4 GPU H100"]) == tasks_by["research"][:2]
    assert sum(len(standin.queue_entries(q)) for q in queues.values()) == 8
    assert not Job.objects.exclude(upstream_action="").exists()


def test_a_task_deleted_upstream_while_pending_or_running_leaves_the_portal_too(
    example, owner, people, standin
):
    tasks_by = enqueue_eight(example, owner, people)
    resource_management_set(workspace=example, actor=owner, enabled=True)
    running, waiting = tasks_by["research"][0], tasks_by["research"][3]
    system = upstream.upstream_of(example)
    for task_id in (running, waiting):
        assert upstream.system_call(system, "tasks.delete", {"task": task_id, "force": True}).ok
    tasks.reconcile_all()
    assert Job.objects.get(task_id=running).state == JobState.ABORTED
    assert Job.objects.get(task_id=waiting).state == JobState.DRAFT
    # The freed 4 GPUs on H100 went to Research's next task at once.
    assert Job.objects.get(task_id=tasks_by["research"][2]).state == JobState.RUNNING


def test_reconciliation_sees_what_happened_elsewhere(example, owner, people, standin):
    tasks_by = enqueue_eight(example, owner, people)
    resource_management_set(workspace=example, actor=owner, enabled=True)
    system = upstream.upstream_of(example)
    task_id = tasks_by["dev"][0]
    # Run and finished without the gateway seeing it (e.g. another route to the server).
    for name, data in (("tasks.started", {"task": task_id}), ("tasks.completed", {"task": task_id})):
        assert upstream.system_call(system, name, data).ok
    tasks.reconcile_all()
    job = Job.objects.get(task_id=task_id)
    assert job.state == JobState.COMPLETED and job.upstream_status == "completed"
    assert Job.objects.get(task_id=tasks_by["dev"][2]).state == JobState.RUNNING


def test_two_workers_passing_at_once_admit_and_move_each_task_once(example, owner, people, standin):
    tasks_by = enqueue_eight(example, owner, people)
    queues = ids(example)
    from resources.models import ResourceSettings

    ResourceSettings.objects.filter(workspace=example).update(enabled=True)  # no pass yet
    errors = []

    def worker():
        try:
            tasks.run_workspace(example)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert Job.objects.filter(upstream=True, state=JobState.RUNNING).count() == 4
    assert standin.queue_entries(queues["4 GPU Low End"]) == tasks_by["dev"][:2]
    assert standin.queue_entries(queues["4 GPU H100"]) == tasks_by["research"][:2]
    assert len(standin.requests_for("tasks.enqueue")) >= 12  # 8 by the people, 4+ moves
    assert scheduler  # the same pass function the portal's own jobs use
