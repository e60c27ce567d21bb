import os

import pytest
from django.conf import settings
from hypothesis import settings as hypothesis_settings

from workspaces.models import Role

from .factories import PASSWORD, UserFactory, make_workspace
from .live_portal import one_request_per_connection

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API with live_server
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

# Hypothesis: in CI every property/fuzz test runs the same examples on every run (derandomize),
# with no example database carried between runs and no deadline (a slow shared runner must not
# fail a test); a case it finds is pinned with @example in the test. Locally the examples vary,
# so new cases keep being found. Registered here, before any test module builds its settings.
hypothesis_settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)
hypothesis_settings.register_profile("dev", deadline=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if IN_CI else "dev"))


def pytest_configure(config):
    # In CI every test must run on the real services: a missing one is a failure, never a skip.
    engine = settings.DATABASES["default"]["ENGINE"]
    if IN_CI and "postgresql" not in engine:
        raise pytest.UsageError(f"CI=true needs PostgreSQL (DATABASE_URL), got {engine}")
    if IN_CI and not settings.REDIS_URL:
        raise pytest.UsageError("CI=true needs Redis (REDIS_URL)")


@pytest.fixture
def owner(db):
    """Owns the `workspace` fixture (HC's alice)."""
    return UserFactory(email="owner@example.com", username="owner")


@pytest.fixture
def member(db):
    """A plain member of `workspace` (HC's bob)."""
    return UserFactory(email="member@example.com", username="member")


@pytest.fixture
def admin_member(db):
    return UserFactory(email="admin@example.com", username="admin")


@pytest.fixture
def outsider(db):
    """Not a member of `workspace` (HC's charlie)."""
    return UserFactory(email="outsider@example.com", username="outsider")


@pytest.fixture
def workspace(owner, member, admin_member):
    return make_workspace(owner=owner, name="Team", members={member: Role.MEMBER, admin_member: Role.ADMIN})


@pytest.fixture
def password():
    return PASSWORD


@pytest.fixture
def live_portal(live_server):
    """The live server for the real ClearML clients: like the ClearML apiserver and the portal's
    image, it answers `Connection: close` and serves one request per connection, so the SDK's
    forked reporting process never shares its parent's connection (tests/live_portal.py)."""
    with one_request_per_connection(live_server):
        yield live_server
