import copy

import pytest
from django.db import transaction

from accounts import api as accounts_api
from gateway import cache
from resources.demo import EXAMPLE_WORKFLOW
from resources.services import upstream
from resources.simulation import Run
from settings_portal.api import authentication
from tests.gateway.conftest import link
from tests.upstream.fixtures import clearml_upstream_factory  # noqa: F401
from workspaces import revocation


@pytest.fixture
def groups(workspace):
    """The workspace's built-in groups by key: users, admins, queue_admins."""
    from access.selectors import builtin_groups

    return builtin_groups(workspace=workspace)


@pytest.fixture
def portal_api(live_portal, settings, fresh_gateway_state):
    """The live portal's API URL (real clients connect there)."""
    settings.PORTAL_BASE_URL = live_portal.url
    settings.PORTAL_API_URL = f"{live_portal.url}/api"
    settings.PORTAL_UPSTREAM_READ_TIMEOUT = 30.0
    return settings.PORTAL_API_URL


@pytest.fixture
def home(tmp_path):
    path = tmp_path / "home"
    path.mkdir()
    return path


# --- a workspace linked to the upstream stand-in (test_upstream.py, test_realclients.py) ---


@pytest.fixture
def fresh_gateway_state(settings):
    """Every process-wide cache starts empty (ids repeat across test databases)."""
    revocation.reset()
    cache.reset()
    authentication.reset_last_used_throttle()
    accounts_api.profile_cache_clear()
    settings.PORTAL_UPSTREAM_READ_TIMEOUT = 3.0
    settings.PORTAL_UPSTREAM_CONNECT_TIMEOUT = 1.0
    yield
    cache.reset()
    revocation.reset()


# Committed for real: the passes, the outbox and the observers run once a change commits.


def example_without_waiting_jobs() -> dict:
    scenario = copy.deepcopy(EXAMPLE_WORKFLOW)
    # The busy Product jobs (the demo's finished 0.5x ones left out): 8 GPUs free on H100 and on Bare Metal.
    scenario["jobs"] = [j for j in scenario["jobs"] if j.get("state") == "running" and "done" not in j["id"]]
    return scenario


@pytest.fixture
def standin(clearml_upstream_factory):  # noqa: F811
    return clearml_upstream_factory(token_secret="resources-tests-token-secret-0123456789")


@pytest.fixture
def example(workspace, owner, standin, fresh_gateway_state):
    """The seed's Example Workflow (the busy Product jobs, no waiting ones), linked to the stand-in."""
    with transaction.atomic():  # as the demo loads it: one pass at the end, no job admitted early
        Run(example_without_waiting_jobs(), workspace=workspace, operator=owner).load()
    link(workspace, standin, owner)
    result = upstream.queues_sync(workspace)
    assert not result.errors, result.errors
    return workspace
