"""Export and import of the whole provisioned configuration and the policies as YAML.

    version: 1
    enabled: true
    pools:    [{name, capacity, description}]
    profiles: [{name, allotment, policy_priority: [policy names, first served first]}]
    links:    [{name, profile, pool, precedence, execution_priority}]
    policies: [{name, group, reservation, limit, description, queues: [{name, profile}]}]

Import replaces the configuration and the policies with the file's: objects are
matched by name (so a pool that stays keeps its running jobs), everything is
validated before anything changes, and the changes happen in one transaction.
User groups must exist already (they belong to Users & Groups).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import yaml
from django.core.exceptions import ValidationError
from django.db import transaction

from access.models import UserGroup
from workspaces.audit import audit_log
from workspaces.models import Workspace

from . import draft as drafts
from .draft import pool_key, profile_key
from .models import Policy, Pool, Profile, Queue
from .scheduler import lock_workspace
from .selectors import configuration_get, configuration_warning_list
from .services.policies import QueueSpec, policy_create, policy_delete, policy_update
from .services.provisioning import configuration_replace
from .services.scheduling import resource_management_set, settings_get

FORMAT_VERSION = 1


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def export_data(*, workspace: Workspace) -> dict[str, Any]:
    settings = settings_get(workspace=workspace)
    snap = configuration_get(workspace=workspace)
    names = {item["key"]: item["name"] for kind in ("pools", "profiles") for item in snap[kind]}
    policy_names = dict(Policy.objects.for_workspace(workspace).values_list("pk", "name"))
    queue_policy = dict(Queue.objects.for_workspace(workspace).values_list("pk", "policy_id"))
    return {
        "version": FORMAT_VERSION,
        "enabled": settings.enabled,
        "pools": [
            {
                "name": p["name"],
                "capacity": _number(Decimal(p["capacity"])),
                "description": p.get("description", ""),
            }
            for p in snap["pools"]
        ],
        "profiles": [
            {
                "name": p["name"],
                "allotment": _number(Decimal(p["allotment"])),
                "policy_priority": [
                    policy_names[queue_policy[q]]
                    for q in snap["policy_priority"].get(p["key"], [])
                    if q in queue_policy
                ],
            }
            for p in snap["profiles"]
        ],
        "links": [
            {
                "name": x["name"],
                "profile": names[x["profile"]],
                "pool": names[x["pool"]],
                "precedence": x["precedence"],
                "execution_priority": x["execution_priority"],
            }
            for x in sorted(snap["links"], key=lambda x: (names[x["profile"]], x["precedence"]))
        ],
        "policies": [
            {
                "name": policy.name,
                "group": policy.group.name if policy.group else None,
                "reservation": _number(policy.reservation),
                "limit": _number(policy.limit),
                "description": policy.description,
                "queues": [{"name": q.name, "profile": q.profile.name} for q in policy.queues.order_by("id")],
            }
            for policy in Policy.objects.for_workspace(workspace)
            .select_related("group")
            .prefetch_related("queues__profile")
            .order_by("id")
        ],
    }


def export_yaml(*, workspace: Workspace) -> str:
    return yaml.safe_dump(export_data(workspace=workspace), sort_keys=False, allow_unicode=True)


@dataclass
class ImportResult:
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Plan:
    draft: drafts.Draft
    enabled: bool | None
    policies: list[dict]
    priority: dict[str, list[str]]  # profile name -> policy names


def _list(data: dict, key: str, errors: list[str]) -> list:
    value = data.get(key, [])
    if value is None:
        return []
    if not isinstance(value, list):
        errors.append(f"“{key}” must be a list.")
        return []
    return value


def parse(*, workspace: Workspace, text: str) -> _Plan:
    """Read and check a whole file; ValidationError with every problem found, or the plan to apply."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValidationError(f"Not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ValidationError("The file must be a mapping with pools, profiles, links and policies.")
    errors: list[str] = []
    if data.get("version", FORMAT_VERSION) != FORMAT_VERSION:
        errors.append(
            f"Unsupported version {data.get('version')!r} (this portal reads version {FORMAT_VERSION})."
        )
    enabled = data.get("enabled")
    if enabled is not None and not isinstance(enabled, bool):
        errors.append("“enabled” must be true or false.")
    pools = _list(data, "pools", errors)
    profiles = _list(data, "profiles", errors)
    links = _list(data, "links", errors)
    policies = _list(data, "policies", errors)
    for kind, items in (("pools", pools), ("profiles", profiles), ("links", links), ("policies", policies)):
        for item in items:
            if not isinstance(item, dict):
                errors.append(f"Every entry of “{kind}” must be a mapping, not {item!r}.")
    if errors:
        raise ValidationError(errors)

    # Objects that stay (same name) keep their key, so provisioning updates them in place.
    pool_keys = {p.name: pool_key(p.pk) for p in Pool.objects.for_workspace(workspace)}
    profile_keys = {p.name: profile_key(p.pk) for p in Profile.objects.for_workspace(workspace)}
    draft = drafts.empty()
    new_pool_keys, new_profile_keys = {}, {}
    for p in pools:
        key = pool_keys.get(str(p.get("name", "")).strip()) or drafts.new_key("pool")
        new_pool_keys[str(p.get("name", "")).strip()] = key
        draft["pools"].append(
            {
                "key": key,
                "name": p.get("name"),
                "capacity": p.get("capacity"),
                "description": p.get("description") or "",
            }
        )
    for p in profiles:
        key = profile_keys.get(str(p.get("name", "")).strip()) or drafts.new_key("profile")
        new_profile_keys[str(p.get("name", "")).strip()] = key
        draft["profiles"].append({"key": key, "name": p.get("name"), "allotment": p.get("allotment")})
    for x in links:
        draft["links"].append(
            {
                "key": drafts.new_key("link"),
                "name": x.get("name"),
                "profile": new_profile_keys.get(
                    str(x.get("profile", "")).strip(), f"missing:{x.get('profile')}"
                ),
                "pool": new_pool_keys.get(str(x.get("pool", "")).strip(), f"missing:{x.get('pool')}"),
                "precedence": x.get("precedence"),
                "execution_priority": x.get("execution_priority"),
            }
        )
    errors += drafts.validate(draft)
    for rank in ("precedence", "execution_priority"):
        by_owner: dict[str, list] = {}
        for x in draft["links"]:
            by_owner.setdefault(x["profile" if rank == "precedence" else "pool"], []).append(x.get(rank))
        if any(len(set(ranks)) != len(ranks) for ranks in by_owner.values()):
            errors.append(
                f"Two connections of one {'profile' if rank == 'precedence' else 'pool'} share a {rank}."
            )

    allotments = {}
    for p in profiles:
        with contextlib.suppress(ValidationError):  # reported by validate()
            allotments[str(p.get("name", "")).strip()] = drafts.clean_amount(
                p.get("allotment"), "allotment", positive=True
            )
    groups = {g.name.casefold(): g for g in UserGroup.objects.for_workspace(workspace)}
    seen_policies, seen_queues, plan_policies = set(), set(), []
    for policy in policies:
        name = str(policy.get("name") or "").strip()
        where = f"Policy {name or '?'}"
        try:
            drafts.clean_name(name, what="policy name")
        except ValidationError as exc:
            errors.append(f"{where}: {' '.join(exc.messages)}")
        if name.casefold() in seen_policies:
            errors.append(f"{where}: listed twice.")
        seen_policies.add(name.casefold())
        group = groups.get(str(policy.get("group") or "").strip().casefold())
        if group is None:
            errors.append(
                f"{where}: there is no user group named “{policy.get('group')}” (create it in Users & Groups first)."
            )
        amounts = {}
        for key in ("reservation", "limit"):
            try:
                amounts[key] = drafts.clean_amount(policy.get(key, 0 if key == "reservation" else None), key)
            except ValidationError as exc:
                errors.append(
                    f"{where}: {key}: {' '.join(m for ms in exc.message_dict.values() for m in ms)}"
                )
        if len(amounts) == 2 and amounts["reservation"] > amounts["limit"]:
            errors.append(f"{where}: the reservation cannot be larger than the limit.")
        queues = policy.get("queues") or []
        if not isinstance(queues, list):
            errors.append(f"{where}: “queues” must be a list.")
            queues = []
        queue_specs, used = [], set()
        for q in queues:
            if not isinstance(q, dict):
                errors.append(f"{where}: every queue must be a mapping with name and profile.")
                continue
            qname, profile = str(q.get("name") or "").strip(), str(q.get("profile") or "").strip()
            if not qname:
                errors.append(f"{where}: a queue has no name.")
            elif qname.casefold() in seen_queues:
                errors.append(f"{where}: the queue name “{qname}” is used twice.")
            seen_queues.add(qname.casefold())
            if profile not in allotments:
                errors.append(f"{where}: queue “{qname}” is on an unknown profile “{profile}”.")
                continue
            if profile in used:
                errors.append(f"{where}: two queues on the profile “{profile}”.")
            used.add(profile)
            if "limit" in amounts and allotments[profile] > amounts["limit"]:
                errors.append(
                    f"{where}: the profile “{profile}” needs {drafts.amount_text(allotments[profile])} resources "
                    f"per job, more than the limit {drafts.amount_text(amounts['limit'])}."
                )
            queue_specs.append((profile, qname))
        plan_policies.append(
            {
                "name": name,
                "group": group,
                "reservation": amounts.get("reservation"),
                "limit": amounts.get("limit"),
                "description": str(policy.get("description") or ""),
                "queues": queue_specs,
            }
        )
    priority = {}
    for p in profiles:
        order = p.get("policy_priority") or []
        pname = str(p.get("name", "")).strip()
        if not isinstance(order, list):
            errors.append(f"Profile {pname}: “policy_priority” must be a list of policy names.")
            continue
        with_queue = {pp["name"] for pp in plan_policies if any(f == pname for f, _q in pp["queues"])}
        for policy_name in order:
            if policy_name not in with_queue:
                errors.append(f"Profile {pname}: policy “{policy_name}” in its priority has no queue on it.")
        priority[pname] = list(order)
    if errors:
        raise ValidationError(errors)
    return _Plan(draft=draft, enabled=enabled, policies=plan_policies, priority=priority)


