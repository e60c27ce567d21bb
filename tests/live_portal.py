"""pytest-django's live server as the real ClearML clients meet a ClearML server: one request per
connection, every answer with `Connection: close` (the `live_portal` fixture, tests/conftest.py).

Why: the `clearml` SDK forks its reporting subprocess (`os.fork()`, the default on Linux,
`sdk.development.report_use_subprocess`) while its `requests` session still holds a pooled
keep-alive connection, and nothing resets that pool in the child. The child then sends its
`events.add_batch` calls on the parent's TCP connection while the parent keeps polling
(`tasks.get_all` every 2 s in `task.close()`). Two processes writing and reading one socket mix
their requests and answers: a call stalls until its read timeout, or the server reads the other
process's request as this one's body and the ClearML server answers 400 (the SDK then drops the
batch: the task's scalars were lost in about 1 run in 4 of
tests/gateway/test_realclients.py::test_sdk_task_init_report_and_close_through_the_portal).

The ClearML apiserver never keeps a connection open, and neither does the portal's image
(gunicorn's sync workers), so no pooled connection survives to a fork there; Django's live server
keeps HTTP/1.1 connections alive, which exposed the SDK to it. While the fixture runs, the live
server behaves like them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.servers.basehttp import ServerHandler
from django.test.testcases import QuietWSGIRequestHandler


class _ClosingServerHandler(ServerHandler):
    def cleanup_headers(self):
        super().cleanup_headers()
        self.headers["Connection"] = "close"
        self.request_handler.close_connection = True


class OneRequestPerConnection(QuietWSGIRequestHandler):
    """Django's live server request handler, answering `Connection: close` and then closing."""

    def handle_one_request(self):
        # django.core.servers.basehttp.WSGIRequestHandler.handle_one_request, with the
        # ServerHandler above.
        self.raw_requestline = self.rfile.readline(65537)
        if len(self.raw_requestline) > 65536:
            self.requestline = ""
            self.request_version = ""
            self.command = ""
            self.send_error(414)
            return
        if not self.parse_request():
            return
        handler = _ClosingServerHandler(self.rfile, self.wfile, self.get_stderr(), self.get_environ())
        handler.request_handler = self
        handler.run(self.server.get_app())


@contextmanager
def one_request_per_connection(live_server) -> Iterator[None]:
    """LIVE_SERVER (pytest-django's, session-wide) closes every new connection after one answer
    inside the block; connections accepted before keep their handler."""
    httpd = live_server.thread.httpd
    previous = httpd.RequestHandlerClass
    httpd.RequestHandlerClass = OneRequestPerConnection
    try:
        yield
    finally:
        httpd.RequestHandlerClass = previous
