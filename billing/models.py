"""Usage counters and thin local copies of the workspace's Stripe objects.

Counters are written only by the flush (metering.flush_pending); the subscription,
plan and invoices only by the Stripe webhook (webhooks.py).
"""

from django.db import models

from workspaces.models import TenantQuerySet, Workspace


class Plan(models.TextChoices):
    FREE = "free", "Free"
    PRO = "pro", "Pro"


class Metric(models.TextChoices):
    API_CALLS = "api_calls", "API calls"


class BillingAccount(models.Model):
    """One per workspace, created on first need: plan, Stripe ids, the storage figure."""

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="billing_account")
    plan = models.CharField(max_length=8, choices=Plan.choices, default=Plan.FREE)
    stripe_customer_id = models.CharField(max_length=255, blank=True, db_index=True)
    stripe_subscription_id = models.CharField(max_length=255, blank=True)
    subscription_status = models.CharField(max_length=32, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    # Bytes the portal stores for the workspace (configuration vaults), recomputed periodically.
    storage_bytes = models.BigIntegerField(default=0)
    storage_computed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.workspace_id} ({self.plan})"


class UsageCounter(models.Model):
    """Daily total of one metric; `reported_value` is what Stripe has been told."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="usage_counters")
    metric = models.CharField(max_length=32, choices=Metric.choices)
    day = models.DateField()
    value = models.BigIntegerField(default=0)
    reported_value = models.BigIntegerField(default=0)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "metric", "day"], name="billing_usage_unique_day")
        ]

    def __str__(self) -> str:
        return f"{self.workspace_id} {self.metric} {self.day}: {self.value}"


class UsageFlush(models.Model):
    """The Redis key of every flushed batch, written in the same transaction as its
    totals: a batch replayed after a crash is recognised and not counted twice."""

    key = models.CharField(max_length=200, unique=True)
    flushed_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.key


class Invoice(models.Model):
    """Local copy of a Stripe invoice (written by the webhook only)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="invoices")
    stripe_id = models.CharField(max_length=255, unique=True)
    number = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=32, blank=True)
    currency = models.CharField(max_length=8, blank=True)
    amount_due = models.BigIntegerField(default=0)
    amount_paid = models.BigIntegerField(default=0)
    hosted_invoice_url = models.URLField(max_length=1000, blank=True)
    invoice_pdf = models.URLField(max_length=1000, blank=True)
    created = models.DateTimeField()

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.number or self.stripe_id


class WebhookEvent(models.Model):
    """Every Stripe event id handled, once: a repeated delivery changes nothing."""

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    received_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.event_id} {self.type}"
