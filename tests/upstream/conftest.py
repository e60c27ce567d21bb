"""Fixtures for the upstream stand-in (tests/upstream/standin.py): a stand-in for the open-source
ClearML apiserver on 127.0.0.1 with a random port, stopped after the test."""

import pytest

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
