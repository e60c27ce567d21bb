"""Benchmark of one resource-scheduling pass on PostgreSQL at 100,000 and 10,000 pending jobs.

Run it (PostgreSQL is needed):

    scripts/with-test-services.sh .venv/bin/python bench/scheduler.py

Options: --jobs N (100000), --small N (10000), --million N (1000000; 0 skips it), --moves N
(5000; 0 skips the upstream part), --wave N (250), --rounds N (5), --seed N (1), --keep-db.

What it does (a few minutes: filling 1,000,000 jobs takes most of it):
1. creates a throw-away database `portal_sched_bench_<pid>` next to DATABASE_URL's and
   migrates it;
2. builds, through the real services (editor draft + Provision, policy_create), a
   configuration of 100 pools, 50 profiles (allotments 0.5 to 8, each linked to 2-5
   pools in a random precedence), 200 policies (reservation, limit) with 5 queues each
   (1,000 queues), in two workspaces with the same configuration;
3. fills the queues with --jobs and --small pending jobs (one INSERT ... SELECT; enqueue
   order = the sequence), lets the scheduler fill the pools once, then completes a
   third of the running jobs so that the measured pass has capacity to hand out;
4. times `resources.scheduler.schedule_pass` (the function the Celery task runs: lock,
   usage from the database, queue heads, plan, guarded writes) --rounds times on each
   workspace, each inside a transaction rolled back afterwards so every round starts
   from the same state, and prints the median pass time and admissions per second;
5. the same at --million pending jobs (a third workspace): `pass_s_1m`;
6. real queues (docs/resource-scheduling.md, "Real queues on a ClearML server"): a fourth
   workspace linked to the upstream stand-in (in its own process), its queues provisioned
   there; --moves tasks are made and enqueued into the policy queues upstream, then arrive
   as pending jobs in waves of --wave; after each wave one scheduling run (the pass, then
   the outbox moving every admitted task into its connection's agent queue with one
   `tasks.enqueue_many` per agent queue; reading the new tasks' names for the pages is left
   out, it is not on the admission path), agents pulling the moved tasks between waves
   (untimed). `moves_per_s` = tasks moved / time of those runs; `admit_to_moved_p99_s`
   = the 99th percentile of (moved - enqueued) over the jobs;
7. drops the database and ends with exactly one line
   `pass_s_100k=<seconds> growth_100k_over_10k=<x> pass_s_1m=<seconds> moves_per_s=<y>
   admit_to_moved_p99_s=<z>`.

Not a test: it fails only when PostgreSQL is missing. Figures seen are in docs/scheduler.md.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.throwaway import log, postgres_url_or_exit, throwaway_database  # noqa: E402

POOLS, PROFILES, POLICIES, QUEUES_PER_POLICY = 100, 50, 200, 5
ALLOTMENTS = ["0.5", "1", "2", "4", "8"]


def build_workspace(name: str, owner, rng: random.Random):
    """The configuration through the services the UI uses; returns (workspace, queue ids)."""
    from access.models import UserGroup
    from resources import draft as drafts
    from resources.models import Profile, Queue
    from resources.services.editor import draft_save, editor_edit
    from resources.services.policies import QueueSpec, policy_create
    from resources.services.provisioning import draft_provision
    from resources.services.scheduling import resource_management_set
    from workspaces.services import workspace_create

    workspace = workspace_create(owner=owner, name=name)

    def build(d):
        for i in range(POOLS):
            d = drafts.pool_add(d, name=f"pool-{i}", capacity=rng.choice([16, 32, 48, 64]))
        for i in range(PROFILES):
            d = drafts.profile_add(d, name=f"profile-{i}", allotment=ALLOTMENTS[i % len(ALLOTMENTS)])
        pools = [p["key"] for p in d["pools"]]
        for i, profile in enumerate(d["profiles"]):
            for j, pool in enumerate(rng.sample(pools, rng.randint(2, 5))):
                d = drafts.link_add(d, profile=profile["key"], pool=pool, name=f"link-{i}-{j}")
        for pool in d["pools"]:  # a random execution priority in every pool
            order = [x["key"] for x in drafts.pool_links(d, pool["key"])]
            rng.shuffle(order)
            d = drafts.execution_set(d, pool["key"], order)
        return d

    editor_edit(workspace=workspace, actor=owner, edit=build)
    draft_save(workspace=workspace, actor=owner)
    draft_provision(workspace=workspace, actor=owner)
    group = UserGroup.objects.create(workspace=workspace, name="Everyone")
    profiles = list(Profile.objects.for_workspace(workspace))
    for i in range(POLICIES):
        reservation = rng.choice([0, 0, 4, 8, 16])
        limit = reservation + rng.choice([8, 16, 32, 64])
        chosen = rng.sample(profiles, QUEUES_PER_POLICY)
        policy_create(
            workspace=workspace,
            actor=owner,
            name=f"policy-{i}",
            group=group,
            reservation=reservation,
            limit=limit,
            queues=[QueueSpec(profile=f, name=f"q-{i}-{f.pk}") for f in chosen if f.allotment <= limit],
        )
    resource_management_set(workspace=workspace, actor=owner, enabled=True)
    queue_ids = list(Queue.objects.for_workspace(workspace).values_list("id", flat=True))
    return workspace, queue_ids


def fill(workspace, queue_ids: list[int], n: int, offset: int) -> None:
    """N pending jobs spread over the queues (a multiplicative hash), enqueue order = seq."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO resources_job (workspace_id, name, task_id, state, queue_id, policy_id, profile_id, "
            "queue_name, pool_name, worker, seq, created_at, enqueued_at) "
            "SELECT %s, 'job-' || g, 'task-' || g, 'pending', q.id, q.policy_id, q.profile_id, q.name, '', '', "
            "g + %s, now(), now() FROM generate_series(1, %s) AS g "
            "JOIN resources_queue q ON q.id = (%s::bigint[])[1 + ((g::bigint * 2654435761) %% %s)]",
            [workspace.pk, offset, n, queue_ids, len(queue_ids)],
        )
        cursor.execute("SELECT setval('resources_job_seq', (SELECT max(seq) FROM resources_job))")
        cursor.execute("ANALYZE resources_job")


