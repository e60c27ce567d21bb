"""The scheduling pass against the database: load the state, plan, write the admissions.

One pass runs in one transaction holding the workspace's scheduler lock (a
PostgreSQL transaction-level advisory lock; the services that change what a pass
reads take the same lock). Usage is recomputed from the running jobs at the start.
Admissions are written with a guarded update (`... WHERE state = 'pending'`), so a
pass that dies before committing changes nothing, and a job can never be admitted
twice. A pass stops after MAX_ADMISSIONS and `schedule_until_idle` runs another.
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from workspaces.models import Workspace

from . import planner
from .models import Job, JobState, Link, Policy, Pool, Profile, Queue, ResourceSettings

MAX_ADMISSIONS = 5000
PREFETCH = 12
LOCK_CLASS = 0x5253  # "RS": the resources scheduler's advisory lock namespace

# Test hook: called with a stage name ("planned", "written") inside the pass's transaction.
pass_hook: Callable[[str], None] | None = None


@dataclass
class PassResult:
    admitted: list[tuple[int, int]] = field(default_factory=list)  # (job id, pool id) in admission order
    capped: bool = False
    enabled: bool = True

    def __len__(self) -> int:
        return len(self.admitted)


def lock_workspace(workspace: Workspace | str) -> None:
    """Take the workspace's scheduler lock until the end of the current transaction.

    Serialises passes with each other and with the changes a pass must not overlap
    (provisioning, policy edits, enabling). On SQLite writers are serialised already.
    """
    if connection.vendor != "postgresql":
        return
    workspace_id = str(getattr(workspace, "pk", workspace))
    key = zlib.crc32(workspace_id.encode()) - (1 << 31)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_CLASS, key])


def schedule_pass(workspace: Workspace, *, max_admissions: int = MAX_ADMISSIONS) -> PassResult:
    """Run one pass over WORKSPACE's queues and commit what it admits."""
    with transaction.atomic():
        lock_workspace(workspace)
        enabled = (
            ResourceSettings.objects.filter(workspace=workspace).values_list("enabled", flat=True).first()
        )
        if not enabled:
            return PassResult(enabled=False)
        state = load_state(workspace)
        admissions = planner.plan(
            pools=state.pools,
            profiles=state.profiles,
            policies=state.policies,
            queues=state.queues,
            heads=_head_reader,
            max_admissions=max_admissions,
            prefetched=_prefetch(state),
        )
        if pass_hook:
            pass_hook("planned")
        admitted = _write(workspace, admissions, state.pool_names)
        if pass_hook:
            pass_hook("written")
    return PassResult(admitted=admitted, capped=len(admissions) >= max_admissions)


def schedule_until_idle(workspace: Workspace, *, max_admissions: int = MAX_ADMISSIONS) -> PassResult:
    """Passes until one is not cut short by the admission cap; their admissions together."""
    total = PassResult()
    while True:
        result = schedule_pass(workspace, max_admissions=max_admissions)
        total.admitted.extend(result.admitted)
        total.enabled = result.enabled
        if not result.capped:
            return total


@dataclass
class State:
    pools: list[planner.PoolState]
    profiles: list[planner.ProfileState]
    policies: list[planner.PolicyState]
    queues: list[planner.QueueState]
    pool_names: dict[int, str]


def usage_by(workspace: Workspace, column: str) -> dict[int, planner.Decimal]:
    """Sum of the allotments of running jobs, per pool or per policy (COLUMN)."""
    rows = (
        Job.objects.for_workspace(workspace)
        .filter(state=JobState.RUNNING, **{f"{column}__isnull": False})
        .values_list(column)
        .annotate(total=Sum("allotment"))
    )
    return {key: total for key, total in rows}


def load_state(workspace: Workspace) -> State:
    pool_usage = usage_by(workspace, "pool_id")
    policy_usage = usage_by(workspace, "policy_id")
    pools, pool_names = [], {}
    for pk, name, capacity in Pool.objects.for_workspace(workspace).values_list("pk", "name", "capacity"):
        pools.append(
            planner.PoolState(
                id=pk, capacity=planner.to_milli(capacity), usage=planner.to_milli(pool_usage.get(pk, 0))
            )
        )
        pool_names[pk] = name
    links = defaultdict(list)
    for profile_id, pool_id, precedence, execution in Link.objects.for_workspace(workspace).values_list(
        "profile_id", "pool_id", "precedence", "execution_priority"
    ):
        links[profile_id].append((precedence, pool_id, execution))
    profiles = []
    for pk, allotment in Profile.objects.for_workspace(workspace).values_list("pk", "allotment"):
        ordered = sorted(links.get(pk, ()))
        profiles.append(
            planner.ProfileState(
                id=pk,
                allotment=planner.to_milli(allotment),
                pools=[pool_id for _prec, pool_id, _exe in ordered],
                execution_rank={pool_id: execution for _prec, pool_id, execution in ordered},
            )
        )
    policies = [
        planner.PolicyState(
            id=pk,
            reservation=planner.to_milli(reservation),
            limit=planner.to_milli(limit),
            usage=planner.to_milli(policy_usage.get(pk, 0)),
        )
        for pk, reservation, limit in Policy.objects.for_workspace(workspace).values_list(
            "pk", "reservation", "limit"
        )
    ]
    queues = [
        planner.QueueState(id=pk, policy=policy_id, profile=profile_id, policy_rank=priority)
        for pk, policy_id, profile_id, priority in Queue.objects.for_workspace(workspace).values_list(
            "pk", "policy_id", "profile_id", "priority"
        )
    ]
    return State(pools=pools, profiles=profiles, policies=policies, queues=queues, pool_names=pool_names)


