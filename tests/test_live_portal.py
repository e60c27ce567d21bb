"""The live portal the real ClearML clients use (tests/live_portal.py): one request per connection,
so a process forked by a client (the SDK's reporting subprocess) never inherits an open connection.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import pytest
import urllib3
from urllib3.connection import HTTPConnection

pytestmark = pytest.mark.django_db(transaction=True)

PATH = "/api/v2.23/live.portal"


class _Connection(HTTPConnection):
    local_port = None

    def connect(self):
        super().connect()
        self.local_port = self.sock.getsockname()[1]


def _call(pool: urllib3.HTTPConnectionPool) -> tuple[int, str | None, int]:
    """One call as `requests` (the SDK's transport) makes it: status, Connection, the local port
    of the TCP connection it went on."""
    response = pool.urlopen("GET", PATH, body=b"{}", preload_content=False, retries=False, timeout=10)
    local_port = response.connection.local_port
    response.read()
    response.release_conn()
    return response.status, response.headers.get("Connection"), local_port


def test_every_answer_says_connection_close_and_ends_the_connection(live_portal):
    url = urlsplit(live_portal.url)
    request = f"GET {PATH} HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Length: 0\r\n\r\n".encode()
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(request * 2)  # two requests on one keep-alive connection
        received = b""
        while chunk := sock.recv(65536):  # the server closes: recv returns b""
            received += chunk
    assert received.count(b"HTTP/1.1 ") == 1, received
    head = received.split(b"\r\n\r\n", 1)[0].lower()
    assert b"\r\nconnection: close" in head


def test_a_forked_client_process_opens_its_own_connection(live_portal):
    """The SDK's reporter is os.fork()ed after the parent's first calls: with a kept-alive
    connection in the pool, both processes would send on that one socket."""
    url = urlsplit(live_portal.url)
    pool = urllib3.HTTPConnectionPool(url.hostname, url.port, maxsize=1, block=True)
    pool.ConnectionCls = _Connection
    status, connection, parent_port = _call(pool)
    assert status == 404
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: one call, its local port to the parent, and out
        code = 1
        try:
            os.close(read_end)
            os.write(write_end, str(_call(pool)[2]).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        child_port = pipe.read().decode()
    _, exit_status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(exit_status) == 0
    assert child_port and int(child_port) != parent_port  # kept alive: the same connection
    assert connection == "close"
