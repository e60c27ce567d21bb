"""The SSRF guard (identity/net.py): public addresses only, one lookup, and the connection goes to
the address that was checked, with TLS verified against the host name."""

import datetime
import ipaddress
import json
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from identity import net

# Each is refused; Python 3.11's is_global alone lets the last four through (or embeds loopback).
NOT_PUBLIC = [
    "127.0.0.1",
    "10.1.2.3",
    "169.254.169.254",
    "::1",
    "fe80::1",
    "100.64.0.1",  # shared address space (carrier-grade NAT)
    "100.100.100.200",  # a cloud metadata service inside 100.64.0.0/10
    "192.0.0.8",  # IETF protocol assignments
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "::ffff:10.0.0.1",  # IPv4-mapped private address
    "224.0.1.1",  # multicast
    "ff0e::1",
]


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_only_public_addresses(address, settings):
    settings.PORTAL_IDP_ALLOW_PRIVATE_URLS = False
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(net.UnsafeURL):
        net.check_url(f"https://{host}/o")
    assert not net.is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700::1111", "2002:0808:0808::1"])
def test_public_addresses_pass(address, settings):
    settings.PORTAL_IDP_ALLOW_PRIVATE_URLS = False
    assert net.is_public(ipaddress.ip_address(address))


def fake_dns(monkeypatch, *answers: str) -> list[str]:
    """socket.getaddrinfo answering ANSWERS in turn for any name (the last one again after that);
    returns the list of names looked up."""
    lookups = []
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        try:
            ipaddress.ip_address(host)
            return real_getaddrinfo(host, port, *args, **kwargs)  # connecting to an address
        except ValueError:
            pass
        lookups.append(host)
        address = answers[min(len(lookups), len(answers)) - 1]
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups


@pytest.mark.parametrize("address", ["100.64.0.1", "100.100.100.200", "192.0.0.8", "2002:7f00:1::1"])
def test_a_name_resolving_to_a_private_address_is_never_requested(address, settings, monkeypatch):
    settings.PORTAL_IDP_ALLOW_PRIVATE_URLS = False
    fake_dns(monkeypatch, address)
    import urllib3.util.connection

    connected = []
    monkeypatch.setattr(urllib3.util.connection, "create_connection", lambda *a, **k: connected.append(a))
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: connected.append(a))
    with pytest.raises(net.UnsafeURL, match="private or local"):
        net.fetch_json("https://idp.example.com/.well-known/openid-configuration")
    assert connected == []


class Answer(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"server": self.server.label, "host": self.headers["Host"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def serve(address: str, port: int, label: str, context: ssl.SSLContext | None = None) -> HTTPServer:
    server = HTTPServer((address, port), Answer)
    server.label = label
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def free_port_on_both() -> int:
    for _ in range(20):
        with socket.socket() as a, socket.socket() as b:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            try:
                b.bind(("127.0.0.2", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no port free on 127.0.0.1 and 127.0.0.2")


PUBLIC = "93.184.216.34"  # what the DNS answers first: a public address, checked and allowed


def _ca_and_leaf(tmp_path, name: str):
    now = datetime.datetime.now(datetime.UTC)

    def cert(subject, issuer, key, signer, *, ca: bool, dns: str | None = None):
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if dns:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(dns)]), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_cert = cert("Test CA", "Test CA", ca_key, ca_key, ca=True)
    leaf_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf = cert(name, "Test CA", leaf_key, ca_key, ca=False, dns=name)
    (tmp_path / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "leaf.pem").write_bytes(
        leaf.public_bytes(serialization.Encoding.PEM)
        + leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "leaf.pem")
    return str(tmp_path / "ca.pem"), context


@pytest.fixture
def network(settings, monkeypatch, tmp_path):
    """A small internet on one port: the public address PUBLIC is served on 127.0.0.2
    ("checked"), and 127.0.0.1 holds an internal service ("internal"). Both speak TLS with a
    certificate for CERT_NAME (default idp.example.com) from a test CA the clients trust."""
    import urllib3.util.connection

    settings.PORTAL_IDP_ALLOW_PRIVATE_URLS = False
    port = free_port_on_both()
    real_connect = urllib3.util.connection.create_connection

    def connect(address, *args, **kwargs):
        host, target_port = address
        return real_connect(("127.0.0.2" if host == PUBLIC else host, target_port), *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", connect)
    servers = []

    def start(cert_name="idp.example.com"):
        ca, context = _ca_and_leaf(tmp_path, cert_name)
        monkeypatch.setattr(net, "CA_BUNDLE", ca, raising=False)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca)
        servers.extend(
            [serve("127.0.0.2", port, "checked", context), serve("127.0.0.1", port, "internal", context)]
        )
        return port

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_dns_rebinding_cannot_swap_the_address(network, monkeypatch):
    """The host is resolved once; the request goes to the address that was checked, not to the
    internal one a second lookup would give."""
    port = network()
    lookups = fake_dns(monkeypatch, PUBLIC, "127.0.0.1")
    answer = net.fetch_json(f"https://idp.example.com:{port}/keys")
    assert answer == {"server": "checked", "host": f"idp.example.com:{port}"}
    assert lookups == ["idp.example.com"]


@pytest.mark.parametrize(("certificate_for", "accepted"), [("idp.example.com", True), ("other.test", False)])
def test_tls_is_verified_against_the_host_name(network, monkeypatch, certificate_for, accepted):
    """Connecting by address still checks the certificate (and sends SNI) for the host name."""
    port = network(certificate_for)
    fake_dns(monkeypatch, PUBLIC)
    if accepted:
        assert net.fetch_json(f"https://idp.example.com:{port}/keys")["server"] == "checked"
    else:
        with pytest.raises(ValueError, match="Cannot reach"):
            net.fetch_json(f"https://idp.example.com:{port}/keys")


def test_private_urls_allowed_for_labs(settings, monkeypatch):
    settings.PORTAL_IDP_ALLOW_PRIVATE_URLS = True
    assert net.check_url("http://127.0.0.1:9/o") == "http://127.0.0.1:9/o"
    with pytest.raises(net.UnsafeURL):
        net.check_url("file:///etc/passwd")
    with pytest.raises(net.UnsafeURL):
        net.check_url("http://user:pw@127.0.0.1/o")
