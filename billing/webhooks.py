"""The Stripe webhook: the only writer of the local subscription and invoice copies.

Each event id is stored once (WebhookEvent, unique) in the same transaction as its
effects: a repeated delivery changes nothing; a failed one rolls back and Stripe retries.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from django.db import IntegrityError, transaction

from workspaces.models import Workspace

from .models import BillingAccount, Invoice, Plan, WebhookEvent

logger = logging.getLogger(__name__)

PAID_STATUSES = {"active", "trialing", "past_due"}


def _ts(value) -> datetime | None:
    return datetime.fromtimestamp(int(value), tz=UTC) if value else None


def _account_for(obj) -> BillingAccount | None:
    customer = obj.get("customer")
    if customer:
        account = BillingAccount.objects.filter(stripe_customer_id=customer).first()
        if account:
            return account
    workspace_id = (obj.get("metadata") or {}).get("workspace_id") or obj.get("client_reference_id")
    if not workspace_id:
        return None
    workspace = Workspace.objects.filter(pk=workspace_id).first()
    if workspace is None:
        return None
    account, _ = BillingAccount.objects.get_or_create(workspace=workspace)
    if customer and not account.stripe_customer_id:
        account.stripe_customer_id = customer
    return account


def _checkout_completed(obj) -> None:
    account = _account_for(obj)
    if account is None:
        return
    if obj.get("subscription"):
        account.stripe_subscription_id = obj["subscription"]
    account.save()


def _subscription_changed(obj, *, deleted: bool) -> None:
    account = _account_for(obj)
    if account is None:
        return
    status = obj["status"]
    account.stripe_subscription_id = obj["id"]
    account.subscription_status = status
    account.plan = Plan.PRO if status in PAID_STATUSES and not deleted else Plan.FREE
    items = (obj.get("items") or {}).get("data") or []
    ends = [item["current_period_end"] for item in items if item.get("current_period_end")]
    account.current_period_end = _ts(max(ends)) if ends else None
    account.save()


def _invoice_changed(obj) -> None:
    account = _account_for(obj)
    if account is None:
        return
    if account.pk is None or not account.stripe_customer_id:
        account.save()

    def field(name, default=""):
        value = obj.get(name)
        return default if value is None else value

    Invoice.objects.update_or_create(
        stripe_id=obj["id"],
        defaults={
            "workspace_id": account.workspace_id,
            "number": field("number"),
            "status": field("status"),
            "currency": field("currency"),
            "amount_due": field("amount_due", 0),
            "amount_paid": field("amount_paid", 0),
            "hosted_invoice_url": field("hosted_invoice_url"),
            "invoice_pdf": field("invoice_pdf"),
            "created": _ts(field("created", 0)) or datetime.now(tz=UTC),
        },
    )


HANDLERS = {
    "checkout.session.completed": _checkout_completed,
    "customer.subscription.created": lambda obj: _subscription_changed(obj, deleted=False),
    "customer.subscription.updated": lambda obj: _subscription_changed(obj, deleted=False),
    "customer.subscription.deleted": lambda obj: _subscription_changed(obj, deleted=True),
    "invoice.paid": _invoice_changed,
    "invoice.payment_failed": _invoice_changed,
    "invoice.finalized": _invoice_changed,
    # Payment methods live at Stripe (My billing info reads them there): nothing to copy.
    "payment_method.attached": lambda obj: None,
}


def event_handle(event) -> bool:
    """Apply a verified EVENT (a plain dict: `stripe.Event.to_dict()`) once; False if its
    id was handled before."""
    try:
        with transaction.atomic():
            WebhookEvent.objects.create(event_id=event["id"], type=event["type"])
            handler = HANDLERS.get(event["type"])
            if handler is not None:
                handler(event["data"]["object"])
    except IntegrityError:
        if WebhookEvent.objects.filter(event_id=event["id"]).exists():
            return False
        raise
    return True
