"""Random configurations and operation sequences through the real services and database;
after every scheduling pass every invariant of resource-scheduling.md is checked."""

from collections import defaultdict

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from access.models import UserGroup
from resources import draft as drafts
from resources.models import Job, JobState, Queue, ResourceSettings
from resources.scheduler import load_state, schedule_pass
from resources.services.editor import draft_save, editor_edit
from resources.services.jobs import job_abort, job_complete, job_enqueue
from resources.services.policies import QueueSpec, policy_create, policy_update
from resources.services.provisioning import draft_provision
from resources.services.scheduling import resource_management_set
from workspaces.services import workspace_create

from .helpers import provision_config
from .rules import World, check_pass

ALLOTMENTS = ["0.5", "1", "2", "4", "8"]

config = st.fixed_dictionaries(
    {
        "pools": st.lists(st.integers(0, 12), min_size=1, max_size=3),
        "profiles": st.lists(st.sampled_from(ALLOTMENTS), min_size=1, max_size=3),
        "links": st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2)), max_size=6),
        "policies": st.lists(st.tuples(st.integers(0, 8), st.integers(0, 12)), min_size=1, max_size=3),
        "queues": st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2)), min_size=1, max_size=6),
    }
)
operation = st.one_of(
    st.tuples(st.just("enqueue"), st.integers(0, 5), st.integers(1, 4)),
    st.tuples(st.just("complete"), st.integers(0, 50)),
    st.tuples(st.just("abort"), st.integers(0, 50)),
    st.tuples(st.just("schedule")),
    st.tuples(st.just("capacity"), st.integers(0, 2), st.integers(0, 12)),
    st.tuples(st.just("allotment"), st.integers(0, 2), st.sampled_from(ALLOTMENTS)),
    st.tuples(st.just("unlink"), st.integers(0, 5)),
    st.tuples(st.just("enabled"), st.booleans()),
    st.tuples(st.just("limit"), st.integers(0, 2), st.integers(0, 8), st.integers(0, 12)),
)


def world_of(workspace) -> World:
    state = load_state(workspace)
    pending = defaultdict(list)
    for queue_id, seq, pk in (
        Job.objects.for_workspace(workspace)
        .filter(state=JobState.PENDING)
        .order_by("seq", "id")
        .values_list("queue_id", "seq", "id")
    ):
        pending[queue_id].append((seq, pk))
    enabled = ResourceSettings.objects.get(workspace=workspace).enabled
    return World(
        pools=state.pools,
        profiles=state.profiles,
        policies=state.policies,
        queues=state.queues,
        pending=dict(pending),
        enabled=enabled,
    )


def check_database(workspace) -> None:
    """Every job is in exactly one consistent state; usage is what the running jobs hold."""
    for job in Job.objects.for_workspace(workspace):
        if job.state == JobState.PENDING:
            assert job.queue_id and job.seq is not None and job.pool_id is None
        if job.state == JobState.RUNNING:
            assert job.allotment is not None and job.allotment > 0 and job.pool_name


@pytest.mark.django_db
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(cfg=config, ops=st.lists(operation, min_size=1, max_size=14))
def test_random_operations_keep_every_invariant(owner, cfg, ops):
    with transaction.atomic():
        run(owner, cfg, ops)
        transaction.set_rollback(True)