def _bounds(state: State) -> dict[int, int]:
    """Per queue, how many jobs a pass could admit at most (limit room, total free room); 0 = none."""
    free = {p.id: max(p.capacity - p.usage, 0) for p in state.pools}
    profiles = {f.id: f for f in state.profiles}
    policies = {p.id: p for p in state.policies}
    bounds = {}
    for q in state.queues:
        f, p = profiles.get(q.profile), policies.get(q.policy)
        if f is None or p is None or f.allotment <= 0:
            continue
        room = sum(free.get(pool_id, 0) // f.allotment for pool_id in f.pools)
        by_limit = max(p.limit - p.usage, 0) // f.allotment
        bounds[q.id] = min(room, by_limit)
    return bounds


def _prefetch(state: State) -> dict[int, tuple[list[tuple[int, int]], bool]]:
    """The first pending jobs of every queue that could admit any, in one query on PostgreSQL."""
    wanted = {qid: min(bound, PREFETCH) for qid, bound in _bounds(state).items() if bound > 0}
    result: dict[int, tuple[list[tuple[int, int]], bool]] = {
        q.id: ([], True) for q in state.queues if q.id not in wanted
    }
    if not wanted:
        return result
    rows: dict[int, list[tuple[int, int]]] = defaultdict(list)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT q.qid, j.seq, j.id FROM unnest(%s::bigint[], %s::int[]) AS q(qid, n) "
                "CROSS JOIN LATERAL (SELECT id, seq FROM resources_job WHERE queue_id = q.qid "
                "AND state = 'pending' ORDER BY seq, id LIMIT q.n) j ORDER BY q.qid, j.seq, j.id",
                [list(wanted), list(wanted.values())],
            )
            for qid, seq, job_id in cursor.fetchall():
                rows[qid].append((seq, job_id))
    else:
        for qid, n in wanted.items():
            rows[qid] = list(_head_reader(qid, None, n))
    for qid, n in wanted.items():
        items = rows.get(qid, [])
        result[qid] = (items, len(items) < n)
    return result


def _head_reader(queue_id: int, after: tuple[int, int] | None, n: int) -> list[tuple[int, int]]:
    qs = Job.objects.filter(queue_id=queue_id, state=JobState.PENDING)
    if after is not None:
        seq, job_id = after
        qs = qs.filter(Q(seq__gt=seq) | Q(seq=seq, id__gt=job_id))
    return [(seq, pk) for seq, pk in qs.order_by("seq", "id").values_list("seq", "id")[:n]]


def _write(workspace: Workspace, admissions: list[planner.Admission], pool_names: dict[int, str]) -> list:
    """Mark the planned jobs running (only those still pending); their (job, pool) in plan order."""
    if not admissions:
        return []
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    for a in admissions:
        groups[(a.pool, a.allotment)].append(a.job)
    done: set[int] = set()
    table = Job._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One statement for the whole pass.
            cursor.execute(
                f"UPDATE {table} AS j SET state = %s, pool_id = v.pool, pool_name = v.pool_name, "  # noqa: S608
                "allotment = v.allotment, started_at = %s, "
                # A real task upstream is moved into its connection's agent queue by the outbox.
                "upstream_action = CASE WHEN j.upstream THEN 'move' ELSE j.upstream_action END "
                "FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::numeric[]) AS v(id, pool, pool_name, allotment) "
                "WHERE j.id = v.id AND j.state = %s AND j.workspace_id = %s RETURNING j.id",
                [
                    JobState.RUNNING.value,
                    now,
                    [a.job for a in admissions],
                    [a.pool for a in admissions],
                    [pool_names.get(a.pool, "") for a in admissions],
                    [planner.from_milli(a.allotment) for a in admissions],
                    JobState.PENDING.value,
                    workspace.pk,
                ],
            )
            done.update(row[0] for row in cursor.fetchall())
            return [(a.job, a.pool) for a in admissions if a.job in done]
        for (pool_id, allotment), job_ids in groups.items():
            for start in range(0, len(job_ids), 500):
                chunk = job_ids[start : start + 500]
                cursor.execute(
                    f"UPDATE {table} SET state = %s, pool_id = %s, pool_name = %s, allotment = %s, "  # noqa: S608
                    "started_at = %s, upstream_action = CASE WHEN upstream THEN 'move' ELSE upstream_action END "
                    f"WHERE id IN ({', '.join(['%s'] * len(chunk))}) AND state = %s "
                    "AND workspace_id = %s RETURNING id",
                    [
                        JobState.RUNNING.value,
                        pool_id,
                        pool_names.get(pool_id, ""),
                        connection.ops.adapt_decimalfield_value(planner.from_milli(allotment), 12, 3),
                        now,
                        *chunk,
                        JobState.PENDING.value,
                        workspace.pk.hex,
                    ],
                )
                done.update(row[0] for row in cursor.fetchall())
    return [(a.job, a.pool) for a in admissions if a.job in done]
