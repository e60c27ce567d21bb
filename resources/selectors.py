"""Reads of the resources app: the provisioned configuration and the editor's state, and what the
Resource Configuration and Resource Policies pages show. Nothing here writes."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Q

from workspaces.models import Workspace

from . import draft as drafts
from .models import Job, JobState, Link, Policy, Pool, Profile, Queue, ResourceSettings, UpstreamQueue
from .scheduler import usage_by

# Card geometry shared with resources.css: the lines between the rows are drawn from it.
CARD_WIDTH = 228
CARD_GAP = 20
LINES_HEIGHT = 72


# --- the configuration and the editor ------------------------------------------------------


def configuration_get(*, workspace: Workspace) -> drafts.Draft:
    """The provisioned configuration as a draft document."""
    result = drafts.empty()
    for pool in Pool.objects.for_workspace(workspace).order_by("id"):
        result["pools"].append(
            {
                "key": drafts.pool_key(pool.pk),
                "name": pool.name,
                "capacity": drafts.amount_text(pool.capacity),
                "description": pool.description,
            }
        )
    for profile in Profile.objects.for_workspace(workspace).order_by("id"):
        result["profiles"].append(
            {
                "key": drafts.profile_key(profile.pk),
                "name": profile.name,
                "allotment": drafts.amount_text(profile.allotment),
            }
        )
    for link in Link.objects.for_workspace(workspace).order_by("id"):
        result["links"].append(
            {
                "key": drafts.link_key(link.pk),
                "name": link.name,
                "profile": drafts.profile_key(link.profile_id),
                "pool": drafts.pool_key(link.pool_id),
                "precedence": link.precedence,
                "execution_priority": link.execution_priority,
            }
        )
    for queue in Queue.objects.for_workspace(workspace).order_by("profile_id", "priority", "id"):
        result["policy_priority"].setdefault(drafts.profile_key(queue.profile_id), []).append(queue.pk)
    return drafts.normalized(result)


@dataclass
class EditorState:
    draft: drafts.Draft
    has_saved: bool  # a saved draft differs from the provisioned configuration
    has_unsaved: bool  # the editor holds changes that are not saved


def editor_state_get(*, workspace: Workspace, settings: ResourceSettings | None = None) -> EditorState:
    """What the editor shows: the working copy, else the saved draft, else the provisioned configuration."""
    if settings is None:
        settings = ResourceSettings.objects.for_workspace(workspace).first()
    provisioned = configuration_get(workspace=workspace)
    saved = settings.saved_draft if settings is not None else None
    base = saved if saved is not None else provisioned
    working = settings.working_draft if settings is not None else None
    current = working if working is not None else base
    return EditorState(
        draft=current,
        has_saved=saved is not None and drafts.equivalent(saved, provisioned) is False,
        has_unsaved=working is not None and drafts.equivalent(working, base) is False,
    )


def policy_names_by_profile(*, workspace: Workspace) -> dict[str, list[str]]:
    """Per provisioned profile key, the names of the policies that have a queue on it."""
    result: dict[str, list[str]] = {}
    for profile_id, policy_name in Queue.objects.for_workspace(workspace).values_list(
        "profile_id", "policy__name"
    ):
        result.setdefault(drafts.profile_key(profile_id), []).append(policy_name)
    return result


def configuration_warning_list(*, workspace: Workspace) -> list[str]:
    """What is allowed but probably not meant, in the provisioned configuration."""
    warnings = []
    capacity = sum((p.capacity for p in Pool.objects.for_workspace(workspace)), Decimal(0))
    reserved = sum((p.reservation for p in Policy.objects.for_workspace(workspace)), Decimal(0))
    if reserved > capacity:
        warnings.append(
            f"The policies reserve {drafts.amount_text(reserved)} resources but the pools have "
            f"{drafts.amount_text(capacity)}: not every reservation can be honoured at once."
        )
    for queue in Queue.objects.for_workspace(workspace).select_related("policy", "profile"):
        if queue.profile.allotment > queue.policy.limit:
            warnings.append(
                f"Jobs of the queue “{queue.name}” cannot run: the profile “{queue.profile.name}” needs "
                f"{drafts.amount_text(queue.profile.allotment)} resources per job, more than the limit "
                f"{drafts.amount_text(queue.policy.limit)} of the policy “{queue.policy.name}”."
            )
    biggest: dict[int, Decimal] = {}
    for link in Link.objects.for_workspace(workspace).select_related("pool"):
        biggest[link.profile_id] = max(biggest.get(link.profile_id, Decimal(0)), link.pool.capacity)
    for profile in Profile.objects.for_workspace(workspace).filter(queues__isnull=False).distinct():
        if profile.pk not in biggest:
            warnings.append(f"The profile “{profile.name}” is not connected to any pool: its jobs wait.")
        elif profile.allotment > biggest[profile.pk]:
            warnings.append(
                f"The profile “{profile.name}” needs {drafts.amount_text(profile.allotment)} resources per job, "
                "more than any pool connected to it has: its jobs wait."
            )
    return warnings


def running_usage_get(*, workspace: Workspace) -> tuple[dict[int, Decimal], dict[int, Decimal]]:
    """(pool id -> resources in use, policy id -> resources in use), from the running jobs."""
    return usage_by(workspace, "pool_id"), usage_by(workspace, "policy_id")


# --- the pages -----------------------------------------------------------------------------


def _pct(used: Decimal, total: Decimal) -> int:
    if total <= 0:
        return 100 if used > 0 else 0
    return min(100, int(used * 100 / total))


def board(*, workspace: Workspace, draft: drafts.Draft) -> dict:
    """Pool cards, profile cards and the lines between them for DRAFT, with live usage and job counts."""
    draft = drafts.normalized(draft)
    pool_usage = {drafts.pool_key(k): v for k, v in usage_by(workspace, "pool_id").items()}
    counts = Counter()
    for profile_id, state, n in (
        Job.objects.for_workspace(workspace)
        .filter(state__in=[JobState.PENDING, JobState.RUNNING], profile__isnull=False)
        .values_list("profile_id", "state")
        .annotate(n=Count("id"))
    ):
        counts[(drafts.profile_key(profile_id), state)] = n
    queues = {
        q.pk: q
        for q in Queue.objects.for_workspace(workspace)
        .select_related("policy", "upstream")
        .order_by("priority", "id")
    }
    names = {item["key"]: item["name"] for kind in ("pools", "profiles") for item in draft[kind]}
    agent_queues = upstream_queues_by(workspace=workspace)["links"]

    pools = []
    for pool in draft["pools"]:
        capacity = Decimal(pool["capacity"])
        used = pool_usage.get(pool["key"], Decimal(0))
        pools.append(
            {
                **pool,
                "capacity_text": drafts.amount_text(capacity),
                "used": used,
                "used_text": drafts.amount_text(used),
                "over": used > capacity,
                "links": [
                    {**x, "profile_name": names[x["profile"]]} for x in drafts.pool_links(draft, pool["key"])
                ],
            }
        )
    profiles = []
    for profile in draft["profiles"]:
        mine = [q for q in queues.values() if drafts.profile_key(q.profile_id) == profile["key"]]
        order = [q for q in draft["policy_priority"].get(profile["key"], []) if q in queues]
        ordered = [queues[q] for q in order] + [q for q in mine if q.pk not in order]
        profiles.append(
            {
                **profile,
                "allotment_text": drafts.amount_text(profile["allotment"]),
                "links": [
                    {**x, "pool_name": names[x["pool"]], "upstream": agent_queues.get(x["key"])}
                    for x in drafts.profile_links(draft, profile["key"])
                ],
                "pending": counts[(profile["key"], JobState.PENDING)],
                "running": counts[(profile["key"], JobState.RUNNING)],
                "queues": ordered,
                "provisioned": not profile["key"].startswith("new-"),
            }
        )
    return {"pools": pools, "profiles": profiles, "lines": lines(pools, profiles)}


def lines(pools: list[dict], profiles: list[dict]) -> dict:
    """SVG geometry: one line per link from its pool card (top row) down to its profile card."""
    step = CARD_WIDTH + CARD_GAP
    width = max(len(pools), len(profiles), 1) * step - CARD_GAP
    pool_x = {p["key"]: i * step + CARD_WIDTH / 2 for i, p in enumerate(pools)}
    profile_x = {p["key"]: i * step + CARD_WIDTH / 2 for i, p in enumerate(profiles)}
    drawn = []
    spread = 14
    for profile in profiles:
        n = len(profile["links"])
        for k, link in enumerate(profile["links"]):
            pool = next(p for p in pools if p["key"] == link["pool"])
            m = len(pool["links"])
            j = next(i for i, x in enumerate(pool["links"]) if x["key"] == link["key"])
            x1 = pool_x[link["pool"]] + (j - (m - 1) / 2) * spread
            x2 = profile_x[profile["key"]] + (k - (n - 1) / 2) * spread
            drawn.append(
                {
                    "key": link["key"],
                    "name": link["name"],
                    "x1": round(x1, 1),
                    "x2": round(x2, 1),
                    "profile": profile["name"],
                    "pool": pool["name"],
                }
            )
    return {"width": width, "height": LINES_HEIGHT, "items": drawn}


def policy_dashboard(*, workspace: Workspace) -> list[dict]:
    """Every policy with its usage against reservation and limit, and its job counts."""
    usage = usage_by(workspace, "policy_id")
    policies = list(
        Policy.objects.for_workspace(workspace)
        .select_related("group")
        .prefetch_related("queues__profile", "queues__upstream")
        .annotate(
            pending=Count("jobs", filter=Q(jobs__state=JobState.PENDING)),
            running=Count("jobs", filter=Q(jobs__state=JobState.RUNNING)),
        )
    )
    rows = []
    for policy in policies:
        used = usage.get(policy.pk, Decimal(0))
        rows.append(
            {
                "policy": policy,
                "used": used,
                "used_text": drafts.amount_text(used),
                "reservation_text": drafts.amount_text(policy.reservation),
                "limit_text": drafts.amount_text(policy.limit),
                "below_reservation": used < policy.reservation,
                "queues": sorted(policy.queues.all(), key=lambda q: q.name.casefold()),
            }
        )
    return rows


def active_jobs(*, workspace: Workspace, policy: Policy | None = None, limit: int = 25) -> dict:
    """Pending jobs (queue order) and running jobs (newest first), at most LIMIT of each, with totals."""
    qs = Job.objects.for_workspace(workspace).select_related("policy", "created_by", "queue__upstream")
    if policy is not None:
        qs = qs.filter(policy=policy)
    pending = qs.filter(state=JobState.PENDING)
    running = qs.filter(state=JobState.RUNNING)
    return {
        "pending": list(pending.order_by("seq", "id")[:limit]),
        "running": list(running.order_by("-started_at", "-id")[:limit]),
        "pending_total": pending.count(),
        "running_total": running.count(),
    }


def enqueue_choices(*, workspace: Workspace) -> list[Queue]:
    return list(
        Queue.objects.for_workspace(workspace)
        .select_related("policy", "policy__group", "profile")
        .order_by("name")
    )


def daemon_command(queue_name: str) -> str:
    """The line that starts a clearml-agent serving QUEUE_NAME."""
    quoted = "".join("\\" + c if c in '"\\$`' else c for c in queue_name)
    return f'clearml-agent daemon --queue "{quoted}"'


def upstream_queues_by(*, workspace: Workspace) -> dict[str, dict]:
    """The server's queues the portal keeps (the ledger), by draft link key and by policy queue id,
    each {name, id, daemon}; empty when the workspace is not linked to a ClearML server."""
    found: dict[str, dict] = {"links": {}, "queues": {}}
    for row in UpstreamQueue.objects.for_workspace(workspace).exclude(upstream_id=""):
        item = {"name": row.name, "id": row.upstream_id, "daemon": daemon_command(row.name)}
        if row.link_id is not None:
            found["links"][drafts.link_key(row.link_id)] = item
        elif row.queue_id is not None:
            found["queues"][row.queue_id] = item
    return found


def agent_queue_list(*, workspace: Workspace) -> list[dict]:
    """The agent queue of every connection on the ClearML server, with the agent command to run."""
    rows = (
        UpstreamQueue.objects.for_workspace(workspace)
        .filter(link__isnull=False)
        .exclude(upstream_id="")
        .select_related("link__profile", "link__pool")
        .order_by("link__pool__name", "link__precedence", "name")
    )
    return [
        {
            "name": row.name,
            "id": row.upstream_id,
            "profile": row.link.profile.name,
            "pool": row.link.pool.name,
            "allotment_text": drafts.amount_text(row.link.profile.allotment),
            "daemon": daemon_command(row.name),
        }
        for row in rows
    ]


def upstream_queue_problem_list(*, workspace: Workspace) -> list[str]:
    """What the last sync of the server's queues could not do (shown until a sync succeeds)."""
    return [
        f"{row.name}: {row.last_error}"
        for row in UpstreamQueue.objects.for_workspace(workspace).exclude(last_error="").order_by("name")
    ]
