"""Browser journey of Usage & Billing (Chromium, live_server, the in-process fake Stripe)."""

import re

import pytest
from playwright.sync_api import expect

from billing.models import BillingAccount, Plan

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_admin_upgrades_then_reads_invoices_and_billing_info(
    signed_in_page, live_server, fake_stripe, workspace, admin_member
):
    page = signed_in_page(admin_member)
    page.goto(f"{live_server.url}/w/{workspace.slug}/billing/")
    expect(page.locator("h1")).to_have_text("Usage & Billing")
    expect(page.locator("#billing-api-calls svg.billing-chart")).to_be_visible()

    # UPGRADE: the terms step opens in the dialog; continuing needs the terms accepted.
    page.get_by_role("link", name="Upgrade").click()
    dialog = page.locator("#modal")
    expect(dialog.get_by_role("heading", name="Upgrade to Pro")).to_be_visible()
    dialog.get_by_role("button", name="Continue to payment").click()
    expect(page.get_by_text("Accept the terms and conditions to continue.")).to_be_visible()
    page.route(
        re.compile(r"https://checkout\.stripe\.com/.*"),
        lambda route: route.fulfill(status=200, content_type="text/html", body="<h1>Stripe Checkout</h1>"),
    )
    page.get_by_label("I have read and accept the terms and conditions").check()
    page.get_by_role("button", name="Continue to payment").click()
    expect(page.locator("h1")).to_have_text("Stripe Checkout")
    assert page.url.startswith("https://checkout.stripe.com/c/pay/cs_")

    # Stripe's webhook makes the workspace Pro; its invoices and card live at Stripe.
    account = BillingAccount.objects.get(workspace=workspace)
    BillingAccount.objects.filter(pk=account.pk).update(
        plan=Plan.PRO, stripe_subscription_id="sub_1", subscription_status="active"
    )
    invoice = fake_stripe.add_invoice(account.stripe_customer_id, total=2900, number="INV-0001")
    fake_stripe.add_card(account.stripe_customer_id, last4="1881")
    page.goto(f"{live_server.url}/w/{workspace.slug}/billing/?checkout=success")
    expect(page.locator("#billing-plan")).to_have_text("Pro")
    expect(page.locator("#billing-estimate")).to_contain_text("21.50 USD")

    page.get_by_role("link", name="My invoices").click()
    expect(dialog.get_by_role("heading", name="Payment history")).to_be_visible()
    expect(dialog.get_by_role("cell", name="INV-0001")).to_be_visible()
    expect(dialog.get_by_role("link", name="PDF")).to_have_attribute("href", invoice["invoice_pdf"])
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()

    page.get_by_role("link", name="My billing info").click()
    expect(dialog.get_by_text("ending in 1881")).to_be_visible()
