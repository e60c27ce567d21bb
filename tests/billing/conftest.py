import uuid

import pytest

from billing import metering, stripe_api
from tests.e2e.conftest import (  # noqa: F401  (the browser journey's fixtures)
    browser_context_args,
    browser_type_launch_args,
    signed_in_page,
)

from .fake_stripe import FakeStripe

WEBHOOK_SECRET = "whsec_test_portal"


@pytest.fixture(autouse=True)
def usage_keys(monkeypatch, settings):
    """Each test meters into its own Redis keys (tests share the Redis database)."""
    prefix = f"test-billing:{uuid.uuid4().hex}"
    monkeypatch.setattr(metering, "KEY_PREFIX", prefix)
    client = metering.redis_client()
    yield prefix
    if client is not None:
        for key in client.scan_iter(match=f"{prefix}:*"):
            client.delete(key)


@pytest.fixture
def redis_required(settings):
    assert settings.REDIS_URL, "these tests need REDIS_URL (scripts/with-test-services.sh)"
    return metering.redis_client()


@pytest.fixture
def fake_stripe(settings, monkeypatch):
    settings.STRIPE_ENABLED = True
    settings.STRIPE_SECRET_KEY = "sk_test_portal"
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_PRO_PRICE_ID = "price_pro"
    settings.STRIPE_API_CALLS_PRICE_ID = "price_api_calls"
    settings.STRIPE_METER_EVENT_NAME = "api_calls"
    fake = FakeStripe()
    monkeypatch.setattr(stripe_api, "http_client", fake)
    return fake


@pytest.fixture
def admin_client(client, admin_member, workspace):
    client.force_login(admin_member)
    return client