def churn(workspace, rng: random.Random) -> int:
    """Fill the pools once (committed), then finish a third of the running jobs."""
    from resources.models import Job, JobState
    from resources.scheduler import schedule_until_idle

    schedule_until_idle(workspace)
    running = list(
        Job.objects.for_workspace(workspace).filter(state=JobState.RUNNING).values_list("id", flat=True)
    )
    done = rng.sample(running, len(running) // 3)
    Job.objects.filter(pk__in=done).update(state=JobState.COMPLETED)
    return len(running)


def measure(workspace, rounds: int) -> tuple[float, int]:
    """Median seconds of one pass over WORKSPACE (each round rolled back) and its admissions."""
    from django.db import transaction

    from resources.scheduler import schedule_pass

    times, admitted = [], 0
    for _ in range(rounds):
        with transaction.atomic():
            start = time.perf_counter()
            result = schedule_pass(workspace)
            times.append(time.perf_counter() - start)
            admitted = len(result.admitted)
            transaction.set_rollback(True)
    return statistics.median(times), admitted


def upstream_moves(owner, *, moves: int, wave: int) -> tuple[float, float]:
    """Sustained admissions with their upstream moves into the stand-in: (moves/s, p99 seconds)."""
    import secrets
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    from bench.gateway import start_standin
    from gateway import services as gateway_services
    from resources import draft as drafts
    from resources.models import Job, Profile, Queue, UpstreamQueue
    from resources.services import upstream
    from resources.services.editor import draft_save, editor_edit
    from resources.services.policies import QueueSpec, policy_create
    from resources.services.provisioning import draft_provision
    from resources.services.scheduling import resource_management_set
    from resources.tasks import run_workspace
    from workspaces.services import workspace_create

    token_secret = secrets.token_urlsafe(48)
    key, system_secret = "BENCHSYSTEMKEY" + secrets.token_hex(8).upper(), secrets.token_urlsafe(32)
    process, url = start_standin(token_secret, key, system_secret)
    try:
        workspace = workspace_create(owner=owner, name="Bench upstream")
        gateway_services.link_create(
            workspace=workspace,
            url=url,
            token_secret=token_secret,
            system_access_key=key,
            system_secret_key=system_secret,
            actor=owner,
        )

        def build(d):
            for i in range(8):
                d = drafts.pool_add(d, name=f"pool-{i}", capacity=moves)
            for i in range(4):
                d = drafts.profile_add(d, name=f"profile-{i}", allotment=1)
            for i, profile in enumerate(d["profiles"]):
                for j in range(2):
                    pool = d["pools"][(2 * i + j) % len(d["pools"])]
                    d = drafts.link_add(d, profile=profile["key"], pool=pool["key"], name=f"{i} GPU pool-{j}")
            return d

        editor_edit(workspace=workspace, actor=owner, edit=build)
        draft_save(workspace=workspace, actor=owner)
        draft_provision(workspace=workspace, actor=owner)
        from access.models import UserGroup

        group = UserGroup.objects.create(workspace=workspace, name="Movers")
        for i in range(4):
            policy_create(
                workspace=workspace,
                actor=owner,
                name=f"team-{i}",
                group=group,
                reservation=0,
                limit=moves,
                queues=[
                    QueueSpec(profile=f, name=f"team-{i}-{f.name}")
                    for f in Profile.objects.for_workspace(workspace)
                ],
            )
        resource_management_set(workspace=workspace, actor=owner, enabled=False)
        sync = upstream.queues_sync(workspace)
        if sync.errors:
            raise SystemExit(f"queues not provisioned upstream: {sync.errors}")
        queues = list(Queue.objects.for_workspace(workspace).select_related("upstream"))
        system = upstream.upstream_of(workspace)

        def make(i: int) -> str:
            queue = queues[i % len(queues)]
            task = upstream.system_call(system, "tasks.create", {"name": f"bench-{i}", "type": "training"})
            task_id = task.data["id"]
            upstream.system_call(
                system, "tasks.enqueue", {"task": task_id, "queue": queue.upstream.upstream_id}
            )
            return task_id

        agent_queues = list(
            UpstreamQueue.objects.for_workspace(workspace)
            .filter(kind="agent")
            .values_list("upstream_id", flat=True)
        )

        def pull(queue_id: str) -> list[str]:
            """An agent of QUEUE_ID takes every task waiting there."""
            taken = []
            while True:
                entry = upstream.system_call(system, "queues.get_next_task", {"queue": queue_id}).data.get(
                    "entry"
                )
                if not entry:
                    return taken
                taken.append(entry["task"])

        resource_management_set(workspace=workspace, actor=owner, enabled=True)
        table = Job._meta.db_table
        spent, made_s, pulled = 0.0, 0.0, []
        for start in range(0, moves, wave):
            chunk = list(range(start, min(start + wave, moves)))
            begin = time.perf_counter()
            with ThreadPoolExecutor(max_workers=8) as pool:
                task_ids = list(pool.map(make, chunk))
            made_s += time.perf_counter() - begin
            with connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {table} (workspace_id, name, task_id, state, queue_id, policy_id, profile_id, "
                    "queue_name, pool_name, worker, seq, created_at, enqueued_at, upstream, upstream_action, "
                    "action_attempts, action_error, upstream_status, project_name) "
                    "SELECT %s, t.id, t.id, 'pending', q.id, q.policy_id, q.profile_id, q.name, '', '', "
                    "nextval('resources_job_seq'), now(), clock_timestamp(), true, '', 0, '', 'queued', '' "
                    "FROM unnest(%s::text[], %s::bigint[]) AS t(id, queue) JOIN resources_queue q ON q.id = t.queue",
                    [workspace.pk, task_ids, [queues[i % len(queues)].pk for i in chunk]],
                )
            begin = time.perf_counter()
            run_workspace(workspace, describe=False)  # the pages' task names: not on the admission path
            spent += time.perf_counter() - begin
            with ThreadPoolExecutor(max_workers=8) as pool:  # the agents keep their queues short
                for taken in pool.map(pull, agent_queues):
                    pulled.extend(taken)
        rows = list(
            Job.objects.for_workspace(workspace)
            .filter(moved_at__isnull=False)
            .values_list("enqueued_at", "moved_at")
        )
        moved = len(rows)
        latencies = sorted((m - e).total_seconds() for e, m in rows)
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else float("inf")
        log(
            f"upstream: {moves} tasks made and queued into {len(queues)} policy queues upstream in waves of "
            f"{wave} ({made_s:.1f} s, untimed); {moved} admitted and moved into {len(agent_queues)} agent queues "
            f"in {spent:.2f} s of scheduling runs; agents pulled {len(pulled)} ({len(set(pulled))} distinct); "
            f"p99 enqueue -> moved {p99 * 1000:.0f} ms"
        )
        if moved != moves or len(pulled) != moves or len(set(pulled)) != moves:
            raise SystemExit("not every task was moved exactly once")
        return (moved / spent if spent else 0.0), p99
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except Exception:
            process.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--million", type=int, default=1_000_000)
    parser.add_argument("--moves", type=int, default=5000)
    parser.add_argument("--wave", type=int, default=250)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    database_url = postgres_url_or_exit()
    results = {}
    with throwaway_database(database_url, "portal_sched_bench", keep=args.keep_db) as (db_name, url):
        os.environ["DATABASE_URL"] = url
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings_portal.settings")
        os.environ.setdefault("DEBUG", "true")
        os.environ["CELERY_TASK_ALWAYS_EAGER"] = "true"
        os.environ.pop("REDIS_URL", None)  # passes run here, in-process
        import django

        django.setup()
        import logging

        logging.disable(logging.INFO)
        from django.core.management import call_command

        from accounts.services import user_create

        log(f"setting up {db_name} ...")
        call_command("migrate", "--noinput", verbosity=0)
        rng = random.Random(args.seed)
        owner = user_create(email="bench@example.com", password=None, username="bench")
        started = time.perf_counter()
        big, big_queues = build_workspace("Bench 100k", owner, random.Random(args.seed))
        small, small_queues = build_workspace("Bench 10k", owner, random.Random(args.seed))
        log(
            f"configuration: {POOLS} pools, {PROFILES} profiles, {POLICIES} policies, "
            f"{len(big_queues)} queues per workspace ({time.perf_counter() - started:.1f} s)"
        )
        fill(big, big_queues, args.jobs, 0)
        fill(small, small_queues, args.small, args.jobs)
        log(f"filled {args.jobs} + {args.small} pending jobs")
        for ws in (big, small):
            running = churn(ws, rng)
            log(f"{ws.name}: {running} jobs admitted to fill the pools, a third of them then finished")

        for label, ws, n in (("100k", big, args.jobs), ("10k", small, args.small)):
            seconds, admitted = measure(ws, args.rounds)
            results[label] = seconds
            rate = admitted / seconds if seconds else 0.0
            log(
                f"{label}: {n} pending, one pass {seconds * 1000:.1f} ms (median of {args.rounds}), "
                f"{admitted} admitted, {rate:,.0f} admissions/s"
            )
        if args.million:
            started = time.perf_counter()
            huge, huge_queues = build_workspace("Bench 1m", owner, random.Random(args.seed))
            fill(huge, huge_queues, args.million, args.jobs + args.small)
            running = churn(huge, rng)
            log(
                f"1m: filled {args.million} pending jobs, {running} admitted ({time.perf_counter() - started:.1f} s)"
            )
            seconds, admitted = measure(huge, max(args.rounds // 2, 1))
            results["1m"] = seconds
            log(f"1m: {args.million} pending, one pass {seconds * 1000:.1f} ms, {admitted} admitted")
        if args.moves:
            results["moves_per_s"], results["p99"] = upstream_moves(owner, moves=args.moves, wave=args.wave)
    growth = results["100k"] / results["10k"] if results["10k"] else float("inf")
    print(
        f"pass_s_100k={results['100k']:.4f} growth_100k_over_10k={growth:.2f} "
        f"pass_s_1m={results.get('1m', float('nan')):.4f} moves_per_s={results.get('moves_per_s', float('nan')):.0f} "
        f"admit_to_moved_p99_s={results.get('p99', float('nan')):.3f}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
