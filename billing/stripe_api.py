"""The Stripe calls the portal makes, through one `StripeClient` (stripe >= 16, `client.v1.*`).

`http_client` is the SDK's own transport hook: None uses the SDK's default; the tests
put an in-process fake Stripe there (tests/billing/fake_stripe.py).
"""

from __future__ import annotations

import stripe
from django.conf import settings

from workspaces.models import Workspace

from .models import BillingAccount

http_client: stripe.HTTPClient | None = None


class BillingNotConfigured(Exception):
    pass


def client() -> stripe.StripeClient:
    if not settings.STRIPE_ENABLED:
        raise BillingNotConfigured("Billing is not configured on this portal.")
    return stripe.StripeClient(settings.STRIPE_SECRET_KEY, http_client=http_client, max_network_retries=0)


def customer_ensure(*, account: BillingAccount, email: str) -> str:
    """The workspace's Stripe customer id, created on first need."""
    if account.stripe_customer_id:
        return account.stripe_customer_id
    workspace: Workspace = account.workspace
    customer = client().v1.customers.create(
        params={"email": email, "name": workspace.name, "metadata": {"workspace_id": str(workspace.pk)}},
        options={"idempotency_key": f"customer-{workspace.pk}"},
    )
    account.stripe_customer_id = customer["id"]
    account.save(update_fields=["stripe_customer_id", "updated_at"])
    return customer["id"]


def checkout_session_create(
    *, account: BillingAccount, customer: str, success_url: str, cancel_url: str
) -> str:
    """A Checkout Session for the Pro subscription; returns the URL to send the user to."""
    workspace_id = str(account.workspace_id)
    items: list[dict] = [{"price": settings.STRIPE_PRO_PRICE_ID, "quantity": 1}]
    if settings.STRIPE_API_CALLS_PRICE_ID:
        items.append({"price": settings.STRIPE_API_CALLS_PRICE_ID})
    session = client().v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "customer": customer,
            "line_items": items,
            "client_reference_id": workspace_id,
            "metadata": {"workspace_id": workspace_id},
            "subscription_data": {"metadata": {"workspace_id": workspace_id}},
            "success_url": success_url,
            "cancel_url": cancel_url,
        }
    )
    return session["url"]


def portal_session_create(*, customer: str, return_url: str) -> str:
    session = client().v1.billing_portal.sessions.create(
        params={"customer": customer, "return_url": return_url}
    )
    return session["url"]


def customer_get(*, customer: str):
    return client().v1.customers.retrieve(customer)


def payment_methods_list(*, customer: str) -> list:
    return list(client().v1.customers.payment_methods.list(customer, params={"limit": 10})["data"])


def invoices_list(*, customer: str) -> list:
    return list(client().v1.invoices.list(params={"customer": customer, "limit": 24})["data"])


def invoice_preview(*, customer: str, subscription: str):
    return client().v1.invoices.create_preview(params={"customer": customer, "subscription": subscription})


def meter_event_create(*, customer: str, value: int, identifier: str, timestamp: int) -> None:
    client().v1.billing.meter_events.create(
        params={
            "event_name": settings.STRIPE_METER_EVENT_NAME,
            "identifier": identifier,
            "timestamp": timestamp,
            "payload": {"stripe_customer_id": customer, "value": str(value)},
        }
    )
