"""Play scenarios in the format of scheduler-scenarios.json through the real services.

Each scenario is loaded into a fresh workspace inside a transaction that is rolled
back at the end: pools, profiles and links through the editor draft and Provision,
policies through the policy services, jobs through enqueue, and every step through
the service the UI, the API or the Celery task calls. The output of each `schedule`
step has the shape of the file's `expected[]` entries.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from django.db import transaction

from access.models import UserGroup
from access.services import group_create
from accounts.services import user_create
from workspaces.models import Workspace
from workspaces.services import workspace_create

from . import draft as drafts
from .draft import profile_key
from .models import Job, JobState, Policy, Pool, Profile, Queue
from .scheduler import schedule_until_idle, usage_by
from .services.editor import draft_reset, draft_save, editor_edit
from .services.jobs import job_abort, job_complete, job_enqueue, job_start_on
from .services.policies import QueueSpec, policy_create
from .services.provisioning import draft_provision
from .services.scheduling import resource_management_set


class ScenarioError(ValueError):
    pass


def number(value: Decimal | int) -> int | float:
    value = Decimal(value)
    return int(value) if value == value.to_integral_value() else float(value)


def expand_jobs(jobs: list[dict]) -> list[dict]:
    result = []
    for job in jobs:
        count = job.get("count")
        if count:
            result.extend({**job, "id": f"{job['id']}-{i}", "count": None} for i in range(1, int(count) + 1))
        else:
            result.append(job)
    return result


def simulate(scenarios: list[dict]) -> list[dict]:
    """Run every scenario in its own rolled-back transaction; their results."""
    output = []
    for scenario in scenarios:
        with transaction.atomic():
            output.append({"name": scenario.get("name", ""), "results": Run(scenario).play()})
            transaction.set_rollback(True)
    return output


class Run:
    """One scenario: `play()` in a fresh workspace, or `load()` into WORKSPACE (the demo data)."""

    def __init__(self, scenario: dict, *, workspace: Workspace | None = None, operator=None):
        self.scenario = scenario
        self.workspace = workspace
        self.operator = operator
        self.pool_sid: dict[str, str] = {}  # pool name -> scenario id
        self.pool_name = {p["id"]: p["name"] for p in scenario.get("pools", [])}
        self.profile_name = {p["id"]: p["name"] for p in scenario.get("profiles", [])}
        self.policy_name = {p["id"]: p["name"] for p in scenario.get("policies", [])}
        self.jobs: dict[str, Job] = {}

    # --- loading -----------------------------------------------------------------------------

    def play(self) -> list[dict]:
        suffix = uuid.uuid4().hex[:12]
        self.operator = user_create(
            email=f"simulator-{suffix}@example.invalid", password=None, username=f"simulator-{suffix}"
        )
        self.workspace = workspace_create(owner=self.operator, name="Scheduler simulation")
        self.load()
        results = []
        for step in self.scenario.get("steps") or [{"action": "schedule"}]:
            result = self.step(step)
            if result is not None:
                results.append(result)
        return results

    def load(self) -> None:
        """Configuration, policies, the enable switch and the initial jobs of the scenario."""
        self.load_configuration()
        self.load_policies()
        resource_management_set(
            workspace=self.workspace, actor=self.operator, enabled=bool(self.scenario.get("enabled", True))
        )
        self.enqueue(self.scenario.get("jobs", []))

    def load_configuration(self) -> None:
        d = drafts.empty()
        for pool in self.scenario.get("pools", []):
            d = drafts.pool_add(
                d, name=pool["name"], capacity=pool["capacity"], description=pool.get("description", "")
            )
        for profile in self.scenario.get("profiles", []):
            d = drafts.profile_add(d, name=profile["name"], allotment=profile["allotment"])
        links = self.scenario.get("links", [])
        for link in links:
            d = drafts.link_add(
                d,
                profile=self._key(d, "profiles", self.profile_name[link["profile"]]),
                pool=self._key(d, "pools", self.pool_name[link["pool"]]),
                name=link["name"],
            )
        by_name = {x["name"]: x["key"] for x in d["links"]}
        for profile in self.scenario.get("profiles", []):
            mine = sorted((x for x in links if x["profile"] == profile["id"]), key=lambda x: x["precedence"])
            if mine:
                key = self._key(d, "profiles", profile["name"])
                d = drafts.precedence_set(d, key, [by_name[x["name"]] for x in mine])
        for pool in self.scenario.get("pools", []):
            mine = sorted(
                (x for x in links if x["pool"] == pool["id"]), key=lambda x: x["execution_priority"]
            )
            if mine:
                key = self._key(d, "pools", pool["name"])
                d = drafts.execution_set(d, key, [by_name[x["name"]] for x in mine])
        self.pool_sid = {p["name"]: p["id"] for p in self.scenario.get("pools", [])}
        editor_edit(workspace=self.workspace, actor=self.operator, edit=lambda _old: d)
        draft_save(workspace=self.workspace, actor=self.operator)
        self._provision()

    def load_policies(self) -> None:
        ws = self.workspace
        profiles = {p.name: p for p in Profile.objects.for_workspace(ws)}
        for policy in self.scenario.get("policies", []):
            group_name = policy.get("group") or policy["name"]
            group = UserGroup.objects.for_workspace(ws).filter(name__iexact=group_name).first()
            if group is None:
                group = group_create(workspace=ws, actor=self.operator, name=group_name)
            policy_create(
                workspace=ws,
                actor=self.operator,
                name=policy["name"],
                group=group,
                reservation=policy.get("reservation", 0),
                limit=policy["limit"],
                queues=[
                    QueueSpec(profile=profiles[self.profile_name[q["profile"]]], name=q["name"])
                    for q in policy.get("queues", [])
                ],
            )
        # Each profile's policy priority, set in the editor and provisioned like any priority order.
        queues = {
            (q.profile.name, q.policy.name): q.pk for q in Queue.objects.for_workspace(ws).select_related()
        }
        edits = []
        for profile in self.scenario.get("profiles", []):
            order = [
                queues[(profile["name"], self.policy_name[pid])]
                for pid in profile.get("policy_priority", [])
                if (profile["name"], self.policy_name.get(pid)) in queues
            ]
            if order:
                pk = profiles[profile["name"]].pk
                current = [q for (fname, _p), q in queues.items() if fname == profile["name"]]
                rest = [
                    q for q in Queue.objects.filter(pk__in=current).order_by("priority") if q.pk not in order
                ]
                edits.append((profile_key(pk), order + [q.pk for q in rest], current))
        if edits:

            def edit(d):
                for key, order, current in edits:
                    d = drafts.policy_priority_set(d, key, order, current)
                return d

            editor_edit(workspace=ws, actor=self.operator, edit=edit)
            draft_save(workspace=ws, actor=self.operator)
            self._provision()

    def enqueue(self, jobs: list[dict]) -> None:
        ws = self.workspace
        queues = {
            (q.policy.name, q.profile.name): q for q in Queue.objects.for_workspace(ws).select_related()
        }
        pools = {p.name: p for p in Pool.objects.for_workspace(ws)}
        for spec in expand_jobs(jobs):
            key = (self.policy_name[spec["policy"]], self.profile_name[spec["profile"]])
            if key not in queues:
                raise ScenarioError(
                    f"job {spec['id']}: policy {spec['policy']} has no queue on {spec['profile']}"
                )
            job = job_enqueue(
                workspace=ws, actor=self.operator, queue=queues[key], name=spec["id"], check_group=False
            )
            if spec.get("state", "pending") == "running":
                job_start_on(job=job, pool=pools[self.pool_name[spec["pool"]]])
            self.jobs[spec["id"]] = job

    # --- steps ----------------------------------------------------------------------------------

    def step(self, step: dict) -> dict | None:
        action = step.get("action")
        ws, actor = self.workspace, self.operator
        if action == "schedule":
            return self.schedule()
        if action == "complete":
            for job_id in step.get("jobs", []):
                job_complete(job=self.jobs[job_id], actor=actor)
        elif action == "abort":
            for job_id in step.get("jobs", []):
                job_abort(job=self.jobs[job_id], actor=actor)
        elif action == "enqueue":
            self.enqueue(step.get("jobs", []))
        elif action == "set_enabled":
            resource_management_set(workspace=ws, actor=actor, enabled=bool(step.get("enabled")))
        elif action == "save_draft":
            changes = step.get("changes") or {}
            editor_edit(workspace=ws, actor=actor, edit=lambda d: self.apply_changes(d, changes))
            draft_save(workspace=ws, actor=actor)
        elif action == "reset_draft":
            draft_reset(workspace=ws, actor=actor)
        elif action == "provision":
            changes = step.get("changes")
            self._provision(extra=(lambda d: self.apply_changes(d, changes)) if changes else None)
        else:
            raise ScenarioError(f"unknown step action {action!r}")
        return None

    def _provision(self, extra=None) -> None:
        draft_provision(workspace=self.workspace, actor=self.operator, extra_edit=extra)

    def apply_changes(self, d: drafts.Draft, changes: dict[str, Any]) -> drafts.Draft:
        for sid, capacity in (changes.get("set_pool_capacity") or {}).items():
            pool = self._item(d, "pools", self.pool_name[sid])
            d = drafts.pool_edit(
                d, pool["key"], name=pool["name"], capacity=capacity, description=pool.get("description", "")
            )
        for name in changes.get("remove_links") or []:
            d = drafts.link_delete(d, self._item(d, "links", name)["key"])
        for sid, allotment in (changes.get("set_profile_allotment") or {}).items():
            profile = self._item(d, "profiles", self.profile_name[sid])
            d = drafts.profile_edit(d, profile["key"], name=profile["name"], allotment=allotment)
        return d

    def schedule(self) -> dict:
        ws = self.workspace
        result = schedule_until_idle(ws)
        names = dict(
            Job.objects.filter(pk__in=[job for job, _pool in result.admitted]).values_list("pk", "name")
        )
        pools = {p.pk: p.name for p in Pool.objects.for_workspace(ws)}
        policies = {p.pk: p.name for p in Policy.objects.for_workspace(ws)}
        policy_sid = {name: sid for sid, name in self.policy_name.items()}
        pool_usage, policy_usage = usage_by(ws, "pool_id"), usage_by(ws, "policy_id")
        return {
            "admitted": {
                names[job]: self.pool_sid.get(pools.get(pool), pools.get(pool))
                for job, pool in result.admitted
            },
            "pending": list(
                Job.objects.for_workspace(ws)
                .filter(state=JobState.PENDING)
                .order_by("seq", "id")
                .values_list("name", flat=True)
            ),
            "pool_usage": {
                self.pool_sid.get(name, name): number(pool_usage.get(pk, 0))
                for pk, name in sorted(pools.items())
            },
            "policy_usage": {
                policy_sid.get(name, name): number(policy_usage.get(pk, 0))
                for pk, name in sorted(policies.items())
            },
        }

    @staticmethod
    def _item(d: drafts.Draft, kind: str, name: str) -> dict:
        for item in d[kind]:
            if item["name"] == name:
                return item
        raise ScenarioError(f"no {kind[:-1]} named {name!r}")

    def _key(self, d: drafts.Draft, kind: str, name: str) -> str:
        return self._item(d, kind, name)["key"]
