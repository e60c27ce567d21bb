"""Property tests of one pass (pure, no database): random configurations, the rules checked."""

from hypothesis import given, settings
from hypothesis import strategies as st

from resources.planner import PolicyState, PoolState, ProfileState, QueueState, plan

from .rules import World, check_pass, reference_plan

AMOUNTS = [125, 250, 500, 1000, 2000, 3000, 4000, 8000]  # thousandths


@st.composite
def worlds(draw, max_pools=4, max_profiles=4, max_policies=3, max_jobs=8):
    n_pools = draw(st.integers(1, max_pools))
    pools = []
    for i in range(n_pools):
        capacity = draw(st.integers(0, 16)) * 1000 + draw(st.sampled_from([0, 0, 500, 250]))
        usage = draw(st.sampled_from([0, 0, 0, capacity // 2, capacity, capacity + 1000]))
        pools.append(PoolState(id=100 + i, capacity=capacity, usage=usage))
    pool_ids = [p.id for p in pools]
    n_profiles = draw(st.integers(1, max_profiles))
    profiles = []
    for i in range(n_profiles):
        linked = draw(st.permutations(pool_ids))[: draw(st.integers(0, n_pools))]
        profiles.append(
            ProfileState(
                id=200 + i, allotment=draw(st.sampled_from(AMOUNTS)), pools=list(linked), execution_rank={}
            )
        )
    # Execution priority: per pool, a permutation of the profiles linked to it.
    for pool in pool_ids:
        linked = [f for f in profiles if pool in f.pools]
        for rank, f in enumerate(draw(st.permutations(linked)), start=1):
            f.execution_rank[pool] = rank
    n_policies = draw(st.integers(1, max_policies))
    policies = []
    for i in range(n_policies):
        reservation = draw(st.integers(0, 12)) * 1000
        limit = reservation + draw(st.integers(0, 16)) * 1000
        usage = draw(st.sampled_from([0, 0, reservation, limit, reservation // 2]))
        policies.append(PolicyState(id=300 + i, reservation=reservation, limit=limit, usage=usage))
    pairs = [(p.id, f.id) for p in policies for f in profiles]
    chosen = draw(st.lists(st.sampled_from(pairs), unique=True, min_size=1, max_size=len(pairs)))
    queues = []
    for qid, (policy, profile) in enumerate(chosen, start=400):
        queues.append(QueueState(id=qid, policy=policy, profile=profile, policy_rank=0))
    for f in profiles:
        mine = [q for q in queues if q.profile == f.id]
        for rank, q in enumerate(draw(st.permutations(mine)), start=1):
            q.policy_rank = rank
    # Jobs: a random interleaving over the queues, seq = enqueue order.
    order = draw(st.lists(st.sampled_from([q.id for q in queues]), max_size=max_jobs * len(queues)))
    pending = {q.id: [] for q in queues}
    for seq, qid in enumerate(order, start=1):
        pending[qid].append((seq, 10_000 + seq))
    enabled = draw(st.sampled_from([True, True, True, False]))
    return World(
        pools=pools, profiles=profiles, policies=policies, queues=queues, pending=pending, enabled=enabled
    )


def run_plan(world: World, max_admissions=None, prefetch=None, initial_batch=8):
    if not world.enabled:
        return []

    def heads(qid, after, n):
        jobs = world.pending[qid]
        start = 0 if after is None else jobs.index(after) + 1
        return jobs[start : start + n]

    prefetched = None
    if prefetch is not None:
        prefetched = {qid: (jobs[:prefetch], len(jobs) <= prefetch) for qid, jobs in world.pending.items()}
    admissions = plan(
        pools=world.pools,
        profiles=world.profiles,
        policies=world.policies,
        queues=world.queues,
        heads=heads,
        max_admissions=max_admissions,
        prefetched=prefetched,
        initial_batch=initial_batch,
    )
    return [(a.job, a.pool) for a in admissions]


@settings(max_examples=1000, deadline=None)
@given(worlds())
def test_pass_keeps_every_invariant_and_matches_the_literal_rules(world):
    admitted = run_plan(world)
    check_pass(world, admitted)
    assert admitted == reference_plan(world)


@settings(max_examples=150, deadline=None)
@given(worlds(), st.integers(0, 3), st.integers(1, 3))
def test_head_reading_in_batches_changes_nothing(world, prefetch, batch):
    assert run_plan(world, prefetch=prefetch, initial_batch=batch) == run_plan(world)


@settings(max_examples=150, deadline=None)
@given(worlds(), st.integers(1, 3))
def test_capped_passes_add_up_to_one_pass(world, cap):
    """Cutting a pass at CAP admissions and running again gives the same admissions."""
    full = run_plan(world)
    done: list = []
    while True:
        part = run_plan(remaining(world, done), max_admissions=cap)
        done += part
        if len(part) < cap:
            break
    assert done == full


def test_same_state_same_admissions():
    world = World(
        pools=[PoolState(1, 8000, 0), PoolState(2, 8000, 0)],
        profiles=[ProfileState(10, 4000, [1, 2], {1: 1, 2: 1})],
        policies=[PolicyState(20, 8000, 16000, 0), PolicyState(21, 8000, 16000, 0)],
        queues=[QueueState(30, 20, 10, 1), QueueState(31, 21, 10, 2)],
        pending={30: [(2, 102), (4, 104), (6, 106)], 31: [(1, 101), (3, 103), (5, 105)]},
    )
    first = run_plan(world)
    assert first == run_plan(world) == [(102, 1), (104, 1), (101, 2), (103, 2)]


def remaining(world: World, done: list) -> World:
    """WORLD after the admissions DONE: usage grown, admitted jobs gone from their queues."""
    import copy

    w = copy.deepcopy(world)
    profiles = {f.id: f for f in w.profiles}
    pools = {p.id: p for p in w.pools}
    policies = {p.id: p for p in w.policies}
    for job, pool in done:
        for q in w.queues:
            if w.pending[q.id] and w.pending[q.id][0][1] == job:
                w.pending[q.id].pop(0)
                pools[pool].usage += profiles[q.profile].allotment
                policies[q.policy].usage += profiles[q.profile].allotment
                break
        else:
            raise AssertionError(f"{job} was not a queue head")
    return w
