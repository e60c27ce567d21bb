"""One scheduling pass as a pure function of the state (docs/scheduler.md, resource-scheduling.md).

No database here: `plan()` takes plain numbers (integer thousandths of a resource)
and a way to read queue heads, and returns the admissions in the order they were
made. resources/scheduler.py loads the state and writes the admissions.

The pass keeps one heap entry per queue whose head can be admitted now, keyed
`(reservation flag, rank of the profile in its target pool, rank of the policy in
the profile, enqueue order)`. Within a pass free capacity only shrinks and usage only
grows, so a queue that cannot be admitted stays that way and is dropped. Entries are
re-keyed eagerly (with a version stamp that makes older heap entries stale) when
what their key depends on changes: the queue's head (it admitted), its policy's
usage (it admitted) or its profile's target pool (that pool filled up). The cost is
O((queues + admissions + target moves x queues per profile) log queues).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

MILLI = 1000


@dataclass
class PoolState:
    id: int
    capacity: int  # thousandths
    usage: int


@dataclass
class ProfileState:
    id: int
    allotment: int
    pools: list[int]  # pool precedence: linked pool ids, first tried first
    execution_rank: dict[int, int]  # pool id -> rank of this profile in the pool's execution priority


@dataclass
class PolicyState:
    id: int
    reservation: int
    limit: int
    usage: int


@dataclass
class QueueState:
    id: int
    policy: int
    profile: int
    policy_rank: int  # rank of the policy in the profile's policy priority


@dataclass(frozen=True)
class Admission:
    job: int
    queue: int
    pool: int
    allotment: int
    seq: int


# heads(queue_id, after, n) -> up to n (seq, job_id) pending jobs of the queue after AFTER
# (a (seq, job_id) pair, or None for the start), in enqueue order.
HeadReader = Callable[[int, tuple[int, int] | None, int], Sequence[tuple[int, int]]]


@dataclass
class _Buffer:
    items: list[tuple[int, int]] = field(default_factory=list)
    pos: int = 0
    exhausted: bool = False
    batch: int = 8


def plan(
    *,
    pools: Sequence[PoolState],
    profiles: Sequence[ProfileState],
    policies: Sequence[PolicyState],
    queues: Sequence[QueueState],
    heads: HeadReader,
    max_admissions: int | None = None,
    prefetched: dict[int, tuple[list[tuple[int, int]], bool]] | None = None,
    initial_batch: int = 8,
) -> list[Admission]:
    """The admissions of one pass, in the order the rules make them.

    PREFETCHED may hold, per queue, its first pending (seq, job) pairs (read in one
    query) and whether that is all of them; a queue whose buffer runs out asks HEADS
    for more, in growing batches.
    """
    free = {p.id: p.capacity - p.usage for p in pools}
    profile_by_id = {f.id: f for f in profiles}
    policy_by_id = {p.id: p for p in policies}
    usage = {p.id: p.usage for p in policies}
    queues = [q for q in queues if q.profile in profile_by_id and q.policy in policy_by_id]
    queues_of_profile: dict[int, list[QueueState]] = {}
    queues_of_policy: dict[int, list[QueueState]] = {}
    for q in queues:
        queues_of_profile.setdefault(q.profile, []).append(q)
        queues_of_policy.setdefault(q.policy, []).append(q)

    # target[f]: index into f.pools of the first pool that fits f's allotment, or None.
    target: dict[int, int | None] = {}
    targeting: dict[int, set[int]] = {}

    def find_target(f: ProfileState, start: int = 0) -> int | None:
        for i in range(start, len(f.pools)):
            pool_id = f.pools[i]
            if pool_id in free and free[pool_id] >= f.allotment:
                return i
        return None

    def set_target(f: ProfileState, index: int | None) -> None:
        old = target.get(f.id)
        if old is not None:
            targeting[f.pools[old]].discard(f.id)
        target[f.id] = index
        if index is not None:
            targeting.setdefault(f.pools[index], set()).add(f.id)

    for f in profiles:
        set_target(f, find_target(f))

    buffers: dict[int, _Buffer] = {}
    for q in queues:
        buf = _Buffer(batch=initial_batch)
        if prefetched is not None and q.id in prefetched:
            items, exhausted = prefetched[q.id]
            buf.items, buf.exhausted = list(items), exhausted
            buf.batch = max(initial_batch * 4, 128)
        buffers[q.id] = buf

    def head(q: QueueState) -> tuple[int, int] | None:
        buf = buffers[q.id]
        if buf.pos < len(buf.items):
            return buf.items[buf.pos]
        if buf.exhausted:
            return None
        after = buf.items[-1] if buf.items else None
        more = list(heads(q.id, after, buf.batch))
        if len(more) < buf.batch:
            buf.exhausted = True
        buf.batch = min(buf.batch * 4, 4096)
        buf.items = more
        buf.pos = 0
        return more[0] if more else None

    version: dict[int, int] = {q.id: 0 for q in queues}
    heap: list[tuple[int, int, int, int, int, int]] = []

    def rekey(q: QueueState) -> None:
        version[q.id] += 1
        f = profile_by_id[q.profile]
        index = target[f.id]
        if index is None:
            return  # no linked pool fits: waits this pass (free space only shrinks)
        policy = policy_by_id[q.policy]
        if usage[policy.id] + f.allotment > policy.limit:
            return  # over the policy's limit: waits this pass
        h = head(q)
        if h is None:
            return
        below = 0 if usage[policy.id] < policy.reservation else 1
        rank = f.execution_rank.get(f.pools[index], 1 << 30)
        heapq.heappush(heap, (below, rank, q.policy_rank, h[0], version[q.id], q.id))

    queue_by_id = {q.id: q for q in queues}
    for q in queues:
        rekey(q)

    admissions: list[Admission] = []
    while heap and (max_admissions is None or len(admissions) < max_admissions):
        _below, _rank, _prank, seq, ver, qid = heapq.heappop(heap)
        if ver != version[qid]:
            continue
        q = queue_by_id[qid]
        f = profile_by_id[q.profile]
        index = target[f.id]
        pool_id = f.pools[index]
        seq, job = head(q)
        admissions.append(Admission(job=job, queue=qid, pool=pool_id, allotment=f.allotment, seq=seq))
        buffers[qid].pos += 1
        free[pool_id] -= f.allotment
        usage[q.policy] += f.allotment
        # Profiles aiming at this pool may not fit any more: move them on (never back).
        for other_id in list(targeting.get(pool_id, ())):
            other = profile_by_id[other_id]
            if free[pool_id] >= other.allotment:
                continue
            set_target(other, find_target(other, target[other_id] + 1))
            for qq in queues_of_profile.get(other_id, ()):
                if qq.policy != q.policy:
                    rekey(qq)
        # The policy's usage grew: its reservation flag and limit check may change.
        for qq in queues_of_policy[q.policy]:
            rekey(qq)
    return admissions


def to_milli(value) -> int:
    """A Decimal (or int/str) amount as integer thousandths."""
    return int((Decimal(value) * MILLI).to_integral_value())


def from_milli(value: int) -> Decimal:
    return (Decimal(value) / MILLI).quantize(Decimal("0.001"))
