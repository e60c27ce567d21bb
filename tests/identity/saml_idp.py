"""A real SAML IdP for the tests: pysaml2's Server behind a tiny WSGI app in a thread.

It signs with SHA-256 (pysaml2 defaults to SHA-1) and "logs in" whoever `idp.user` names.
"""

import base64
import datetime
import re
import threading
import uuid
from pathlib import Path
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, make_server

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.metadata import entity_descriptor
from saml2.saml import NAMEID_FORMAT_PERSISTENT, NameID
from saml2.server import Server
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

from .provider import free_port

PORTAL = "http://portal.test"  # python3-saml wants a dotted host name
CONN_S = uuid.UUID("00000000-0000-4000-8000-0000000000c3")
AUTHN = {"class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"}


def self_signed(common_name: str) -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


def sp_metadata(conn_id, portal: str = PORTAL) -> str:
    return f"""<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{portal}/sso/{conn_id}/saml/metadata/">
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" WantAssertionsSigned="true">
    <md:AssertionConsumerService Binding="{BINDING_HTTP_POST}" Location="{portal}/sso/{conn_id}/saml/acs/" index="1"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>"""


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


class IdP:
    def __init__(
        self,
        tmp: Path,
        *,
        signing_algorithm=SIG_RSA_SHA256,
        digest_algorithm=DIGEST_SHA256,
        portal: str = PORTAL,
    ):
        self.portal = portal
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        key_pem, cert_pem = self_signed("test-idp")
        (tmp / "idp.key").write_bytes(key_pem)
        (tmp / "idp.crt").write_bytes(cert_pem)
        self.key_pem, self.cert_pem = key_pem, cert_pem
        config = IdPConfig()
        config.load(
            {
                "entityid": f"{self.base}/metadata",
                "xmlsec_binary": "/usr/bin/xmlsec1",
                "key_file": str(tmp / "idp.key"),
                "cert_file": str(tmp / "idp.crt"),
                "metadata": {"inline": [sp_metadata(CONN_S, portal)]},
                "service": {
                    "idp": {
                        "endpoints": {
                            "single_sign_on_service": [(f"{self.base}/sso", BINDING_HTTP_REDIRECT)]
                        },
                        "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                        "policy": {"default": {"lifetime": {"minutes": 15}, "attribute_restrictions": None}},
                        "signing_algorithm": signing_algorithm,
                        "digest_algorithm": digest_algorithm,
                    }
                },
            }
        )
        self.server = Server(config=config)
        self.user = {"uid": "u-1", "attrs": {"mail": ["sam@corp.example"], "cn": ["Sam Ell"]}}
        self.last_request_id = None
        self.httpd = make_server("127.0.0.1", self.port, self.app, handler_class=Quiet)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def metadata(self) -> str:
        return str(entity_descriptor(self.server.config))

    def start(self) -> "IdP":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()

    def response(self, *, in_response_to, sign_assertion=True, sign_response=False, user=None) -> str:
        """A signed SAMLResponse (base64) for the portal's ACS."""
        user = user or self.user
        response = self.server.create_authn_response(
            identity=user["attrs"],
            in_response_to=in_response_to,
            destination=f"{self.portal}/sso/{CONN_S}/saml/acs/",
            sp_entity_id=f"{self.portal}/sso/{CONN_S}/saml/metadata/",
            name_id=NameID(format=NAMEID_FORMAT_PERSISTENT, text=user["uid"]),
            authn=AUTHN,
            sign_assertion=sign_assertion,
            sign_response=sign_response,
        )
        return base64.b64encode(str(response).encode()).decode()

    def app(self, environ, start_response):
        query = parse_qs(environ.get("QUERY_STRING", ""))
        request = self.server.parse_authn_request(query["SAMLRequest"][0], BINDING_HTTP_REDIRECT)
        self.last_request_id = request.message.id
        # A real IdP's page: the browser posts the response to the ACS by itself (cross-site).
        body = '<!doctype html><body onload="document.forms[0].submit()">'
        body += f'<form method="post" action="{self.portal}/sso/{CONN_S}/saml/acs/">'
        body += f'<input type="hidden" name="SAMLResponse" value="{self.response(in_response_to=request.message.id)}">'
        body += "</form></body>"
        start_response("200 OK", [("Content-Type", "text/html")])
        return [body.encode()]


def saml_response_from(html: str) -> str:
    return re.search(r'name="SAMLResponse" value="([^"]+)"', html).group(1)
