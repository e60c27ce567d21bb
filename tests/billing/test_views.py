import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from billing import tasks
from billing.models import BillingAccount, Metric, UsageCounter
from tests.factories import UserFactory
from vaults.models import Vault
from workspaces.models import Role
from workspaces.services import membership_add


def _url(workspace, name="billing:overview"):
    return reverse(name, args=[workspace.slug])


def test_outsider_gets_404(client, outsider, workspace):
    client.force_login(outsider)
    assert client.get(_url(workspace)).status_code == 404


def test_member_gets_403(client, member, workspace):
    client.force_login(member)
    assert client.get(_url(workspace)).status_code == 403


@pytest.mark.parametrize("name", ["billing:upgrade", "billing:info", "billing:invoices"])
def test_dialogs_are_for_admins_only(client, member, outsider, workspace, name):
    client.force_login(member)
    assert client.get(_url(workspace, name)).status_code == 403
    client.force_login(outsider)
    assert client.get(_url(workspace, name)).status_code == 404


def test_page_shows_users_storage_and_api_calls(admin_client, workspace):
    today = timezone.now().date()
    UsageCounter.objects.create(workspace=workspace, metric=Metric.API_CALLS, day=today, value=1234)
    if today.day > 1:
        UsageCounter.objects.create(
            workspace=workspace, metric=Metric.API_CALLS, day=today - timedelta(days=1), value=66
        )
    # last month's calls are not this month's
    UsageCounter.objects.create(
        workspace=workspace, metric=Metric.API_CALLS, day=today.replace(day=1) - timedelta(days=1), value=999
    )
    response = admin_client.get(_url(workspace))
    assert response.status_code == 200
    html = response.content.decode()
    users = re.search(r'id="billing-users".*?</section>', html, re.S).group(0)
    assert "<strong>3</strong>" in users  # owner, member, admin
    assert reverse("access:user-list", args=[workspace.slug]) in users
    api = re.search(r'id="billing-api-calls".*?</section>', html, re.S).group(0)
    expected = 1234 + (66 if today.day > 1 else 0)
    assert f"<strong>{expected:,}</strong>" in api
    assert "of 1,000,000" in api
    assert api.count('class="usage-chart-bar') == today.day  # one bar per day so far
    assert f"{today:%b} {today.day}: 1,234 calls" in api
    assert "style=" not in html and "<script>" not in html
    assert 'id="billing-not-configured"' in html and "What is metered" in html
    # Without Stripe nothing leads to what cannot work: no UPGRADE, no plan, no billing links.
    assert 'id="billing-upgrade"' not in html and 'id="billing-plan"' not in html
    assert reverse("billing:invoices", args=[workspace.slug]) not in html
    assert 'id="usage-chart-empty"' not in html
    assert "Usage &amp; Billing</a>" in html  # sidebar entry


def test_page_query_count(admin_client, workspace, django_assert_num_queries):
    UsageCounter.objects.create(
        workspace=workspace, metric=Metric.API_CALLS, day=timezone.now().date(), value=3
    )
    admin_client.get(_url(workspace))  # warm the session and current workspace
    for _ in range(5):  # more members must not mean more queries
        membership_add(workspace=workspace, user=UserFactory(), role=Role.MEMBER, actor=workspace.owner)
    with django_assert_num_queries(8):
        response = admin_client.get(_url(workspace))
    assert response.status_code == 200
    assert "<strong>8</strong>" in response.content.decode()


def test_storage_is_computed_periodically_from_what_the_portal_stores(admin_client, workspace, admin_member):
    Vault.objects.create(workspace=workspace, scope="user", user=admin_member, content="x" * 10, data="{}")
    assert tasks.refresh_storage() >= 1
    account = BillingAccount.objects.get(workspace=workspace)
    assert account.storage_bytes > 10  # stored encrypted: larger than the plain text
    assert account.storage_computed_at is not None
    html = admin_client.get(_url(workspace)).content.decode()
    storage = re.search(r'id="billing-storage".*?</section>', html, re.S).group(0)
    assert "of 100.0 GB" in storage
    assert "Computed" in storage


def test_upgrade_without_stripe_says_billing_is_not_configured(admin_client, workspace):
    response = admin_client.get(_url(workspace, "billing:upgrade"), headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert 'id="upgrade-not-configured"' in response.content.decode()
    assert "<html" not in response.content.decode()
    response = admin_client.post(_url(workspace, "billing:upgrade"), {"accept": "on"}, follow=True)
    assert "Billing is not configured" in response.content.decode()
    assert not BillingAccount.objects.filter(workspace=workspace, plan="pro").exists()


@pytest.mark.parametrize("name", ["billing:payment-methods", "billing:invoices-email"])
def test_stripe_actions_without_stripe_change_nothing(admin_client, workspace, mailoutbox, name):
    response = admin_client.post(_url(workspace, name), follow=True)
    assert response.status_code == 200
    assert "Billing is not configured" in response.content.decode()
    assert mailoutbox == []


def test_webhook_is_off_without_stripe(client):
    assert (
        client.post(reverse("billing:stripe-webhook"), b"{}", content_type="application/json").status_code
        == 404
    )


def test_an_empty_month_shows_the_empty_state_on_real_axes(admin_client, workspace):
    html = admin_client.get(_url(workspace)).content.decode()
    api = re.search(r'id="billing-api-calls".*?</section>', html, re.S).group(0)
    assert 'id="usage-chart-empty"' in api and "No API calls yet this month" in api
    yaxis = re.search(r'data-testid="usage-chart-yaxis">(.*?)</div>', api).group(1)
    assert re.findall(r"<span>(.*?)</span>", yaxis) == ["4", "3", "2", "1", "0"]
    xaxis = re.search(r'data-testid="usage-chart-xaxis">(.*?)</div>', api).group(1)
    labels = [label for label in re.findall(r"<span>(.*?)</span>", xaxis) if label]
    assert labels[:6] == ["1", "5", "10", "15", "20", "25"] and labels[-1] in {"28", "29", "30", "31"}


@pytest.mark.parametrize(
    "highest, step, labels",
    [
        (0, 1, ["4", "3", "2", "1", "0"]),
        (1, 1, ["1", "0"]),
        (7, 2, ["8", "6", "4", "2", "0"]),
        (4600, 2000, ["6k", "4k", "2k", "0"]),
        (1800, 500, ["2k", "1.5k", "1k", "500", "0"]),
        (2_500_000, 1_000_000, ["3M", "2M", "1M", "0"]),
    ],
)
def test_value_axis_uses_round_steps_and_the_height(highest, step, labels):
    from datetime import date

    from billing.selectors import nice_step, usage_chart

    today = date(2030, 2, 10)
    days = [(today.replace(day=d), highest if d == 3 else 0) for d in range(1, 11)]
    chart = usage_chart(days, today=today)
    assert nice_step(highest) == step
    assert [tick.label for tick in chart.ticks] == labels
    assert chart.slots == 28 and len(chart.day_labels) == 28 and chart.day_labels[-1] == "28"
    bar = chart.bars[2]
    assert bar.y + bar.height == 100
    if highest:
        assert bar.height > 50  # the highest day uses more than half of the plot
    assert chart.bars[9].is_today and not bar.is_today
