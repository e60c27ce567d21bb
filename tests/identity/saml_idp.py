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
    """BINDINGS: the single sign-on bindings its metadata offers (the portal picks Redirect when
    offered). REQUIRE_SIGNED_REQUESTS: AuthnRequests must be signed by a certificate of the SP's
    metadata (pysaml2's want_authn_requests_signed); others are refused with a 403 page and noted
    in `refused`. ENCRYPT: assertions are encrypted to the SP's encryption certificate."""

    def __init__(
        self,
        tmp: Path,
        *,
        signing_algorithm=SIG_RSA_SHA256,
        digest_algorithm=DIGEST_SHA256,
        portal: str = PORTAL,
        bindings=(BINDING_HTTP_REDIRECT,),
        require_signed_requests: bool = False,
        sp: str | None = None,
        encrypt: bool = False,
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
                "metadata": {"inline": [sp or sp_metadata(CONN_S, portal)]},
                "service": {
                    "idp": {
                        "endpoints": {"single_sign_on_service": [(f"{self.base}/sso", b) for b in bindings]},
                        "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                        "policy": {"default": {"lifetime": {"minutes": 15}, "attribute_restrictions": None}},
                        "signing_algorithm": signing_algorithm,
                        "digest_algorithm": digest_algorithm,
                        "want_authn_requests_signed": require_signed_requests,
                    }
                },
            }
        )
        self.server = Server(config=config)
        self.encrypt = encrypt
        self.user = {"uid": "u-1", "attrs": {"mail": ["sam@corp.example"], "cn": ["Sam Ell"]}}
        self.last_request_id = None
        self.requests = []  # (binding, signed) of the AuthnRequests accepted
        self.refused = []
        self.httpd = make_server("127.0.0.1", self.port, self.app, handler_class=Quiet)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def metadata(self) -> str:
        return str(entity_descriptor(self.server.config))

    def trust_sp(self, metadata_xml: str) -> None:
        """What an administrator does in the IdP's console: register the portal (its metadata)."""
        self.server.metadata.load("inline", metadata_xml)

    def start(self) -> "IdP":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()

    def response(
        self,
        *,
        in_response_to,
        sign_assertion=True,
        sign_response=False,
        user=None,
        destination=None,
        sp_entity_id=None,
        encrypt=None,
    ) -> str:
        """A signed SAMLResponse (base64) for the portal's ACS."""
        user = user or self.user
        encrypt = self.encrypt if encrypt is None else encrypt
        response = self.server.create_authn_response(
            identity=user["attrs"],
            in_response_to=in_response_to,
            destination=destination or f"{self.portal}/sso/{CONN_S}/saml/acs/",
            sp_entity_id=sp_entity_id or f"{self.portal}/sso/{CONN_S}/saml/metadata/",
            name_id=NameID(format=NAMEID_FORMAT_PERSISTENT, text=user["uid"]),
            authn=AUTHN,
            sign_assertion=sign_assertion,
            sign_response=sign_response,
            encrypt_assertion=encrypt,
            # pysaml2's "self-contained" mode renames the assertion's prefixes (encas0, ...); when
            # python3-saml puts the decrypted assertion back, lxml re-prefixes it to the response's
            # own prefix and the exclusive-c14n signature no longer matches. IdPs such as AD FS,
            # Entra ID or Okta use a default namespace or the response's prefix.
            encrypt_assertion_self_contained=False,
        )
        return base64.b64encode(str(response).encode()).decode()

    def app(self, environ, start_response):
        if environ.get("PATH_INFO") != "/sso":  # a browser also asks for /favicon.ico
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
        if environ["REQUEST_METHOD"] == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            fields = parse_qs(environ["wsgi.input"].read(length).decode())
            binding = BINDING_HTTP_POST
        else:
            fields = parse_qs(environ.get("QUERY_STRING", ""))
            binding = BINDING_HTTP_REDIRECT

        def one(name):
            return fields[name][0] if name in fields else None

        try:
            request = self.server.parse_authn_request(
                one("SAMLRequest"),
                binding,
                relay_state=one("RelayState"),
                sigalg=one("SigAlg"),
                signature=one("Signature"),
            )
            if request is None:
                raise ValueError("the request did not verify")
        except Exception as exc:
            self.refused.append(f"{exc.__class__.__name__}: {exc}")
            start_response("403 Forbidden", [("Content-Type", "text/html")])
            return [
                b"<!doctype html><h1>Request refused</h1><p>The sign-in request was not signed correctly.</p>"
            ]
        self.last_request_id = request.message.id
        signed = bool(one("Signature")) or request.message.signature is not None
        self.requests.append((binding, signed))
        args = self.server.response_args(request.message)
        saml_response = self.response(
            in_response_to=request.message.id,
            destination=args["destination"],
            sp_entity_id=args["sp_entity_id"],
        )
        # A real IdP's page: the browser posts the response to the ACS by itself (cross-site).
        body = '<!doctype html><body onload="document.forms[0].submit()">'
        body += f'<form method="post" action="{args["destination"]}">'
        body += f'<input type="hidden" name="SAMLResponse" value="{saml_response}">'
        body += "</form></body>"
        start_response("200 OK", [("Content-Type", "text/html")])
        return [body.encode()]


def saml_response_from(html: str) -> str:
    return re.search(r'name="SAMLResponse" value="([^"]+)"', html).group(1)
