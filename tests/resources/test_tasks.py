"""The pass as a Celery task: eager in-process runs after each change, debounced sends with a broker."""

import pytest

from access.models import UserGroup
from resources import tasks
from resources.models import JobState, ResourceSettings
from resources.services import background
from resources.services.jobs import job_complete, job_enqueue
from resources.services.policies import QueueSpec, policy_create
from resources.services.scheduling import resource_management_set, settings_get

from .helpers import provision_config

pytestmark = pytest.mark.django_db


@pytest.fixture
def queue(owner, workspace):
    _pools, profiles, _ = provision_config(
        workspace, owner, pools={"gpu": 4}, profiles={"4x": 4}, links=[("4x-gpu", "4x", "gpu")]
    )
    group = UserGroup.objects.create(workspace=workspace, name="Team")
    policy = policy_create(
        workspace=workspace,
        actor=owner,
        name="Team",
        group=group,
        reservation=0,
        limit=8,
        queues=[QueueSpec(profile=profiles["4x"], name="team-4x")],
    )
    return policy.queues.get()


def test_embedded_default_runs_the_pass_after_each_change(
    owner, workspace, queue, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        resource_management_set(workspace=workspace, actor=owner, enabled=True)
    with django_capture_on_commit_callbacks(execute=True):
        first = job_enqueue(workspace=workspace, actor=owner, queue=queue, check_group=False)
        second = job_enqueue(workspace=workspace, actor=owner, queue=queue, check_group=False)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.state, second.state) == (JobState.RUNNING, JobState.PENDING)
    with django_capture_on_commit_callbacks(execute=True):
        job_complete(job=first)
    second.refresh_from_db()
    assert second.state == JobState.RUNNING  # the completion's pass gave it the freed pool


@pytest.fixture
def with_broker():
    conf = tasks.schedule_workspace.app.conf
    old = conf.task_always_eager
    conf.task_always_eager = False
    yield
    conf.task_always_eager = old


def test_requests_with_a_broker_are_debounced(owner, workspace, queue, monkeypatch, with_broker):
    sent = []
    monkeypatch.setattr(tasks.schedule_workspace, "delay", lambda workspace_id: sent.append(workspace_id))
    workspace_id = str(workspace.pk)
    settings_get(workspace=workspace)
    tasks.request_schedule(workspace_id)
    tasks.request_schedule(workspace_id)
    assert sent == [workspace_id]  # the second request folds into the waiting task
    tasks.schedule_workspace(workspace_id)  # the task starts: clears the mark
    assert ResourceSettings.objects.get(workspace=workspace).schedule_requested_at is None
    tasks.request_schedule(workspace_id)
    assert sent == [workspace_id, workspace_id]


def test_beat_runs_every_enabled_workspace(owner, workspace, queue):
    resource_management_set(workspace=workspace, actor=owner, enabled=True)
    job = job_enqueue(workspace=workspace, actor=owner, queue=queue, check_group=False)
    assert tasks.schedule_all() == 1
    job.refresh_from_db()
    assert job.state == JobState.RUNNING


def test_beat_is_configured():
    from django.conf import settings

    assert settings.CELERY_BEAT_SCHEDULE["resources-schedule-all"]["task"] == "resources.schedule_all"


def test_one_pass_per_commit_however_many_changes(
    owner, workspace, queue, monkeypatch, django_capture_on_commit_callbacks
):
    from django.db import transaction

    sent = []
    monkeypatch.setattr(background, "request_schedule", lambda workspace_id: sent.append(workspace_id))
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        for _ in range(3):
            job_enqueue(workspace=workspace, actor=owner, queue=queue, check_group=False)
    assert sent == [str(workspace.pk)]
    with django_capture_on_commit_callbacks(execute=True):
        job_enqueue(workspace=workspace, actor=owner, queue=queue, check_group=False)
    assert sent == [str(workspace.pk)] * 2
