"""Benchmark of Access Rules at the gateway: the same listing through the portal with and without
rules, on a ClearML server holding 10,000 objects, with 1,000 rules and 200 groups.

Run it (PostgreSQL is needed; `make bench` runs it):

    scripts/with-test-services.sh .venv/bin/python bench/access_rules.py

Options: --objects N (10000), --rules N (1000), --groups N (200), --calls N listings per
measurement (200), --rounds N (3), --page-size N (100), --keep-db.

What it does, in about a minute:
1. a throw-away database `portal_rules_bench_<pid>`, migrated; one workspace with an owner and a
   member (the caller), --groups user groups, the member in 5 of them;
2. the upstream stand-in (tests/upstream/standin.py) in its own process, the workspace linked
   to it; --objects objects created on it through its API: 5% projects (a third of them
   sub-projects), 80% tasks, 10% models, 5% queues;
3. in --rounds rounds, --calls `tasks.get_all` listings (page 0, --page-size, newest first)
   through the portal (Django's test client, the whole API stack: Bearer check, revocation
   cache, metering, forwarding over a keep-alive pool to the stand-in):
     unfiltered   the workspace has no rule (the hot path: no query, the body streamed)
     filtered     --rules rules on projects, tasks, models and queues (for groups, the member,
                  or someone else; read or read & modify): the listing's filters are rewritten
   and the ratio of their median latencies (median over the rounds); the portal's database
   queries of one filtered listing are counted (the same whatever the number of rules);
4. ends with exactly one line `ratio_filtered_unfiltered=<x> queries_per_listing=<n>`.

A benchmark, not a test: it reports numbers and asserts only that the listings answer 200.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.throwaway import log, postgres_url_or_exit, throwaway_database  # noqa: E402


def make_objects(url: str, key: str, secret: str, count: int, rng: random.Random) -> dict[str, list[str]]:
    from tests.upstream.client import ApiClient

    token = ApiClient(url, basic=(key, secret)).ok("auth.login")["token"]
    system = ApiClient(url, token=token)
    made: dict[str, list[str]] = {"project": [], "task": [], "model": [], "queue": []}
    n_projects = max(count * 5 // 100, 3)
    n_models = count * 10 // 100
    n_queues = count * 5 // 100
    n_tasks = count - n_projects - n_models - n_queues
    tops = []
    for i in range(n_projects):
        name = f"{rng.choice(tops)[1]}/sub-{i}" if i % 3 == 2 and tops else f"project-{i}"
        pid = system.ok("projects.create", name=name)["id"]
        made["project"].append(pid)
        if "/" not in name:
            tops.append((pid, name))
    for i in range(n_tasks):
        made["task"].append(
            system.ok("tasks.create", name=f"task-{i}", type="training", project=rng.choice(made["project"]))[
                "id"
            ]
        )
    for i in range(n_models):
        made["model"].append(
            system.ok("models.create", name=f"model-{i}", project=rng.choice(made["project"]))["id"]
        )
    for i in range(n_queues):
        made["queue"].append(system.ok("queues.create", name=f"queue-{i}")["id"])
    system.close()
    return made


def make_rules(workspace, owner, member, groups, made, count: int, rng: random.Random) -> None:
    from access.models import AccessRule

    kinds = ["project"] * 3 + ["task"] * 5 + ["model"] + ["queue"]
    rules = AccessRule.objects.bulk_create(
        [
            AccessRule(
                workspace=workspace,
                resource_type=(kind := rng.choice(kinds)),
                object_id=rng.choice(made[kind]),
                permission=rng.choice(["read", "read_modify"]),
            )
            for _ in range(count)
        ]
    )
    group_links, user_links = [], []
    for rule in rules:
        roll = rng.random()
        if roll < 0.7:
            group_links.append(AccessRule.groups.through(accessrule=rule, usergroup=rng.choice(groups)))
        elif roll < 0.8:
            user_links.append(AccessRule.users.through(accessrule=rule, user=member))
        else:
            user_links.append(AccessRule.users.through(accessrule=rule, user=owner))
    AccessRule.groups.through.objects.bulk_create(group_links, batch_size=2000)
    AccessRule.users.through.objects.bulk_create(user_links, batch_size=2000)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--rules", type=int, default=1_000)
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument(
        "--profile", action="store_true", help="print where a filtered listing spends its time"
    )
    args = parser.parse_args()
    database_url = postgres_url_or_exit()
    with throwaway_database(database_url, "portal_rules_bench", keep=args.keep_db) as (db_name, url):
        os.environ["DATABASE_URL"] = url
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings_portal.settings")
        os.environ.setdefault("DEBUG", "true")
        os.environ.pop("REDIS_URL", None)
        import django

        django.setup()
        import logging

        logging.disable(logging.WARNING)
        from django.core.management import call_command
        from django.db import connection
        from django.test import Client
        from django.test.utils import CaptureQueriesContext

        from access import visibility as access_visibility
        from access.models import AccessRule, GroupMembership, UserGroup
        from accounts.services import user_create
        from bench.gateway import start_standin
        from gateway import services as gateway_services
        from tests.upstream.client import ApiClient
        from workspaces.credentials import credential_create
        from workspaces.models import Membership, Role
        from workspaces.services import workspace_create

        log(f"setting up {db_name} ...")
        call_command("migrate", "--noinput", verbosity=0)
        rng = random.Random(args.seed)
        owner = user_create(email="owner@bench.example", password="bench-password-1", username="owner")
        member = user_create(email="member@bench.example", password="bench-password-1", username="member")
        workspace = workspace_create(owner=owner, name="Rules bench")
        Membership.objects.create(workspace=workspace, user=member, role=Role.MEMBER)
        groups = UserGroup.objects.bulk_create(
            [UserGroup(workspace=workspace, name=f"group-{i}") for i in range(args.groups)]
        )
        GroupMembership.objects.bulk_create(
            [GroupMembership(group=g, user=member) for g in rng.sample(groups, k=min(5, len(groups)))]
        )
        token_secret, system_key, system_secret = (
            "bench-rules-token-secret-0123456789",
            "BENCHSYSTEMKEY",
            "bench-system-secret-0123456789",
        )
        standin, standin_url = start_standin(token_secret, system_key, system_secret)  # its own process
        try:
            gateway_services.link_create(
                workspace=workspace,
                url=standin_url,
                token_secret=token_secret,
                system_access_key=system_key,
                system_secret_key=system_secret,
            )
            started = time.perf_counter()
            made = make_objects(standin_url, system_key, system_secret, args.objects, rng)
            log(
                f"{args.objects} objects upstream ({', '.join(f'{len(v)} {k}s' for k, v in made.items())}) "
                f"in {time.perf_counter() - started:.1f} s"
            )
            credential, secret = credential_create(workspace=workspace, actor=member, label="bench")
            client = Client()
            login = client.post(
                "/api/auth.login",
                b"{}",
                content_type="application/json",
                headers={
                    "Authorization": "Basic "
                    + __import__("base64").b64encode(f"{credential.access_key}:{secret}".encode()).decode()
                },
            )
            token = json.loads(login.content)["data"]["token"]
            body = json.dumps(
                {
                    "page": 0,
                    "page_size": args.page_size,
                    "order_by": ["-last_update"],
                    "only_fields": ["id", "name"],
                }
            )

            def listing() -> float:
                t0 = time.perf_counter()
                response = client.post(
                    "/api/tasks.get_all",
                    body,
                    content_type="application/json",
                    headers={"Authorization": f"Bearer {token}"},
                )
                content = b"".join(response.streaming_content) if response.streaming else response.content
                elapsed = (time.perf_counter() - t0) * 1000
                if response.status_code != 200:
                    raise SystemExit(f"tasks.get_all answered {response.status_code}: {content[:300]!r}")
                return elapsed

            def measure() -> float:
                for _ in range(5):
                    listing()  # warm: identities, tokens, the rule cache, the project tree
                return statistics.median(listing() for _ in range(args.calls))

            # What the upstream itself takes for the body it receives (the original, or the one
            # the rules rewrote), straight to the stand-in with the member's upstream token.
            sent: list = []
            from gateway import interception, tokens
            from gateway.cache import UpstreamIdentity
            from gateway.models import UpstreamUser

            def remember(forwarded, status, response):
                sent.append(forwarded.body)

            def direct(raw: dict) -> float:
                row = UpstreamUser.objects.get(user=member)
                upstream = gateway_services.upstream_for(workspace.id.hex)
                upstream_token = tokens.mint(upstream, UpstreamIdentity(row.upstream_id, row.name))
                direct_client = ApiClient(standin_url, token=upstream_token)
                samples = []
                for _ in range(args.calls):
                    t0 = time.perf_counter()
                    direct_client.call("tasks.get_all", raw)
                    samples.append((time.perf_counter() - t0) * 1000)
                direct_client.close()
                return statistics.median(samples)

            unfiltered, filtered, shown, upstream_only = [], [], [], []
            for round_ in range(args.rounds):
                AccessRule.objects.filter(workspace=workspace).delete()
                access_visibility.rules_changed()
                unfiltered.append(measure())
                make_rules(workspace, owner, member, groups, made, args.rules, rng)
                access_visibility.rules_changed()
                filtered.append(measure())
                if args.profile:
                    import cProfile
                    import pstats

                    profiler = cProfile.Profile()
                    profiler.runcall(lambda: [listing() for _ in range(50)])
                    pstats.Stats(profiler).sort_stats("cumulative").print_stats(
                        "access|gateway|list_filters", 30
                    )
                counts = []
                for _ in range(5):
                    with CaptureQueriesContext(connection) as queries:
                        listing()
                    counts.append(len(queries))
                shown.append(statistics.median(counts))
                with interception.registered("tasks.get_all", after=remember):
                    listing()
                upstream_only.append((direct(json.loads(body)), direct(sent[-1])))
                log(
                    f"round {round_ + 1}: unfiltered median {unfiltered[-1]:.2f} ms, "
                    f"filtered median {filtered[-1]:.2f} ms ({args.rules} rules), {shown[-1]} queries; "
                    f"the stand-in alone: {upstream_only[-1][0]:.2f} ms for the original body, "
                    f"{upstream_only[-1][1]:.2f} ms for the rewritten one ({len(json.dumps(sent[-1]))} bytes: "
                    + ", ".join(
                        f"{len(v)} {k} terms"
                        for k, v in sent[-1].items()
                        if isinstance(v, list) and len(v) > 2
                    )
                    + ")"
                )
            response = client.post(
                "/api/tasks.get_all",
                body,
                content_type="application/json",
                headers={"Authorization": f"Bearer {token}"},
            )
            visible = len(json.loads(response.content)["data"]["tasks"])
            log(f"a filtered page holds {visible} tasks (page size {args.page_size})")
        finally:
            standin.stdin.close()
            standin.wait(timeout=10)
    ratio = statistics.median(filtered) / statistics.median(unfiltered)
    print(f"ratio_filtered_unfiltered={ratio:.2f} queries_per_listing={int(max(shown))}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
