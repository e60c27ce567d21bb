"""Stripe flows against the in-process fake Stripe (tests/billing/fake_stripe.py)."""

import json
import time
from datetime import timedelta

import pytest
import stripe
from django.urls import reverse
from django.utils import timezone

from billing import services, tasks
from billing.models import BillingAccount, Invoice, Metric, Plan, UsageCounter, WebhookEvent
from workspaces.models import AuditEvent

from .conftest import WEBHOOK_SECRET

WEBHOOK = reverse("billing:stripe-webhook")


def _url(workspace, name="billing:overview"):
    return reverse(name, args=[workspace.slug])


def _post_event(client, event: dict, *, secret=WEBHOOK_SECRET, signature=None):
    body = json.dumps(event)
    header = (
        stripe.WebhookSignature.generate_signature_header(body, secret) if signature is None else signature
    )
    return client.post(WEBHOOK, body, content_type="application/json", headers={"Stripe-Signature": header})


def _event(event_type: str, obj: dict, event_id: str = "evt_1") -> dict:
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2026-10-28",
        "created": int(time.time()),
        "type": event_type,
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
    }


def _subscription(workspace, customer, status="active", sub_id="sub_1"):
    end = int(time.time()) + 30 * 86400
    return {
        "id": sub_id,
        "object": "subscription",
        "customer": customer,
        "status": status,
        "metadata": {"workspace_id": str(workspace.pk)},
        "items": {
            "object": "list",
            "data": [
                {
                    "id": "si_1",
                    "object": "subscription_item",
                    "price": {"id": "price_pro"},
                    "current_period_end": end,
                },
                {
                    "id": "si_2",
                    "object": "subscription_item",
                    "price": {"id": "price_api_calls"},
                    "current_period_end": end,
                },
            ],
        },
    }


def _pro(workspace, customer="cus_pro", subscription="sub_1"):
    return BillingAccount.objects.create(
        workspace=workspace,
        plan=Plan.PRO,
        stripe_customer_id=customer,
        stripe_subscription_id=subscription,
        subscription_status="active",
    )


# --- Upgrade wizard -----------------------------------------------------------------------


