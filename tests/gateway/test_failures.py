"""An upstream that is down, hangs up, is slow or answers through its own proxy's error page:
the client gets what a ClearML reverse proxy gives, quickly, never a hang or a traceback."""

import time

import pytest

pytestmark = pytest.mark.django_db


def timed(func):
    started = time.monotonic()
    result = func()
    return result, time.monotonic() - started


def test_an_upstream_that_is_down_answers_502_at_once(api, linked, member_token, standin):
    api.call("projects.get_all", {}, token=member_token)  # provisioned while it was up
    standin.go_down()
    (status, body), seconds = timed(lambda: api.call("projects.get_all", {}, token=member_token))
    assert (status, body["meta"]["result_code"], body["meta"]["result_subcode"]) == (502, 502, 0)
    assert body["meta"]["result_msg"] == "Bad Gateway: the ClearML server could not be reached"
    assert body["meta"]["endpoint"]["name"] == "projects.get_all"
    assert seconds < 2
    standin.come_up()
    assert api.call("projects.get_all", {}, token=member_token)[0] == 200  # and it recovers


def test_an_upstream_that_hangs_up_answers_502(api, linked, member_token, standin):
    api.call("projects.get_all", {}, token=member_token)
    standin.hang_up(endpoints=["projects.get_all"])
    (status, body), seconds = timed(lambda: api.call("projects.get_all", {}, token=member_token))
    assert (status, body["meta"]["result_code"]) == (502, 502)
    assert seconds < 2
    standin.heal()
    assert api.call("projects.get_all", {}, token=member_token)[0] == 200  # no broken connection reused


def test_a_slow_upstream_answers_504_after_the_read_timeout(api, linked, member_token, standin, settings):
    api.call("projects.get_all", {}, token=member_token)
    settings.PORTAL_UPSTREAM_READ_TIMEOUT = 0.5
    standin.slow(3.0, endpoints=["projects.get_all"])
    (status, body), seconds = timed(lambda: api.call("projects.get_all", {}, token=member_token))
    assert (status, body["meta"]["result_code"], body["meta"]["result_subcode"]) == (504, 504, 0)
    assert body["meta"]["result_msg"] == "Gateway Timeout: the ClearML server did not answer in time"
    assert 0.4 < seconds < 2


def test_an_upstream_proxy_error_page_passes_through(api, linked, member_token, standin):
    api.call("projects.get_all", {}, token=member_token)
    standin.fail(503, endpoints=["projects.get_all"])
    response = api.send("projects.get_all", b"{}", token=member_token)
    assert response.status_code == 503
    assert response["Content-Type"] == "text/html"
    assert b"503 Service Temporarily Unavailable" in response.content_bytes


def test_provisioning_against_a_down_upstream_is_a_502_and_provisions_later(
    api, linked, member_token, standin
):
    standin.go_down()
    status, body = api.call("projects.get_all", {}, token=member_token)
    assert (status, body["meta"]["result_code"]) == (502, 502)
    standin.come_up()
    assert api.call("projects.get_all", {}, token=member_token)[0] == 200
    assert len(standin.requests_for("auth.create_user")) == 1


@pytest.mark.parametrize(
    "name", ["tasks.create", "users.get_current_user"]
)  # forwarded, and the portal's own
def test_a_chunked_body_is_refused_411_and_nothing_is_forwarded(api, linked, member_token, standin, name):
    """WSGI gives Django no length for a chunked body: read as empty, it would reach the upstream
    as an empty call. The clients always send a Content-Length; a chunked body is a clear 411."""
    before = len(standin.requests_for(name))
    status, body = api.call(name, {"name": "t"}, token=member_token, headers={"Transfer-Encoding": "chunked"})
    assert (status, body["meta"]["result_code"]) == (411, 411)
    assert "Content-Length" in body["meta"]["result_msg"]
    assert len(standin.requests_for(name)) == before
