"""The rules of resource-scheduling.md written as plainly as possible, for the tests.

`reference_plan` is a deliberately naive pass (recompute every head after every
admission). `check_pass` replays a pass's admissions against the state it started
from and asserts every invariant the spec lists.
"""

from __future__ import annotations

from dataclasses import dataclass

from resources.planner import PolicyState, PoolState, ProfileState, QueueState


@dataclass
class World:
    pools: list[PoolState]
    profiles: list[ProfileState]
    policies: list[PolicyState]
    queues: list[QueueState]
    pending: dict[int, list[tuple[int, int]]]  # queue id -> [(seq, job id)] in enqueue order
    enabled: bool = True


def _target(profile: ProfileState, free: dict[int, int]) -> int | None:
    for pool in profile.pools:
        if pool in free and free[pool] >= profile.allotment:
            return pool
    return None


def candidates(world: World, free, usage, position):
    """Every admissible queue head now: (key, queue, job, pool)."""
    profiles = {f.id: f for f in world.profiles}
    policies = {p.id: p for p in world.policies}
    out = []
    for q in world.queues:
        jobs = world.pending.get(q.id, [])
        if position[q.id] >= len(jobs) or q.profile not in profiles or q.policy not in policies:
            continue
        f, p = profiles[q.profile], policies[q.policy]
        pool = _target(f, free)
        if pool is None or usage[p.id] + f.allotment > p.limit:
            continue
        seq, job = jobs[position[q.id]]
        key = (0 if usage[p.id] < p.reservation else 1, f.execution_rank[pool], q.policy_rank, seq)
        out.append((key, q, job, pool))
    return out


def reference_plan(world: World) -> list[tuple[int, int]]:
    """(job, pool) admissions of one pass by the literal rules."""
    if not world.enabled:
        return []
    free = {p.id: p.capacity - p.usage for p in world.pools}
    usage = {p.id: p.usage for p in world.policies}
    position = {q.id: 0 for q in world.queues}
    profiles = {f.id: f for f in world.profiles}
    result = []
    while True:
        heads = candidates(world, free, usage, position)
        if not heads:
            return result
        _key, q, job, pool = min(heads, key=lambda c: c[0])
        allot = profiles[q.profile].allotment
        free[pool] -= allot
        usage[q.policy] += allot
        position[q.id] += 1
        result.append((job, pool))


def check_pass(world: World, admitted: list[tuple[int, int]]) -> None:
    """Assert the invariants of one pass that admitted ADMITTED (in order) from WORLD."""
    if not world.enabled:
        assert admitted == [], "disabled: nothing may be admitted"
        return
    profiles = {f.id: f for f in world.profiles}
    policies = {p.id: p for p in world.policies}
    free = {p.id: p.capacity - p.usage for p in world.pools}
    usage = {p.id: p.usage for p in world.policies}
    position = {q.id: 0 for q in world.queues}
    queue_of_job = {job: q for q in world.queues for _seq, job in world.pending.get(q.id, [])}
    assert len({job for job, _ in admitted}) == len(admitted), "a job admitted twice"
    for job, pool in admitted:
        q = queue_of_job[job]
        f, p = profiles[q.profile], policies[q.policy]
        jobs = world.pending[q.id]
        # FIFO: only the head of a queue can be admitted, so admissions are a prefix.
        assert jobs[position[q.id]][1] == job, f"job {job} admitted ahead of its queue's head"
        # No pool over capacity, no policy over its limit.
        assert free[pool] >= f.allotment, f"pool {pool} over capacity"
        assert usage[p.id] + f.allotment <= p.limit, f"policy {p.id} over its limit"
        # The k-th pool only if the earlier ones could not fit it.
        assert pool in f.pools
        for earlier in f.pools[: f.pools.index(pool)]:
            assert free.get(earlier, -1) < f.allotment, f"job {job} skipped pool {earlier} that fits"
        heads = candidates(world, free, usage, position)
        chosen = [c for c in heads if c[2] == job]
        assert chosen, f"job {job} was not admissible"
        # Below-reservation policies first, then the full key (rule 5).
        below_waiting = [c for c in heads if c[0][0] == 0]
        if usage[p.id] >= p.reservation:
            assert not below_waiting, "a policy at its reservation admitted while one below waits"
        assert chosen[0][0] == min(c[0] for c in heads), "not the smallest key"
        free[pool] -= f.allotment
        usage[p.id] += f.allotment
        position[q.id] += 1
    # After the pass nothing pending fits a linked pool within its policy's limit.
    assert candidates(world, free, usage, position) == [], "an admissible job was left pending"
