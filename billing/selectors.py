"""Reads for the Usage & Billing page."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.utils import timezone

from workspaces.models import Membership, Workspace

from . import metering
from .models import BillingAccount, Metric, Plan, UsageCounter

CHART_WIDTH = 620
CHART_HEIGHT = 120


@dataclass
class Bar:
    day: date
    value: int
    x: float
    y: float
    width: float
    height: float


def billing_account_get(*, workspace: Workspace) -> BillingAccount:
    """The workspace's billing account (an unsaved free one when none exists yet)."""
    account = BillingAccount.objects.for_workspace(workspace).first()
    return account or BillingAccount(workspace=workspace, plan=Plan.FREE)


def member_count(*, workspace: Workspace) -> int:
    return Membership.objects.for_workspace(workspace).count()


def daily_usage(*, workspace: Workspace, metric: str = Metric.API_CALLS, today: date | None = None) -> list:
    """(day, value) for every day of the current month (UTC) up to today, zeros included."""
    today = today or timezone.now().date()
    first = today.replace(day=1)
    rows: dict = dict(
        UsageCounter.objects.for_workspace(workspace)
        .filter(metric=metric, day__gte=first, day__lte=today)
        .values_list("day", "value")
    )
    # Calls of the last minute are still in Redis: add them so the page is current.
    rows[today] = rows.get(today, 0) + metering.pending_today(workspace.pk)
    return [(first.replace(day=d), rows.get(first.replace(day=d), 0)) for d in range(1, today.day + 1)]


def chart_bars(days: list, *, today: date | None = None) -> list[Bar]:
    """Bars of a server-rendered SVG chart: one slot per day of the month."""
    today = today or timezone.now().date()
    slots = calendar.monthrange(today.year, today.month)[1]
    slot = CHART_WIDTH / slots
    peak = max((value for _, value in days), default=0) or 1
    bars = []
    for index, (day, value) in enumerate(days):
        height = round(CHART_HEIGHT * value / peak, 1) if value else 0
        if value and height < 1:
            height = 1
        bars.append(
            Bar(day, value, round(index * slot + 1, 1), CHART_HEIGHT - height, round(slot - 2, 1), height)
        )
    return bars


def plan_limits(plan: str) -> dict[str, int | None]:
    """The plan's limits (None = unlimited), from settings."""
    if plan == Plan.PRO:
        return {"storage": settings.BILLING_PRO_STORAGE_BYTES or None, "api_calls": None}
    return {
        "storage": settings.BILLING_FREE_STORAGE_BYTES or None,
        "api_calls": settings.BILLING_FREE_API_CALLS or None,
    }


def usage_summary(*, workspace: Workspace) -> dict:
    account = billing_account_get(workspace=workspace)
    days = daily_usage(workspace=workspace)
    limits = plan_limits(account.plan)
    api_calls = sum(value for _, value in days)
    return {
        "account": account,
        "members": member_count(workspace=workspace),
        "max_members": workspace.max_members,
        "storage_bytes": account.storage_bytes,
        "storage_computed_at": account.storage_computed_at,
        "storage_limit": limits["storage"],
        "storage_percent": _percent(account.storage_bytes, limits["storage"]),
        "api_calls": api_calls,
        "api_calls_limit": limits["api_calls"],
        "api_calls_percent": _percent(api_calls, limits["api_calls"]),
        "bars": chart_bars(days),
        "chart_width": CHART_WIDTH,
        "chart_height": CHART_HEIGHT,
    }


def _percent(value: int, limit: int | None) -> int | None:
    if not limit:
        return None
    return min(100, round(100 * value / limit))