def run(owner, cfg, ops):
    workspace = workspace_create(owner=owner, name="Props")
    pool_names = [f"pool{i}" for i in range(len(cfg["pools"]))]
    profile_names = [f"prof{i}" for i in range(len(cfg["profiles"]))]
    links, seen = [], set()
    for n, (f, p) in enumerate(cfg["links"]):
        pair = (f % len(profile_names), p % len(pool_names))
        if pair not in seen:
            seen.add(pair)
            links.append((f"link{n}", profile_names[pair[0]], pool_names[pair[1]]))
    _pools, profiles, _ = provision_config(
        workspace,
        owner,
        pools=dict(zip(pool_names, cfg["pools"], strict=True)),
        profiles=dict(zip(profile_names, cfg["profiles"], strict=True)),
        links=links,
    )
    group = UserGroup.objects.create(workspace=workspace, name="G")
    policies = []
    for n, (reservation, extra) in enumerate(cfg["policies"]):
        limit = reservation + extra
        queues, used = [], set()
        for q_policy, q_profile in cfg["queues"]:
            profile = profiles[profile_names[q_profile % len(profile_names)]]
            if q_policy % len(cfg["policies"]) == n and profile.pk not in used and profile.allotment <= limit:
                used.add(profile.pk)
                queues.append(QueueSpec(profile=profile, name=f"q{n}-{profile.name}"))
        policies.append(
            policy_create(
                workspace=workspace,
                actor=owner,
                name=f"policy{n}",
                group=group,
                reservation=reservation,
                limit=limit,
                queues=queues,
            )
        )
    resource_management_set(workspace=workspace, actor=owner, enabled=True)
    passes = 0
    for op in [*ops, ("schedule",)]:
        kind = op[0]
        queues = list(Queue.objects.for_workspace(workspace).order_by("id"))
        if kind == "enqueue" and queues:
            for _ in range(op[2]):
                job_enqueue(
                    workspace=workspace, actor=owner, queue=queues[op[1] % len(queues)], check_group=False
                )
        elif kind in {"complete", "abort"}:
            states = [JobState.RUNNING] if kind == "complete" else [JobState.RUNNING, JobState.PENDING]
            jobs = list(Job.objects.for_workspace(workspace).filter(state__in=states).order_by("id"))
            if jobs:
                job = jobs[op[1] % len(jobs)]
                if kind == "complete":
                    assert job_complete(job=job)
                else:
                    assert job_abort(job=job, actor=owner)
        elif kind in {"capacity", "allotment", "unlink"}:
            provision_change(workspace, owner, op)
        elif kind == "enabled":
            resource_management_set(workspace=workspace, actor=owner, enabled=op[1])
        elif kind == "limit":
            policy = policies[op[1] % len(policies)]
            policy.refresh_from_db()
            try:
                policy_update(
                    policy=policy,
                    actor=owner,
                    name=policy.name,
                    group=group,
                    reservation=op[2],
                    limit=op[2] + op[3],
                    queues=[QueueSpec(profile=q.profile, name=q.name) for q in policy.queues.all()],
                )
            except Exception as exc:  # a limit below a connected profile's allotment is refused
                assert "cannot be connected" in str(exc)
        elif kind == "schedule":
            before = world_of(workspace)
            running_before = running_ids(workspace)
            result = schedule_pass(workspace)
            passes += 1
            check_pass(before, result.admitted)
            # The database agrees with what the pass says it admitted, and nothing else changed.
            assert running_ids(workspace) == running_before | {job for job, _ in result.admitted}
            for job, pool in result.admitted:
                assert Job.objects.get(pk=job).pool_id == pool
            check_database(workspace)
    assert passes >= 1


def running_ids(workspace) -> set[int]:
    return set(
        Job.objects.for_workspace(workspace).filter(state=JobState.RUNNING).values_list("id", flat=True)
    )


def provision_change(workspace, actor, op) -> None:
    kind = op[0]

    def edit(d):
        if kind == "capacity":
            pool = d["pools"][op[1] % len(d["pools"])]
            return drafts.pool_edit(d, pool["key"], name=pool["name"], capacity=op[2])
        if kind == "allotment":
            profile = d["profiles"][op[1] % len(d["profiles"])]
            return drafts.profile_edit(d, profile["key"], name=profile["name"], allotment=op[2])
        if not d["links"]:
            return d
        return drafts.link_delete(d, d["links"][op[1] % len(d["links"])]["key"])

    running = running_jobs(workspace)
    editor_edit(workspace=workspace, actor=actor, edit=edit)
    draft_save(workspace=workspace, actor=actor)
    draft_provision(workspace=workspace, actor=actor)
    # Provisioning never evicts: running jobs keep their pool and their original allotment.
    assert running_jobs(workspace) == running


def running_jobs(workspace) -> dict:
    return {
        pk: (pool, allotment)
        for pk, pool, allotment in Job.objects.for_workspace(workspace)
        .filter(state=JobState.RUNNING)
        .values_list("id", "pool_id", "allotment")
    }
