"""Benchmark of the access checks every workspace-scoped request and API call makes.

Run it (PostgreSQL is needed; `make bench` runs it after the API bench):

    scripts/with-test-services.sh .venv/bin/python bench/access_checks.py

Options: --members N (10000), --groups N (200), --rules N (1000), --calls N (2000), --keep-db.

What it does, in well under a minute:
1. creates a throw-away database `portal_access_bench_<pid>` next to DATABASE_URL's and
   migrates it;
2. builds one workspace with --members members (bulk inserts), --groups custom user
   groups with every member in about 5 of them, and --rules Access Rules on queues (one
   queue each, read or modify, for one group or one member);
3. times, over --calls random members each, the checks on the hot paths:
     membership_get        the lookup behind `workspace_view` (non-member 404, role 403)
     user_group_ids        a member's groups (vault selection, policy checks)
     permission_can        access.permissions.can on one queue (what job_enqueue asks)
     rule_index            the index a listing is filtered by (what restrict() builds on)
     view_round_trip       a signed-in GET of the audit-log page through the test client
                           (middleware + scoping + template), for scale
   and prints the median and p95 per call in microseconds;
4. drops the database and ends with exactly one line
   `membership_get_us=<median> user_group_ids_us=<median> permission_can_us=<median> rule_index_us=<median>`.

A benchmark, not a test: it reports numbers and asserts nothing.
"""

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.throwaway import log, postgres_url_or_exit, throwaway_database


def timed(fn, arguments) -> tuple[float, float]:
    samples = []
    for argument in arguments:
        started = time.perf_counter()
        fn(argument)
        samples.append((time.perf_counter() - started) * 1e6)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def build(members: int, groups: int, rules: int, rng: random.Random):
    # Imported here, not at the top: Django is set up only once the throw-away database exists.
    from django.contrib.auth.hashers import make_password

    from access.models import AccessRule, GroupMembership, UserGroup
    from accounts.models import User
    from accounts.services import user_create
    from workspaces.models import Membership, Role
    from workspaces.services import workspace_create

    owner = user_create(email="owner@bench.example", password="bench-password-1", username="owner")
    workspace = workspace_create(owner=owner, name="Access bench")
    password = make_password(None)
    users = User.objects.bulk_create(
        [User(email=f"m{i}@bench.example", username=f"m{i}", password=password) for i in range(members)],
        batch_size=2000,
    )
    Membership.objects.bulk_create(
        [Membership(workspace=workspace, user=u, role=Role.MEMBER) for u in users], batch_size=2000
    )
    made = UserGroup.objects.bulk_create(
        [UserGroup(workspace=workspace, name=f"group-{i}") for i in range(groups)], batch_size=1000
    )
    GroupMembership.objects.bulk_create(
        [GroupMembership(group=g, user=u) for u in users for g in rng.sample(made, k=min(5, len(made)))],
        batch_size=5000,
    )
    made_rules = AccessRule.objects.bulk_create(
        [
            AccessRule(
                workspace=workspace,
                resource_type="queue",
                object_id=i + 1,
                permission=rng.choice(["read", "read_modify"]),
            )
            for i in range(rules)
        ],
        batch_size=1000,
    )
    by_group = [rule for rule in made_rules if rng.random() < 0.8]  # the rest target one member
    group_rule_ids = {rule.pk for rule in by_group}
    AccessRule.groups.through.objects.bulk_create(
        [AccessRule.groups.through(accessrule=rule, usergroup=rng.choice(made)) for rule in by_group],
        batch_size=5000,
    )
    AccessRule.users.through.objects.bulk_create(
        [
            AccessRule.users.through(accessrule=rule, user=rng.choice(users))
            for rule in made_rules
            if rule.pk not in group_rule_ids
        ],
        batch_size=5000,
    )
    return workspace, owner, users


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--rules", type=int, default=1_000)
    parser.add_argument("--calls", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    database_url = postgres_url_or_exit()
    results = {}
    with throwaway_database(database_url, "portal_access_bench", keep=args.keep_db) as (db_name, url):
        os.environ["DATABASE_URL"] = url
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings_portal.settings")
        os.environ.setdefault("DEBUG", "true")
        os.environ.pop("REDIS_URL", None)
        import django

        django.setup()
        import logging

        logging.disable(logging.INFO)
        from django.core.management import call_command
        from django.test import Client

        from access import permissions
        from access.selectors import user_group_ids
        from workspaces.models import Membership
        from workspaces.scoping import membership_get

        log(f"setting up {db_name} ...")
        call_command("migrate", "--noinput", verbosity=0)
        rng = random.Random(args.seed)
        started = time.perf_counter()
        workspace, owner, users = build(args.members, args.groups, args.rules, rng)
        log(
            f"{args.members} members, {args.groups} groups, {args.rules} rules "
            f"({time.perf_counter() - started:.1f} s)"
        )
        sample = [rng.choice(users) for _ in range(args.calls)]

        def check_membership(user):
            membership_get(user=user, workspace_slug=workspace.slug)

        def check_groups(user):
            user_group_ids(workspace=workspace, user=user)

        def check_can(user):
            # As job_enqueue does: the caller's membership (from workspace_view or the API) in hand.
            membership = memberships[user.pk]
            queue = permissions.ObjectRef("queue", rng.randint(1, max(args.rules, 1)))
            permissions.can(membership, queue, permissions.MODIFY)

        def check_index(user):
            permissions.rule_index(memberships[user.pk], ["queue"])

        memberships = {
            m.user_id: m
            for m in Membership.objects.for_workspace(workspace)
            .select_related("workspace")
            .filter(user__in=sample)
        }
        checks = (
            ("membership_get", check_membership),
            ("user_group_ids", check_groups),
            ("permission_can", check_can),
            ("rule_index", check_index),
        )
        for name, fn in checks:
            median, p95 = timed(fn, sample)
            results[name] = median
            log(f"{name:<16} median {median:8.1f} µs   p95 {p95:8.1f} µs   ({args.calls} calls)")

        client = Client()
        client.force_login(owner)
        page_url = f"/w/{workspace.slug}/audit/"
        client.get(page_url)  # warm up templates
        median, p95 = timed(lambda _: client.get(page_url), range(min(args.calls, 300)))
        log(f"{'view_round_trip':<16} median {median:8.1f} µs   p95 {p95:8.1f} µs   (audit-log page)")
    print(
        f"membership_get_us={results.get('membership_get', 0):.1f} "
        f"user_group_ids_us={results.get('user_group_ids', 0):.1f} "
        f"permission_can_us={results.get('permission_can', 0):.1f} "
        f"rule_index_us={results.get('rule_index', 0):.1f}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