@transaction.atomic
def import_yaml(*, workspace: Workspace, actor, text: str) -> ImportResult:
    """Replace the provisioned configuration and the policies with TEXT's; all or nothing."""
    plan = parse(workspace=workspace, text=text)
    lock_workspace(workspace)
    wanted = {p["name"].casefold(): p for p in plan.policies}
    kept_profiles = {p["name"] for p in plan.draft["profiles"]}
    # 1. Policies that go, go; the others drop queues on profiles that go (so those can be deleted).
    for policy in Policy.objects.for_workspace(workspace):
        want = wanted.get(policy.name.casefold())
        if want is None:
            policy_delete(policy=policy, actor=actor)
            continue
        keep = [
            q.profile
            for q in policy.queues.select_related("profile")
            if q.profile.name in kept_profiles
            and any(f == q.profile.name for f, _n in want["queues"])
            and q.profile.allotment <= policy.limit
        ]
        # Queue names are parked: the file may give this policy's names to another policy.
        policy_update(
            policy=policy,
            actor=actor,
            name=policy.name,
            group=want["group"],
            reservation=policy.reservation,
            limit=policy.limit,
            queues=[QueueSpec(profile=f, name=f"~import-{policy.pk}-{f.pk}") for f in keep],
            description=policy.description,
        )
    # 2. The configuration.
    result = configuration_replace(workspace=workspace, actor=actor, draft=plan.draft)
    # 3. The policies as in the file.
    profiles = {p.name: p for p in Profile.objects.for_workspace(workspace)}
    existing = {p.name.casefold(): p for p in Policy.objects.for_workspace(workspace)}
    for want in plan.policies:
        queues = [QueueSpec(profile=profiles[f], name=qname) for f, qname in want["queues"]]
        values = {
            "name": want["name"],
            "group": want["group"],
            "reservation": want["reservation"],
            "limit": want["limit"],
            "queues": queues,
            "description": want["description"],
        }
        policy = existing.get(want["name"].casefold())
        if policy is None:
            policy_create(workspace=workspace, actor=actor, **values)
        else:
            policy_update(policy=policy, actor=actor, **values)
    # 4. Policy priorities (the file's order, then any other queue as it was).
    for pname, order in plan.priority.items():
        profile = profiles[pname]
        queues = list(
            Queue.objects.filter(profile=profile).select_related("policy").order_by("priority", "id")
        )
        ranked = [q for name in order for q in queues if q.policy.name == name]
        ranked += [q for q in queues if q not in ranked]
        for rank, queue in enumerate(ranked, start=1):
            if queue.priority != rank:
                queue.priority = rank
                queue.save(update_fields=["priority"])
    if plan.enabled is not None:
        resource_management_set(workspace=workspace, actor=actor, enabled=plan.enabled)
    audit_log(
        actor=actor, action="resources.import", workspace=workspace, target_label="Resource configuration"
    )
    return ImportResult(warnings=configuration_warning_list(workspace=workspace) or result.warnings)
