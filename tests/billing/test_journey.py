"""Browser journeys of Usage & Billing (Chromium, live_server, the in-process fake Stripe).

With Stripe: UPGRADE, then My invoices (EMAIL INVOICES), My billing info (Update payment
methods). Without Stripe: what is metered, no dead ends, the chart's axes, legend and empty
state. Set PORTAL_SCREENSHOT_DIR to keep screenshots at 1440 and 390 px (nothing is compared).
"""

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from billing.models import BillingAccount, Metric, Plan, UsageCounter

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WIDTHS = (1440, 390)


def shot(page: Page, name: str) -> None:
    folder = os.environ.get("PORTAL_SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        width = page.viewport_size["width"]
        page.screenshot(path=str(Path(folder) / f"{name}-{width}.png"), full_page=True)


def assert_main_fits(page: Page) -> None:
    """Nothing in the page's content is wider than its box (the chart scales, labels wrap)."""
    assert page.locator("#main").evaluate("el => el.scrollWidth <= el.clientWidth")


@pytest.mark.parametrize("width", WIDTHS)
def test_admin_upgrades_then_reads_invoices_and_billing_info(
    signed_in_page, live_server, fake_stripe, workspace, admin_member, mailoutbox, width
):
    page = signed_in_page(admin_member)
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_server.url}/w/{workspace.slug}/billing/")
    expect(page.locator("h1")).to_have_text("Usage & Billing")
    expect(page.locator("#billing-api-calls svg.billing-chart")).to_be_visible()
    expect(page.locator("#billing-not-configured")).to_have_count(0)

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
    fake_stripe.add_invoice(account.stripe_customer_id, total=3150, number="INV-0002", status="open")
    fake_stripe.add_card(account.stripe_customer_id, last4="1881")
    page.goto(f"{live_server.url}/w/{workspace.slug}/billing/?checkout=success")
    expect(page.locator("#billing-plan")).to_have_text("Pro")
    expect(page.locator("#billing-estimate")).to_contain_text("21.50 USD")
    expect(page.locator("#billing-upgrade")).to_have_count(0)
    assert_main_fits(page)
    shot(page, "billing-pro")

    # My invoices: the payment history, then EMAIL INVOICES sends it to the administrator.
    page.get_by_role("link", name="My invoices").click()
    expect(dialog.get_by_role("heading", name="Payment history")).to_be_visible()
    expect(dialog.get_by_role("cell", name="INV-0001")).to_be_visible()
    expect(dialog.get_by_role("cell", name="INV-0002")).to_be_visible()
    first_row = dialog.get_by_role("row").filter(has_text="INV-0001")
    expect(first_row.get_by_role("link", name="PDF")).to_have_attribute("href", invoice["invoice_pdf"])
    shot(page, "billing-invoices")
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()
    page.get_by_role("link", name="My invoices").click()
    dialog.get_by_role("button", name="Email invoices").click()
    expect(page.locator("#messages")).to_contain_text(f"2 invoice(s) sent to {admin_member.email}.")
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == [admin_member.email]
    assert "INV-0001" in mailoutbox[0].body and "INV-0002" in mailoutbox[0].body

    # My billing info: the card on file; Update payment methods goes to Stripe's Billing Portal.
    page.get_by_role("link", name="My billing info").click()
    expect(dialog.get_by_text("ending in 1881")).to_be_visible()
    shot(page, "billing-info")
    page.route(
        re.compile(r"https://billing\.stripe\.com/.*"),
        lambda route: route.fulfill(status=200, content_type="text/html", body="<h1>Billing Portal</h1>"),
    )
    dialog.get_by_role("button", name="Update payment methods").click()
    expect(page.locator("h1")).to_have_text("Billing Portal")
    assert page.url.startswith("https://billing.stripe.com/p/session/")
    assert fake_stripe.calls_to("POST", "/v1/billing_portal/sessions")


@pytest.mark.parametrize("width", WIDTHS)
def test_without_stripe_the_page_says_what_is_metered_and_offers_no_dead_end(
    signed_in_page, live_server, settings, workspace, admin_member, width
):
    settings.STRIPE_ENABLED = False
    page = signed_in_page(admin_member)
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_server.url}/w/{workspace.slug}/billing/")

    metered = page.locator("#billing-not-configured")
    expect(metered.get_by_role("heading", name="What is metered")).to_be_visible()
    for what in ("Users", "Storage", "API calls"):
        expect(metered.locator("li", has_text=what)).to_be_visible()
    expect(metered).to_contain_text("Nothing is charged")
    # Nothing that cannot work is offered: no UPGRADE, no plan, no billing links.
    expect(page.get_by_role("link", name="Upgrade")).to_have_count(0)
    expect(page.get_by_role("link", name="My invoices")).to_have_count(0)
    expect(page.get_by_role("link", name="My billing info")).to_have_count(0)
    expect(page.locator("#billing-plan")).to_have_count(0)

    # No calls yet: the chart says so, with its axes and legend all the same.
    chart = page.locator("#usage-chart")
    expect(chart.locator("#usage-chart-empty")).to_contain_text("No API calls yet this month")
    expect(chart.get_by_label("Legend")).to_contain_text("API calls")
    expect(chart.get_by_test_id("usage-chart-yaxis")).to_have_text(re.compile(r"^4\s*3\s*2\s*1\s*0$"))
    today = timezone.now().date()
    expect(chart.get_by_test_id("usage-chart-xaxis")).to_contain_text("15")
    assert_main_fits(page)
    shot(page, "billing-no-stripe-empty")

    UsageCounter.objects.create(workspace=workspace, metric=Metric.API_CALLS, day=today, value=1800)
    if today.day > 1:
        yesterday = today - timedelta(days=1)
        UsageCounter.objects.create(workspace=workspace, metric=Metric.API_CALLS, day=yesterday, value=4600)
    page.reload()
    expect(chart.locator("#usage-chart-empty")).to_have_count(0)
    highest = 4600 if today.day > 1 else 1800
    labels = {4600: "6k 4k 2k 0", 1800: "2k 1.5k 1k 500 0"}[highest]
    expect(chart.get_by_test_id("usage-chart-yaxis")).to_have_text(re.compile(r"\s*".join(labels.split())))
    today_bar = chart.locator("rect.usage-chart-bar.is-today")
    expect(today_bar).to_have_count(1)
    assert today_bar.bounding_box()["height"] > 10  # drawn to scale, not a sliver
    expect(chart.locator("g.usage-chart-day title").nth(today.day - 1)).to_have_text(
        f"{today:%b} {today.day}: 1,800 calls"
    )
    assert_main_fits(page)
    shot(page, "billing-no-stripe")
