"""Fixtures for the upstream stand-in (tests/upstream/standin.py): a stand-in for the open-source
ClearML apiserver on 127.0.0.1 with a random port, stopped after the test.

Other test directories use them by importing them into their conftest.py:

    from tests.upstream.fixtures import clearml_upstream, clearml_upstream_factory, upstream_as  # noqa: F401
"""

import pytest

from .client import ApiClient
from .standin import StandIn


@pytest.fixture
def clearml_upstream():
    """A started stand-in with its defaults (its own company, system credential, `default` queue)."""
    standin = StandIn().start()
    yield standin
    standin.stop()


@pytest.fixture
def clearml_upstream_factory():
    """Start as many stand-ins as a test needs (e.g. one per workspace); all stopped afterwards."""
    started = []

    def make(**kwargs) -> StandIn:
        standin = StandIn(**kwargs).start()
        started.append(standin)
        return standin

    yield make
    for standin in started:
        standin.stop()


@pytest.fixture
def upstream_as(clearml_upstream):
    """`upstream_as(user_id)`: an ApiClient with that user's token (None: the system user)."""
    clients = []

    def make(user_id: str | None = None) -> ApiClient:
        token = clearml_upstream.token_for(user_id) if user_id else clearml_upstream.system_token()
        client = ApiClient(clearml_upstream.url, token=token)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
