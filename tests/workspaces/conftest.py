import pytest

HX = {"HX-Request": "true"}


@pytest.fixture
def hx():
    """Headers of an htmx request (a fragment is expected back)."""
    return dict(HX)
