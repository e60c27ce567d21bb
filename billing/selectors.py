"""Reads for the Usage & Billing page."""

from __future__ import annotations

import calendar
import math
from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.utils import timezone

from workspaces.models import Membership, Workspace

from . import metering
from .models import BillingAccount, Metric, Plan, UsageCounter

# The chart's SVG user space: SLOT_WIDTH per day of the month, 0..100 from the top. The SVG is
# stretched to its box (preserveAspectRatio="none"), so it holds only shapes; the axis labels
# are HTML around it and stay readable at any width.
SLOT_WIDTH = 10
BAR_WIDTH = 7
CHART_TICKS = 4  # at most this many intervals on the value axis


@dataclass
class Bar:
    day: date
    value: int
    x: float
    y: float
    width: float
    height: float
    is_today: bool


@dataclass
class Tick:
    value: int
    label: str
    y: float  # in the SVG's 0..100 space


@dataclass
class UsageChart:
    """A month of daily values, laid out for templates/billing/overview.html."""

    month: date
    slots: int  # days in the month: the day axis spans the whole month
    bars: list[Bar]
    ticks: list[Tick]  # top first, like the labels beside the plot
    day_labels: list[str]  # one per slot, "" where no label is shown
    total: int
    peak: Bar | None

    @property
    def is_empty(self) -> bool:
        return self.total == 0

    @property
    def width(self) -> int:
        return self.slots * SLOT_WIDTH


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


def nice_step(peak: int, intervals: int = CHART_TICKS) -> int:
    """The smallest 1, 2 or 5 x 10^k with INTERVALS steps reaching PEAK (at least 1)."""
    target = max(peak, 1) / intervals
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            if factor * magnitude >= target:
                return factor * magnitude
        magnitude *= 10


def compact_number(value: int) -> str:
    """1500 -> '1.5k', 2000000 -> '2M': short enough for the value axis at 390 px."""
    for size, suffix in ((1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")):
        if value >= size:
            return f"{value / size:.3g}{suffix}"
    return str(value)


def usage_chart(days: list, *, today: date | None = None) -> UsageChart:
    """The API-call chart of the month: one bar slot per day, a value axis of round numbers."""
    today = today or timezone.now().date()
    slots = calendar.monthrange(today.year, today.month)[1]
    highest = max((value for _, value in days), default=0)
    step = nice_step(highest)
    # As few round steps as reach the highest day (the bars use the height); 4 on an empty chart.
    intervals = math.ceil(highest / step) if highest else CHART_TICKS
    top = step * intervals
    bars = []
    for index, (day, value) in enumerate(days):
        height = round(100 * value / top, 2)
        if value and height < 0.75:
            height = 0.75  # a day with calls is never invisible
        bars.append(
            Bar(
                day=day,
                value=value,
                x=index * SLOT_WIDTH + (SLOT_WIDTH - BAR_WIDTH) / 2,
                y=round(100 - height, 2),
                width=BAR_WIDTH,
                height=height,
                is_today=day == today,
            )
        )
    ticks = [
        Tick(step * i, compact_number(step * i), round(100 - 100 * i / intervals, 2))
        for i in range(intervals, -1, -1)
    ]
    labelled = {1, 5, 10, 15, 20, 25, slots}
    day_labels = [str(d) if d in labelled else "" for d in range(1, slots + 1)]
    peak = max((bar for bar in bars if bar.value), key=lambda bar: bar.value, default=None)
    return UsageChart(
        month=today.replace(day=1),
        slots=slots,
        bars=bars,
        ticks=ticks,
        day_labels=day_labels,
        total=sum(bar.value for bar in bars),
        peak=peak,
    )


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
        "chart": usage_chart(days),
    }


def _percent(value: int, limit: int | None) -> int | None:
    if not limit:
        return None
    return min(100, round(100 * value / limit))
