"""The reconciliation adopts tasks queued in a policy queue that the portal never recorded (the
gateway's record runs after the server accepted the enqueue: a crash or a database error between
the two), and counts a task an agent runs straight from a policy queue."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import DatabaseError, connections, transaction
from django.urls import reverse
from django.utils import timezone

from access.services import service_account_create
from resources import tasks
from resources.models import Job, JobState, Policy, Pool, Queue
from resources.scheduler import usage_by
from resources.services import upstream
from resources.services.scheduling import resource_management_set
from tests.gateway.conftest import GatewayApi
from tests.resources import test_upstream as base

pytestmark = pytest.mark.django_db(transaction=True)

# The fixtures and helpers of test_upstream.py: a workspace with the seed linked to the stand-in.
api, people, enqueue_eight, ids = base.api, base.people, base.enqueue_eight, base.ids


def crash_recording(monkeypatch):
    def crash(**kwargs):
        raise DatabaseError("the portal's database went away")

    monkeypatch.setattr(upstream, "jobs_record", crash)


def test_a_task_queued_but_never_recorded_is_adopted_and_admitted_by_the_next_reconciliation(
    example, people, standin, monkeypatch, time_machine
):
    dev, _research, _outsider = people
    queues = ids(example)
    start = timezone.now().replace(microsecond=0)
    time_machine.move_to(start, tick=False)
    crash_recording(monkeypatch)
    lost = dev.task("lost")
    dev.ok("tasks.enqueue", task=lost, queue=queues["4xgpu"])  # the server accepted it...
    assert standin.queue_entries(queues["4xgpu"]) == [lost]
    assert not Job.objects.filter(task_id=lost).exists()  # ... the portal never recorded it
    monkeypatch.undo()

    time_machine.move_to(start + timedelta(seconds=30), tick=False)
    tasks.reconcile_all()
    job = Job.objects.get(task_id=lost)
    assert job.upstream and job.created_by.username == "dana" and job.name == "lost"
    assert job.queue.name == "4xgpu"
    assert job.profile.name == "4xGPU" and job.enqueued_at == start
    # Bare Metal has room: admitted and moved into its agent queue by the same run.
    assert job.state == JobState.RUNNING and job.upstream_action == ""
    assert standin.queue_entries(queues["4 GPU Low End"]) == [lost]
    assert not standin.queue_entries(queues["4xgpu"])
    tasks.reconcile_all()  # a second reconciliation adds nothing
    assert Job.objects.filter(task_id=lost).count() == 1


def test_adoption_keeps_the_queue_order_skips_known_tasks_and_outsiders_and_is_idempotent(
    example, owner, people, standin, monkeypatch
):
    dev, research, outsider = people
    queues = ids(example)
    resource_management_set(workspace=example, actor=owner, enabled=False)
    recorded = dev.task("recorded")
    dev.ok("tasks.enqueue", task=recorded, queue=queues["4xgpu"])
    crash_recording(monkeypatch)
    lost = [dev.task(f"lost-{i}") for i in range(3)]
    for task_id in lost:
        dev.ok("tasks.enqueue", task=task_id, queue=queues["4xgpu"])
    theirs = research.task("theirs")
    research.ok("tasks.enqueue", task=theirs, queue=queues["default research"])
    monkeypatch.undo()
    # Someone queued a task straight on the server (not through the gateway) into Dev's queue:
    # its owner is not in Dev, so the policy does not take it.
    sneaky = outsider.task("sneaky")
    system = upstream.upstream_of(example)
    assert upstream.system_call(system, "tasks.enqueue", {"task": sneaky, "queue": queues["4xgpu"]}).ok

    tasks.reconcile_all()
    pending = list(Job.objects.filter(state=JobState.PENDING, upstream=True).order_by("seq"))
    by_queue = {}
    for job in pending:
        by_queue.setdefault(job.queue.name, []).append((job.task_id, job.created_by.username))
    assert by_queue == {
        "4xgpu": [(recorded, "dana")] + [(t, "dana") for t in lost],
        "default research": [(theirs, "rick")],
    }
    assert not Job.objects.filter(task_id=sneaky).exists()
    tasks.reconcile_all()
    assert Job.objects.filter(upstream=True).count() == 5
    # The gateway's late record of an adopted task (the crash was only slow) reuses its job (at
    # the end of the queue, as any enqueue).
    upstream.jobs_record(
        workspace=example, actor=dev, queue=Queue.objects.get(name="4xgpu"), task_ids=[lost[0]]
    )
    assert Job.objects.filter(task_id=lost[0]).count() == 1
    # On again: the adopted tasks are admitted by the seed's rules (Dev's first two on Bare Metal).
    resource_management_set(workspace=example, actor=owner, enabled=True)
    assert standin.queue_entries(queues["4 GPU Low End"]) == [recorded, lost[1]]


def test_a_record_and_an_adoption_of_the_same_task_at_once_make_one_job(example, owner, people, monkeypatch):
    dev, _research, _outsider = people
    queues = ids(example)
    resource_management_set(workspace=example, actor=owner, enabled=False)
    crash_recording(monkeypatch)
    task_id = dev.task("raced")
    dev.ok("tasks.enqueue", task=task_id, queue=queues["4xgpu"])
    monkeypatch.undo()
    queue = Queue.objects.get(name="4xgpu")
    recording, release = threading.Event(), threading.Event()
    errors = []

    def record():  # the gateway's record, slow to commit
        try:
            with transaction.atomic():
                upstream.jobs_record(workspace=example, actor=dev, queue=queue, task_ids=[task_id])
                recording.set()
                release.wait(10)
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    def adopt():
        try:
            upstream.jobs_adopt(example)
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    recorder = threading.Thread(target=record)
    recorder.start()
    assert recording.wait(10)
    adopter = threading.Thread(target=adopt)
    adopter.start()
    time.sleep(0.5)  # the adoption waits on the uncommitted pending row of the same task
    release.set()
    recorder.join(10)
    adopter.join(10)
    assert not errors, errors
    assert Job.objects.filter(task_id=task_id).count() == 1
    assert Job.objects.get(task_id=task_id).state == JobState.PENDING


# --- A task run straight from a policy queue ----------------------------------------------------------------


def test_a_task_an_agent_runs_from_a_policy_queue_is_counted_on_the_pool_its_worker_serves(
    example, owner, people, standin
):
    tasks_by = enqueue_eight(example, owner, people)
    resource_management_set(workspace=example, actor=owner, enabled=True)
    queues = ids(example)
    dev_policy = Policy.objects.get(name="Dev Team")
    bare_metal = Pool.objects.get(name__startswith="Bare Metal")
    assert usage_by(example, "policy_id")[dev_policy.pk] == 8
    pool_before = usage_by(example, "pool_id")[bare_metal.pk]
    # Someone started an agent of Bare Metal on Dev's policy queue too; it takes Dev's third task.
    system = upstream.upstream_of(example)
    third = tasks_by["dev"][2]
    worker = "bm-node-7:gpu0-3"
    for name, data in (
        ("workers.register", {"worker": worker, "queues": [queues["4 GPU Low End"], queues["4xgpu"]]}),
        ("queues.get_next_task", {"queue": queues["4xgpu"]}),
        ("tasks.started", {"task": third}),
        ("workers.status_report", {"worker": worker, "task": third, "timestamp": 0}),
    ):
        reply = upstream.system_call(system, name, data)
        assert reply.ok, (name, reply.message)
    tasks.reconcile_all()
    job = Job.objects.get(task_id=third)
    assert job.state == JobState.RUNNING and job.pool == bare_metal and job.worker == worker
    assert job.allotment == 4 and job.upstream_action == "" and job.fetched_at
    # Its 4 GPUs count against Dev's limit and Bare Metal's capacity like an admitted job's.
    assert usage_by(example, "policy_id")[dev_policy.pk] == 12
    assert usage_by(example, "pool_id")[bare_metal.pk] == pool_before + 4
    assert standin.task(third)["status"] == "in_progress"  # nothing was moved
    # Finished: freed as any job.
    assert upstream.system_call(system, "tasks.completed", {"task": third}).ok
    tasks.reconcile_all()
    assert Job.objects.get(task_id=third).state == JobState.COMPLETED
    assert usage_by(example, "policy_id")[dev_policy.pk] == 8


def test_a_task_started_from_a_policy_queue_through_the_gateway_counts_against_its_policy(
    example, owner, people, standin, api, client
):
    tasks_by = enqueue_eight(example, owner, people)
    resource_management_set(workspace=example, actor=owner, enabled=True)
    queues = ids(example)
    dev_policy = Policy.objects.get(name="Dev Team")
    _account, credential, secret = service_account_create(workspace=example, actor=owner, name="rogue")
    agent = GatewayApi(api.client)
    token = agent.login(credential.access_key, secret)
    third = tasks_by["dev"][2]
    # An agent that serves only the policy queue (no pool known): the gateway sees it start.
    for name, data in (
        ("queues.get_next_task", {"queue": queues["4xgpu"]}),
        ("tasks.started", {"task": third}),
    ):
        status, body = agent.call(name, data, token=token)
        assert status == 200, body
    job = Job.objects.get(task_id=third)
    assert job.state == JobState.RUNNING and job.pool is None and job.allotment == 4
    assert usage_by(example, "policy_id")[dev_policy.pk] == 12
    # The pages show it running (no pool).
    client.force_login(owner)
    for page in ("resources:policies", "resources:config"):
        response = client.get(reverse(page, args=[example.slug]))
        assert response.status_code == 200
    assert "dev-job-3" in client.get(reverse("resources:policies", args=[example.slug])).content.decode()
    status, body = agent.call("tasks.completed", {"task": third}, token=token)
    assert status == 200, body
    assert Job.objects.get(task_id=third).state == JobState.COMPLETED
    assert usage_by(example, "policy_id")[dev_policy.pk] == 8


# --- A stop racing a move ----------------------------------------------------------------------------------


def test_a_task_queued_again_by_a_move_racing_its_stop_or_dequeue_is_taken_out(
    example, owner, people, standin
):
    tasks_by = enqueue_eight(example, owner, people)
    resource_management_set(workspace=example, actor=owner, enabled=True)
    dev, research, _outsider = people
    queues = ids(example)
    stopped, dequeued = tasks_by["dev"][0], tasks_by["research"][0]
    dev.ok("tasks.stop", task=stopped)
    research.ok("tasks.dequeue", task=dequeued)
    assert Job.objects.get(task_id=stopped).state == JobState.ABORTED
    assert Job.objects.get(task_id=dequeued).state == JobState.ABORTED  # admitted: freed
    # The outbox's moves, sent at that very moment, reach the server after the stop and the dequeue.
    system = upstream.upstream_of(example)
    for task_id, queue in ((stopped, "4 GPU Low End"), (dequeued, "4 GPU H100")):
        reply = upstream.system_call(system, "tasks.enqueue", {"task": task_id, "queue": queues[queue]})
        assert reply.ok, reply.message
        assert task_id in standin.queue_entries(queues[queue])
    tasks.reconcile_all()
    assert stopped not in standin.queue_entries(queues["4 GPU Low End"])
    assert dequeued not in standin.queue_entries(queues["4 GPU H100"])
    assert standin.task(stopped)["status"] == "stopped"
    assert standin.task(dequeued)["status"] == "created"
    assert Job.objects.get(task_id=stopped).state == JobState.ABORTED
    assert Job.objects.get(task_id=dequeued).state == JobState.ABORTED  # admitted: freed
    # Admitted tasks in the agent queues are left alone.
    running = Job.objects.filter(state=JobState.RUNNING, upstream=True).values_list("task_id", flat=True)
    in_agent_queues = {t for q in ("4 GPU Low End", "4 GPU H100") for t in standin.queue_entries(queues[q])}
    assert in_agent_queues == set(running)
