"""The pass under concurrency on real PostgreSQL: one at a time, atomic, crash-safe."""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.db import connection, connections, transaction
from django.db.models import Sum

from access.models import UserGroup
from resources import draft as drafts
from resources import scheduler
from resources.models import Job, JobState, Pool, Queue, ResourceSettings
from resources.services.editor import editor_edit
from resources.services.jobs import job_complete, job_enqueue
from resources.services.policies import QueueSpec, policy_create
from resources.services.provisioning import draft_save_and_provision
from resources.services.scheduling import resource_management_set

from .helpers import provision_config

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def setup(owner, workspace):
    """Two 4-resource profiles on one 8-resource pool; a low-priority and a high-priority profile."""
    pools, profiles, _ = provision_config(
        workspace,
        owner,
        pools={"gpu": 8},
        profiles={"hi": 4, "lo": 4},
        links=[("hi-gpu", "hi", "gpu"), ("lo-gpu", "lo", "gpu")],
    )
    group = UserGroup.objects.create(workspace=workspace, name="Team")
    policy = policy_create(
        workspace=workspace,
        actor=owner,
        name="Team",
        group=group,
        reservation=0,
        limit=100,
        queues=[
            QueueSpec(profile=profiles["hi"], name="hi"),
            QueueSpec(profile=profiles["lo"], name="lo"),
        ],
    )
    resource_management_set(workspace=workspace, actor=owner, enabled=True)
    queues = {q.name: q for q in Queue.objects.filter(policy=policy)}
    return {"pool": pools["gpu"], "queues": queues}


def usage(pool) -> int:
    return Job.objects.filter(pool=pool, state=JobState.RUNNING).aggregate(s=Sum("allotment"))["s"] or 0


def enqueue(workspace, owner, queue, n=1):
    return [job_enqueue(workspace=workspace, actor=owner, queue=queue, check_group=False) for _ in range(n)]


@pytest.fixture
def no_eager_pass(monkeypatch):
    """Passes run only when a test starts them (not after each enqueue)."""
    monkeypatch.setattr("resources.services.background.request_schedule", lambda workspace_id: None)


def test_a_pass_waits_for_the_one_running(owner, workspace, setup, no_eager_pass):
    """Pass A has planned (the pool's last free slots for the low queue) and not committed; a
    higher-priority job arrives and pass B starts. B must wait for A and then see the pool full;
    without the lock B would admit the new job onto the same slots."""
    pool, queues = setup["pool"], setup["queues"]
    enqueue(workspace, owner, queues["lo"], 2)
    a_planned, release_a = threading.Event(), threading.Event()
    results = {}

    def hook(stage):
        if stage == "planned" and threading.current_thread().name == "pass-a":
            a_planned.set()
            assert release_a.wait(10)

    scheduler.pass_hook = hook
    try:

        def run(name):
            try:
                results[name] = scheduler.schedule_pass(workspace)
            finally:
                connections.close_all()

        a = threading.Thread(target=run, args=("a",), name="pass-a")
        a.start()
        assert a_planned.wait(10)
        enqueue(workspace, owner, queues["hi"], 1)
        b = threading.Thread(target=run, args=("b",), name="pass-b")
        b.start()
        b.join(1.0)
        assert b.is_alive(), "pass B must wait for pass A's lock"
        release_a.set()
        a.join(10)
        b.join(10)
    finally:
        scheduler.pass_hook = None
    assert len(results["a"].admitted) == 2
    assert results["b"].admitted == []
    assert usage(pool) == 8
    assert Job.objects.filter(queue=queues["hi"], state=JobState.PENDING).count() == 1


