"""Writes of the billing app other than the webhook's (webhooks.py)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from django.db import transaction
from django.db.models import F, Sum
from django.db.models.functions import Coalesce, Length
from django.utils import timezone

from vaults.models import Vault
from workspaces.models import Workspace

from . import stripe_api
from .models import BillingAccount, Plan, UsageCounter


def billing_account_ensure(*, workspace: Workspace) -> BillingAccount:
    """The workspace's billing account, created (free plan) on first need."""
    account, _ = BillingAccount.objects.get_or_create(workspace=workspace)
    return account


def storage_bytes_compute(*, workspace: Workspace) -> int:
    """What the portal stores for the workspace: its configuration vaults (as stored,
    i.e. encrypted). The portal keeps no experiment artifacts; those live in the file
    server or object storage, which the portal does not see."""
    total = Vault.objects.for_workspace(workspace).aggregate(
        total=Coalesce(Sum(Length("content")), 0) + Coalesce(Sum(Length("data")), 0)
    )["total"]
    return int(total or 0)


@transaction.atomic
def storage_refresh(*, workspace: Workspace) -> BillingAccount:
    """Recompute and store the workspace's storage figure."""
    account = billing_account_ensure(workspace=workspace)
    account.storage_bytes = storage_bytes_compute(workspace=workspace)
    account.storage_computed_at = timezone.now()
    account.save(update_fields=["storage_bytes", "storage_computed_at", "updated_at"])
    return account


def usage_report(*, now=None) -> int:
    """Report every counter's unreported calls (`value - reported_value`) of Pro workspaces
    to Stripe as Billing Meter events; returns the events sent.

    The identifier is derived from (workspace, metric, day, new total), so a retry after a
    crash between the report and the `reported_value` update is deduplicated by Stripe
    (identifiers are unique over 24 hours) instead of being billed twice."""
    now = now or timezone.now()
    oldest = (now - timedelta(days=34)).date()  # Stripe accepts timestamps up to 35 days old
    rows = (
        UsageCounter.objects.dangerously_all()
        .filter(
            value__gt=F("reported_value"),
            day__gte=oldest,
            workspace__billing_account__plan=Plan.PRO,
        )
        .exclude(workspace__billing_account__stripe_customer_id="")
        .select_related("workspace__billing_account")
        .order_by("day", "pk")
    )
    sent = 0
    for row in rows:
        delta = row.value - row.reported_value
        end_of_day = datetime.combine(row.day, time(23, 59, 59), tzinfo=UTC)
        stripe_api.meter_event_create(
            customer=row.workspace.billing_account.stripe_customer_id,
            value=delta,
            identifier=f"{row.workspace_id}-{row.metric}-{row.day.isoformat()}-{row.value}",
            timestamp=int(min(now, end_of_day).timestamp()),
        )
        UsageCounter.objects.filter(pk=row.pk, reported_value=row.reported_value).update(
            reported_value=row.value
        )
        sent += 1
    return sent