def test_upgrade_shows_the_terms_step(fake_stripe, admin_client, workspace):
    response = admin_client.get(_url(workspace, "billing:upgrade"), headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="upgrade-dialog"' in html and "<html" not in html
    assert 'name="accept"' in html
    assert fake_stripe.calls == []


def test_upgrade_without_accepting_the_terms_is_422_and_calls_nobody(fake_stripe, admin_client, workspace):
    response = admin_client.post(_url(workspace, "billing:upgrade"), {})
    assert response.status_code == 422
    assert "Accept the terms" in response.content.decode()
    assert fake_stripe.calls == []


def test_upgrade_creates_a_customer_and_a_subscription_checkout(
    fake_stripe, admin_client, workspace, admin_member
):
    response = admin_client.post(_url(workspace, "billing:upgrade"), {"accept": "on"})
    assert response.status_code == 302
    assert response["Location"].startswith("https://checkout.stripe.com/c/pay/cs_")
    (customer,) = fake_stripe.calls_to("POST", "/v1/customers")
    assert customer["email"] == admin_member.email
    assert customer["metadata[workspace_id]"] == str(workspace.pk)
    (session,) = fake_stripe.calls_to("POST", "/v1/checkout/sessions")
    assert session["mode"] == "subscription"
    assert session["line_items[0][price]"] == "price_pro"
    assert session["line_items[1][price]"] == "price_api_calls"
    assert session["client_reference_id"] == str(workspace.pk)
    assert session["success_url"].endswith(f"{_url(workspace)}?checkout=success")
    account = BillingAccount.objects.get(workspace=workspace)
    assert account.stripe_customer_id.startswith("cus_")
    assert account.plan == Plan.FREE  # only the webhook makes it Pro
    assert AuditEvent.objects.filter(workspace=workspace, action="billing.checkout_start").exists()
    # a second attempt reuses the customer
    admin_client.post(_url(workspace, "billing:upgrade"), {"accept": "on"})
    assert len(fake_stripe.calls_to("POST", "/v1/customers")) == 1


def test_upgrade_when_stripe_fails_changes_nothing(fake_stripe, admin_client, workspace):
    fake_stripe.fail_with = 500
    response = admin_client.post(_url(workspace, "billing:upgrade"), {"accept": "on"}, follow=True)
    assert response.status_code == 200
    assert "Stripe could not be reached" in response.content.decode()
    assert not AuditEvent.objects.filter(action="billing.checkout_start").exists()


def test_member_cannot_upgrade(fake_stripe, client, member, workspace):
    client.force_login(member)
    assert client.post(_url(workspace, "billing:upgrade"), {"accept": "on"}).status_code == 403
    assert fake_stripe.calls == []


# --- Billing info, payment methods, invoices --------------------------------------------


def test_billing_info_shows_the_customer_and_cards(fake_stripe, admin_client, workspace):
    customer = stripe.StripeClient("sk", http_client=fake_stripe).v1.customers.create(
        params={"email": "billing@example.com", "name": "Team"}
    )
    fake_stripe.add_card(customer["id"], brand="mastercard", last4="4444")
    _pro(workspace, customer=customer["id"])
    html = admin_client.get(_url(workspace, "billing:info"), headers={"HX-Request": "true"}).content.decode()
    assert "billing@example.com" in html
    assert "Mastercard</span> ending in 4444" in html
    assert "Update payment methods" in html


def test_update_payment_methods_opens_a_billing_portal_session(fake_stripe, admin_client, workspace):
    customer = stripe.StripeClient("sk", http_client=fake_stripe).v1.customers.create(
        params={"email": "a@b.c"}
    )
    _pro(workspace, customer=customer["id"])
    response = admin_client.post(_url(workspace, "billing:payment-methods"))
    assert response.status_code == 302
    assert response["Location"].startswith("https://billing.stripe.com/p/session/")
    (call,) = fake_stripe.calls_to("POST", "/v1/billing_portal/sessions")
    assert call["customer"] == customer["id"]
    assert call["return_url"].endswith(_url(workspace))


def test_invoices_lists_payment_history_with_pdf_links(fake_stripe, admin_client, workspace):
    customer = stripe.StripeClient("sk", http_client=fake_stripe).v1.customers.create(
        params={"email": "a@b.c"}
    )
    _pro(workspace, customer=customer["id"])
    invoice = fake_stripe.add_invoice(customer["id"], total=2900, number="ABC-0001")
    html = admin_client.get(
        _url(workspace, "billing:invoices"), headers={"HX-Request": "true"}
    ).content.decode()
    assert "ABC-0001" in html and "29.00 USD" in html
    assert invoice["invoice_pdf"] in html and invoice["hosted_invoice_url"] in html
    assert fake_stripe.calls_to("GET", "/v1/invoices") == [{"customer": customer["id"], "limit": "24"}]


def test_email_invoices_sends_the_list_to_the_admin(
    fake_stripe, admin_client, workspace, admin_member, mailoutbox
):
    customer = stripe.StripeClient("sk", http_client=fake_stripe).v1.customers.create(
        params={"email": "a@b.c"}
    )
    _pro(workspace, customer=customer["id"])
    invoice = fake_stripe.add_invoice(customer["id"], total=2900, number="ABC-0001")
    response = admin_client.post(_url(workspace, "billing:invoices-email"))
    assert response.status_code == 302
    (mail,) = mailoutbox
    assert mail.to == [admin_member.email]
    assert "ABC-0001" in mail.body and invoice["invoice_pdf"] in mail.body
    assert AuditEvent.objects.filter(workspace=workspace, action="billing.invoices_email").exists()


def test_pro_page_shows_estimated_charges_from_the_invoice_preview(fake_stripe, admin_client, workspace):
    customer = stripe.StripeClient("sk", http_client=fake_stripe).v1.customers.create(
        params={"email": "a@b.c"}
    )
    _pro(workspace, customer=customer["id"], subscription="sub_9")
    html = admin_client.get(_url(workspace)).content.decode()
    assert 'id="billing-estimate"' in html and "21.50 USD" in html
    assert 'id="billing-upgrade"' not in html
    assert "My billing info" in html and "My invoices" in html
    (preview,) = fake_stripe.calls_to("POST", "/v1/invoices/create_preview")
    assert preview == {"customer": customer["id"], "subscription": "sub_9"}


def test_pro_page_survives_a_stripe_outage(fake_stripe, admin_client, workspace):
    _pro(workspace, customer="cus_gone")
    response = admin_client.get(_url(workspace))  # the fake answers 404 for an unknown customer
    assert response.status_code == 200
    assert "the estimate is unavailable" in response.content.decode()


# --- Webhook ------------------------------------------------------------------------------


def test_webhook_rejects_a_bad_signature(fake_stripe, client, workspace):
    event = _event("customer.subscription.created", _subscription(workspace, "cus_x"))
    assert _post_event(client, event, secret="whsec_wrong").status_code == 400
    assert _post_event(client, event, signature="t=1,v1=deadbeef").status_code == 400
    assert _post_event(client, event, signature="").status_code == 400
    assert WebhookEvent.objects.count() == 0
    assert not BillingAccount.objects.filter(plan=Plan.PRO).exists()


def test_webhook_subscription_makes_the_workspace_pro_once(fake_stripe, client, workspace):
    BillingAccount.objects.create(workspace=workspace, stripe_customer_id="cus_x")
    event = _event("customer.subscription.created", _subscription(workspace, "cus_x"), "evt_sub")
    assert _post_event(client, event).status_code == 200
    account = BillingAccount.objects.get(workspace=workspace)
    assert (account.plan, account.subscription_status, account.stripe_subscription_id) == (
        Plan.PRO,
        "active",
        "sub_1",
    )
    assert account.current_period_end > timezone.now()
    # A repeated delivery changes nothing, even if the local copy was changed meanwhile.
    BillingAccount.objects.filter(pk=account.pk).update(subscription_status="changed-since")
    assert _post_event(client, event).status_code == 200
    assert BillingAccount.objects.get(pk=account.pk).subscription_status == "changed-since"
    assert WebhookEvent.objects.filter(event_id="evt_sub").count() == 1


def test_webhook_subscription_deleted_returns_to_free(fake_stripe, client, workspace):
    _pro(workspace, customer="cus_x")
    event = _event(
        "customer.subscription.deleted", _subscription(workspace, "cus_x", status="canceled"), "evt_del"
    )
    assert _post_event(client, event).status_code == 200
    assert BillingAccount.objects.get(workspace=workspace).plan == Plan.FREE


def test_webhook_checkout_completed_links_the_subscription(fake_stripe, client, workspace):
    obj = {
        "id": "cs_1",
        "object": "checkout.session",
        "mode": "subscription",
        "customer": "cus_new",
        "subscription": "sub_new",
        "client_reference_id": str(workspace.pk),
        "metadata": {"workspace_id": str(workspace.pk)},
    }
    assert _post_event(client, _event("checkout.session.completed", obj, "evt_cs")).status_code == 200
    account = BillingAccount.objects.get(workspace=workspace)
    assert (account.stripe_customer_id, account.stripe_subscription_id) == ("cus_new", "sub_new")


def test_webhook_invoice_events_keep_a_local_copy(fake_stripe, client, workspace):
    _pro(workspace, customer="cus_x")
    obj = {
        "id": "in_1",
        "object": "invoice",
        "customer": "cus_x",
        "number": "N-1",
        "status": "open",
        "currency": "usd",
        "amount_due": 2900,
        "amount_paid": 0,
        "created": int(time.time()),
        "hosted_invoice_url": "https://invoice.stripe.com/i/x",
        "invoice_pdf": "https://pay.stripe.com/invoice/x/pdf",
    }
    assert _post_event(client, _event("invoice.finalized", obj, "evt_a")).status_code == 200
    assert (
        _post_event(
            client, _event("invoice.paid", {**obj, "status": "paid", "amount_paid": 2900}, "evt_b")
        ).status_code
        == 200
    )
    (invoice,) = Invoice.objects.for_workspace(workspace)
    assert (invoice.status, invoice.amount_paid, invoice.invoice_pdf) == ("paid", 2900, obj["invoice_pdf"])


def test_webhook_ignores_unknown_customers_and_event_types(fake_stripe, client, workspace):
    assert (
        _post_event(
            client, _event("invoice.paid", {"id": "in_z", "customer": "cus_unknown"}, "e1")
        ).status_code
        == 200
    )
    assert _post_event(client, _event("payment_method.attached", {"id": "pm_1"}, "e2")).status_code == 200
    assert _post_event(client, _event("charge.refunded", {"id": "ch_1"}, "e3")).status_code == 200
    assert Invoice.objects.dangerously_all().count() == 0
    assert WebhookEvent.objects.count() == 3


def test_webhook_is_csrf_exempt(fake_stripe, workspace):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    event = _event("payment_method.attached", {"id": "pm_1"}, "evt_csrf")
    assert _post_event(client, event).status_code == 200


# --- Usage reporting to Billing Meters ------------------------------------------------------


def test_usage_is_reported_once_as_meter_events_with_deterministic_identifiers(fake_stripe, workspace):
    _pro(workspace, customer="cus_x")
    today = timezone.now().date()
    counter = UsageCounter.objects.create(workspace=workspace, metric=Metric.API_CALLS, day=today, value=40)
    assert tasks.report_usage() == 1
    (event,) = fake_stripe.meter_events.values()
    assert event["event_name"] == "api_calls"
    assert event["payload"] == {"stripe_customer_id": "cus_x", "value": "40"}
    assert event["identifier"] == f"{workspace.pk}-api_calls-{today.isoformat()}-40"
    assert tasks.report_usage() == 0  # nothing new
    UsageCounter.objects.filter(pk=counter.pk).update(value=55)
    assert tasks.report_usage() == 1
    assert [e["payload"]["value"] for e in fake_stripe.meter_events.values()] == ["40", "15"]


def test_a_report_retried_after_a_crash_is_not_counted_twice(fake_stripe, workspace, monkeypatch):
    _pro(workspace, customer="cus_x")
    UsageCounter.objects.create(
        workspace=workspace, metric=Metric.API_CALLS, day=timezone.now().date(), value=7
    )
    real_update = UsageCounter.objects.filter

    def crash_before_marking(*args, **kwargs):
        if "reported_value" in kwargs:
            raise RuntimeError("worker died")
        return real_update(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(UsageCounter.objects, "filter", crash_before_marking)
        with pytest.raises(RuntimeError):
            services.usage_report()
    assert UsageCounter.objects.get(workspace=workspace).reported_value == 0
    assert services.usage_report() == 1  # sent again with the same identifier ...
    assert len(fake_stripe.calls_to("POST", "/v1/billing/meter_events")) == 2
    assert len(fake_stripe.meter_events) == 1  # ... which Stripe counts once


def test_free_workspaces_and_old_days_are_not_reported(fake_stripe, workspace):
    BillingAccount.objects.create(workspace=workspace, stripe_customer_id="cus_free")
    UsageCounter.objects.create(
        workspace=workspace, metric=Metric.API_CALLS, day=timezone.now().date(), value=5
    )
    assert tasks.report_usage() == 0
    BillingAccount.objects.filter(workspace=workspace).update(plan=Plan.PRO)
    UsageCounter.objects.create(
        workspace=workspace, metric=Metric.API_CALLS, day=timezone.now().date() - timedelta(days=40), value=5
    )
    assert tasks.report_usage() == 1  # today only: Stripe refuses timestamps older than 35 days


def test_reporting_is_off_without_stripe(settings, workspace):
    settings.STRIPE_ENABLED = False
    _pro(workspace, customer="cus_x")
    UsageCounter.objects.create(
        workspace=workspace, metric=Metric.API_CALLS, day=timezone.now().date(), value=5
    )
    assert tasks.report_usage() == 0
    assert UsageCounter.objects.get(workspace=workspace).reported_value == 0


def test_back_from_checkout_the_page_says_the_plan_is_being_confirmed(fake_stripe, admin_client, workspace):
    html = admin_client.get(_url(workspace) + "?checkout=success").content.decode()
    assert 'id="billing-checkout-pending"' in html
    html = admin_client.get(_url(workspace) + "?checkout=cancelled").content.decode()
    assert 'id="billing-checkout-cancelled"' in html


def test_no_second_checkout_while_a_subscription_is_active(fake_stripe, admin_client, workspace):
    BillingAccount.objects.create(
        workspace=workspace, stripe_customer_id="cus_x", subscription_status="active"
    )
    response = admin_client.post(_url(workspace, "billing:upgrade"), {"accept": "on"}, follow=True)
    assert "already on the Pro plan" in response.content.decode()
    assert fake_stripe.calls == []


def test_beat_runs_the_billing_tasks(settings):
    from settings_portal.celery import app

    names = {"billing.flush_usage", "billing.refresh_storage", "billing.report_usage"}
    assert names <= {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    app.loader.import_default_modules()
    assert names <= set(app.tasks)


@pytest.mark.parametrize("name", ["billing:overview", "billing:upgrade", "billing:info"])
def test_pages_with_forms_to_stripe_allow_its_redirects(fake_stripe, admin_client, workspace, name):
    csp = admin_client.get(_url(workspace, name))["Content-Security-Policy"]
    assert "form-action 'self' https://checkout.stripe.com https://billing.stripe.com" in csp
    assert "script-src 'self'" in csp


def test_without_stripe_the_default_policy_applies(admin_client, workspace):
    csp = admin_client.get(_url(workspace))["Content-Security-Policy"]
    assert "form-action 'self';" in csp