def test_concurrent_passes_and_changes_never_over_admit(owner, workspace, setup, no_eager_pass):
    """Several threads run passes while others enqueue and complete jobs; at every commit the pool
    is within capacity, and no job is ever admitted twice."""
    pool, queues = setup["pool"], setup["queues"]
    enqueue(workspace, owner, queues["lo"], 10)
    violations, admitted = [], []
    lock = threading.Lock()
    stop = time.monotonic() + 4

    def hook(stage):
        if stage == "written":
            in_use = usage(pool)  # inside the pass's transaction, before it commits
            if in_use > 8:
                violations.append(in_use)

    def passes():
        try:
            while time.monotonic() < stop:
                result = scheduler.schedule_pass(workspace)
                with lock:
                    admitted.extend(job for job, _ in result.admitted)
        finally:
            connections.close_all()

    def churn(n):
        try:
            i = 0
            while time.monotonic() < stop:
                i += 1
                enqueue(workspace, owner, queues["hi" if (i + n) % 2 else "lo"], 1)
                running = list(Job.objects.filter(state=JobState.RUNNING).order_by("?")[:1])
                if running:
                    job_complete(job=running[0])
        finally:
            connections.close_all()

    scheduler.pass_hook = hook
    try:
        threads = [threading.Thread(target=passes) for _ in range(4)]
        threads += [threading.Thread(target=churn, args=(n,)) for n in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        scheduler.pass_hook = None
    assert not violations
    assert len(admitted) == len(set(admitted)) > 5
    assert usage(pool) <= 8
    # Every admitted job really went through running (completed or still running).
    states = set(Job.objects.filter(pk__in=admitted).values_list("state", flat=True))
    assert states <= {JobState.RUNNING, JobState.COMPLETED}


CRASH_SCRIPT = """
import os, signal, sys
import django
django.setup()
from resources import scheduler
from workspaces.models import Workspace
def die(stage):
    if stage == sys.argv[2]:
        os.kill(os.getpid(), signal.SIGKILL)
scheduler.pass_hook = die
scheduler.schedule_pass(Workspace.objects.get(pk=sys.argv[1]))
print("not killed")
"""


def database_url() -> str:
    s = connection.settings_dict
    return f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.mark.parametrize("stage", ["planned", "written"])
def test_a_worker_killed_mid_pass_loses_nothing(owner, workspace, setup, no_eager_pass, stage):
    """A process killed inside the pass (after planning, or after writing but before the commit)
    leaves every job pending; the next pass admits them exactly once."""
    pool, queues = setup["pool"], setup["queues"]
    jobs = enqueue(workspace, owner, queues["lo"], 3)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "settings_portal.settings_test",
        "DATABASE_URL": database_url(),
    }
    proc = subprocess.run(
        [sys.executable, "-c", CRASH_SCRIPT, str(workspace.pk), stage],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == -9, proc.stdout + proc.stderr
    assert set(Job.objects.filter(pk__in=[j.pk for j in jobs]).values_list("state", flat=True)) == {
        JobState.PENDING
    }
    result = scheduler.schedule_pass(workspace)  # the lock died with the process
    assert [job for job, _ in result.admitted] == [jobs[0].pk, jobs[1].pk]
    assert usage(pool) == 8
    assert scheduler.schedule_pass(workspace).admitted == []


def test_the_same_pass_twice_admits_once(owner, workspace, setup, no_eager_pass):
    """A duplicated run (a redelivered task) finds nothing left to admit."""
    enqueue(workspace, owner, setup["queues"]["lo"], 3)
    first = scheduler.schedule_pass(workspace)
    second = scheduler.schedule_pass(workspace)
    assert len(first.admitted) == 2 and second.admitted == []
    assert Pool.objects.get(pk=setup["pool"].pk) and usage(setup["pool"]) == 8


def test_save_and_provision_takes_the_scheduler_lock_before_the_settings_row(owner, workspace, setup):
    """Save-and-provision must lock in the order Provision and the pass do (the scheduler lock, then
    the settings row): waiting for the scheduler lock it holds nothing, so a deadlock cannot form."""
    editor_edit(workspace=workspace, actor=owner, edit=lambda d: drafts.pool_add(d, name="new", capacity=2))
    held, release = threading.Event(), threading.Event()
    errors = []

    def hold_the_scheduler_lock():
        try:
            with transaction.atomic():
                scheduler.lock_workspace(workspace)
                held.set()
                assert release.wait(10)
        finally:
            connections.close_all()

    def save_and_provision():
        try:
            draft_save_and_provision(workspace=workspace, actor=owner)
        except Exception as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_the_scheduler_lock)
    holder.start()
    assert held.wait(10)
    worker = threading.Thread(target=save_and_provision)
    worker.start()
    worker.join(1.0)
    try:
        assert worker.is_alive(), "save-and-provision must wait for the scheduler lock"
        with transaction.atomic():  # the settings row is free meanwhile
            ResourceSettings.objects.select_for_update(nowait=True).get(workspace=workspace)
    finally:
        release.set()
        holder.join(10)
        worker.join(10)
    assert errors == []
    assert Pool.objects.filter(workspace=workspace, name="new").exists()
