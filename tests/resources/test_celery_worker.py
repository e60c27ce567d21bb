"""A real Celery worker on Redis runs the pass that an enqueue asks for."""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, transaction

from access.models import UserGroup
from resources.models import Job, JobState
from resources.services.jobs import job_enqueue
from resources.services.policies import QueueSpec, policy_create
from resources.services.scheduling import resource_management_set
from settings_portal.celery import app as celery_app

from .helpers import provision_config

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.celery, pytest.mark.django_db(transaction=True)]


def worker_broker_url() -> str:
    """The test Redis, database 8 (kept apart from the suite's own Redis database)."""
    base = settings.REDIS_URL or "redis://127.0.0.1:6379/15"
    return re.sub(r"/\d*$", "", base.rstrip("/")) + "/8"


@pytest.fixture
def worker(tmp_path):
    s = connection.settings_dict
    broker = worker_broker_url()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "settings_portal.settings",
        "DEBUG": "true",
        "PORTAL_VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}",
        "DATABASE_CONN_MAX_AGE": "0",
        "REDIS_URL": broker,
        "CELERY_TASK_ALWAYS_EAGER": "false",
    }
    log = tmp_path / "worker.log"
    celery = Path(sys.executable).with_name("celery")
    proc = subprocess.Popen(
        [
            str(celery),
            "-A",
            "settings_portal",
            "worker",
            "--pool=solo",
            "--concurrency=1",
            "-l",
            "info",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            f"resources-test-{os.getpid()}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while "ready" not in log.read_text():
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "worker did not start:\n" + log.read_text()
        time.sleep(0.2)
    # This process sends its tasks to the worker's broker instead of running them in-process.
    old = (celery_app.conf.task_always_eager, celery_app.conf.broker_url)
    celery_app.conf.task_always_eager = False
    celery_app.conf.broker_url = broker
    celery_app._pool = None
    try:
        yield log
    finally:
        celery_app.conf.task_always_eager, celery_app.conf.broker_url = old
        celery_app._pool = None
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def test_an_enqueue_triggers_a_pass_on_the_worker(owner, workspace, worker):
    _pools, profiles, _ = provision_config(
        workspace, owner, pools={"gpu": 8}, profiles={"4x": 4}, links=[("4x-gpu", "4x", "gpu")]
    )
    group = UserGroup.objects.create(workspace=workspace, name="Team")
    policy = policy_create(
        workspace=workspace,
        actor=owner,
        name="Team",
        group=group,
        reservation=0,
        limit=16,
        queues=[QueueSpec(profile=profiles["4x"], name="team-4x")],
    )
    resource_management_set(workspace=workspace, actor=owner, enabled=True)
    with transaction.atomic():
        job = job_enqueue(workspace=workspace, actor=owner, queue=policy.queues.get(), check_group=False)
        assert job.state == JobState.PENDING
    # The pass ran in the worker process, not here: wait for its commit.
    deadline = time.monotonic() + 30
    while Job.objects.get(pk=job.pk).state != JobState.RUNNING:
        assert time.monotonic() < deadline, "no pass ran:\n" + worker.read_text()
        time.sleep(0.2)
    assert Job.objects.get(pk=job.pk).pool.name == "gpu"
    assert "resources.schedule_workspace" in worker.read_text()
