"""SAML service provider on python3-saml: strict, SHA-1 refused, replay cache, unsolicited refused.

The IdP POSTs to the ACS cross-site, so the browser leaves out the SameSite=Lax session cookie:
the ACS keeps the response for a minute under a random key and continues on a same-site GET,
where the session (with the pending request id) is back.

AuthnRequests go by HTTP-Redirect when the IdP's metadata offers it, else by HTTP-POST (an
auto-submitted form); with "Sign client requests" they are signed (a query-string signature for
Redirect, an enveloped XML signature for POST). When the portal has a key pair, its certificate is
published for signing and encryption, and assertions the IdP encrypts to it are decrypted.
"""

import base64
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.authn_request import OneLogin_Saml2_Authn_Request
from onelogin.saml2.constants import OneLogin_Saml2_Constants
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser
from onelogin.saml2.metadata import OneLogin_Saml2_Metadata
from onelogin.saml2.utils import OneLogin_Saml2_Utils

from .models import IdentityConnection, SAMLAssertion

SESSION_KEY = "identity_saml"
FLOW_TTL = 600
CONTINUE_TTL = 120
MAX_RESPONSE = 256 * 1024


class SAMLError(Exception):
    """The sign-in failed; the message is safe to show."""


def metadata_url(connection: IdentityConnection) -> str:
    return connection.base_url + reverse("identity:saml-metadata", args=[connection.pk])


def sp_entity_id(connection: IdentityConnection) -> str:
    """The portal's entity id at the IdP: the one the administrator set, else the metadata URL."""
    return connection.idp_entity_id or metadata_url(connection)


def acs_url(connection: IdentityConnection) -> str:
    """Built on the connection's WebApp URL (default PORTAL_BASE_URL), never on the Host header."""
    return connection.base_url + reverse("identity:saml-acs", args=[connection.pk])


def parse_metadata(xml: str) -> dict:
    """The IdP part of the settings from its metadata; a DTD (XXE, billion laughs) is refused, and
    so is a single sign-on URL the browser should not be sent to (see `check_sso_url`)."""
    if "<!DOCTYPE" in xml.upper() or "<!ENTITY" in xml.upper():
        raise SAMLError("The metadata contains a DTD, which is not allowed.")
    parsed = {}
    for binding in (
        OneLogin_Saml2_Constants.BINDING_HTTP_REDIRECT,
        OneLogin_Saml2_Constants.BINDING_HTTP_POST,
    ):
        try:
            parsed = OneLogin_Saml2_IdPMetadataParser.parse(xml, required_sso_binding=binding)
        except Exception as exc:  # lxml and parser errors
            raise SAMLError(f"The IdP metadata cannot be read ({exc.__class__.__name__}).") from exc
        if parsed.get("idp", {}).get("singleSignOnService", {}).get("url"):
            break
    idp = parsed.get("idp", {})
    url = idp.get("singleSignOnService", {}).get("url")
    if not url:
        raise SAMLError("The metadata names no single sign-on service (HTTP-Redirect or HTTP-POST).")
    if not (idp.get("x509cert") or idp.get("x509certMulti", {}).get("signing")):
        raise SAMLError("The metadata has no signing certificate: assertions could not be checked.")
    check_sso_url(url)
    return parsed


def check_sso_url(url: str) -> None:
    """The IdP's sign-in address, where users' browsers are sent: https only (a `javascript:`
    or `data:` location would run in the portal's page; plain http exposes the request).
    PORTAL_IDP_ALLOW_PRIVATE_URLS (labs, tests) also allows http."""
    parts = urlsplit(url.strip())
    allowed = ("https", "http") if settings.PORTAL_IDP_ALLOW_PRIVATE_URLS else ("https",)
    if parts.scheme.lower() not in allowed or not parts.hostname:
        shown = url if len(url) <= 80 else url[:77] + "..."
        raise SAMLError(f"The single sign-on URL of the metadata must be an https URL (it is {shown}).")


def _has_keys(connection: IdentityConnection) -> bool:
    return bool(connection.sp_public_key and connection.sp_private_key)


def _settings(connection: IdentityConnection) -> dict:
    idp = parse_metadata(connection.idp_metadata)
    sp = {
        "entityId": sp_entity_id(connection),
        "assertionConsumerService": {
            "url": acs_url(connection),
            "binding": OneLogin_Saml2_Constants.BINDING_HTTP_POST,
        },
        "NameIDFormat": idp.get("sp", {}).get("NameIDFormat", OneLogin_Saml2_Constants.NAMEID_UNSPECIFIED),
    }
    if _has_keys(connection):
        # Signs requests when asked to, and decrypts assertions encrypted to the certificate.
        sp["x509cert"] = connection.sp_public_key
        sp["privateKey"] = connection.sp_private_key
    return {
        "strict": True,
        "debug": False,
        "sp": sp,
        "idp": idp["idp"],
        "security": {
            "authnRequestsSigned": connection.sign_requests,
            "wantAssertionsSigned": connection.want_signed_assertions,
            "wantMessagesSigned": False,
            "wantNameId": True,
            "rejectDeprecatedAlgorithm": True,
            "signatureAlgorithm": OneLogin_Saml2_Constants.RSA_SHA256,
            "digestAlgorithm": OneLogin_Saml2_Constants.SHA256,
            "rejectUnsolicitedResponsesWithInResponseTo": True,
        },
    }


def _request_data(connection: IdentityConnection, post: dict | None = None) -> dict:
    base = urlsplit(connection.base_url)
    return {
        "https": "on" if base.scheme == "https" else "off",
        "http_host": base.netloc,  # with its port, if any
        "script_name": reverse("identity:saml-acs", args=[connection.pk]),
        "get_data": {},
        "post_data": post or {},
    }


def _auth(connection: IdentityConnection, post: dict | None = None) -> OneLogin_Saml2_Auth:
    try:
        return OneLogin_Saml2_Auth(_request_data(connection, post), old_settings=_settings(connection))
    except SAMLError:
        raise
    except Exception as exc:  # the settings are invalid (bad keys, missing IdP endpoints)
        raise SAMLError(f"The SAML connection is not configured correctly ({exc}).") from exc


def metadata(connection: IdentityConnection) -> str:
    """The portal's SP metadata; with a key pair, its certificate for signing and encryption."""
    sp_settings = _auth(connection).get_settings()
    security = sp_settings.get_security_data()
    xml = OneLogin_Saml2_Metadata.builder(
        sp_settings.get_sp_data(), security["authnRequestsSigned"], security["wantAssertionsSigned"]
    )
    if _has_keys(connection):
        xml = OneLogin_Saml2_Metadata.add_x509_key_descriptors(
            xml, sp_settings.get_sp_cert(), add_encryption=True
        )
    return xml.decode() if isinstance(xml, bytes) else xml


@dataclass
class Start:
    """Where to send the browser: a redirect to URL, or (HTTP-POST binding) a form posting FIELDS to it."""

    url: str
    fields: dict = field(default_factory=dict)

    @property
    def is_post(self) -> bool:
        return bool(self.fields)


def _post_request(auth: OneLogin_Saml2_Auth, connection: IdentityConnection) -> tuple[Start, str]:
    sp_settings = auth.get_settings()
    request = OneLogin_Saml2_Authn_Request(sp_settings)
    xml = request.get_xml()
    if connection.sign_requests:
        xml = OneLogin_Saml2_Utils.add_sign(
            xml,
            sp_settings.get_sp_key(),
            sp_settings.get_sp_cert(),
            sign_algorithm=OneLogin_Saml2_Constants.RSA_SHA256,
            digest_algorithm=OneLogin_Saml2_Constants.SHA256,
        )
    xml = xml if isinstance(xml, bytes) else xml.encode()
    url = sp_settings.get_idp_data()["singleSignOnService"]["url"]
    return Start(url, {"SAMLRequest": base64.b64encode(xml).decode()}), request.get_id()


def start(session, connection: IdentityConnection, *, next_url: str = "", test_by=None) -> Start:
    """Remember the AuthnRequest's id in SESSION and return where to send the browser."""
    auth = _auth(connection)
    idp = auth.get_settings().get_idp_data()
    try:
        if idp["singleSignOnService"].get("binding") == OneLogin_Saml2_Constants.BINDING_HTTP_POST:
            begin, request_id = _post_request(auth, connection)
        else:
            begin, request_id = Start(auth.login()), auth.get_last_request_id()
    except Exception as exc:  # xmlsec: a key that cannot sign
        raise SAMLError(f"The sign-in request cannot be made ({exc.__class__.__name__}).") from exc
    flows = {k: v for k, v in session.get(SESSION_KEY, {}).items() if v["started"] > time.time() - FLOW_TTL}
    flows[str(connection.pk)] = {
        "request_id": request_id,
        "next": next_url,
        "test_by": str(test_by.pk) if test_by is not None else "",
        "started": time.time(),
    }
    session[SESSION_KEY] = flows
    return begin


def stash(saml_response: str) -> str:
    """Keep a POSTed response for the same-site continuation; returns its key."""
    if not saml_response:
        raise SAMLError("No SAML response was sent.")
    if len(saml_response) > MAX_RESPONSE:
        raise SAMLError("The SAML response is too large.")
    key = secrets.token_urlsafe(24)
    cache.set(f"identity-saml:{key}", saml_response, CONTINUE_TTL)
    return key


def unstash(key: str) -> str:
    cache_key = f"identity-saml:{key}"
    value = cache.get(cache_key) if key else None
    cache.delete(cache_key)
    if not value:
        raise SAMLError("This sign-in has expired. Start again.")
    return value


def pending(session, connection: IdentityConnection) -> dict:
    """The sign-in this session started with CONNECTION, if any (not consumed)."""
    return session.get(SESSION_KEY, {}).get(str(connection.pk)) or {}


def finish(session, connection: IdentityConnection, saml_response: str) -> tuple[dict, dict]:
    """Validate the response; return (claims, the flow it answers or {}). Raises SAMLError."""
    flows = dict(session.get(SESSION_KEY, {}))
    flow = flows.pop(str(connection.pk), None)
    session[SESSION_KEY] = flows
    if flow is not None and flow["started"] < time.time() - FLOW_TTL:
        flow = None
    if flow is None and not connection.allow_unsolicited:
        raise SAMLError("This sign-in was not started here (unsolicited responses are refused).")
    auth = _auth(connection, {"SAMLResponse": saml_response})
    try:
        auth.process_response(request_id=flow["request_id"] if flow else None)
    except Exception as exc:
        text = str(exc)
        if "DTD" in text or "doctype" in text.lower() or "entit" in text.lower():
            raise SAMLError("The SAML response contains a DTD, which is not allowed.") from exc
        raise SAMLError("The SAML response cannot be read.") from exc
    if auth.get_errors() or not auth.is_authenticated():
        reason = auth.get_last_error_reason() or ", ".join(auth.get_errors()) or "not authenticated"
        raise SAMLError(f"The SAML response was refused: {reason}")
    _remember_assertion(connection, auth)
    claims = {name: values for name, values in auth.get_attributes().items()}
    claims["NameID"] = auth.get_nameid()
    # The assertion is signed by the IdP the administrator configured: its email is vouched for.
    claims.setdefault("email_verified", True)
    return claims, flow or {}


def _remember_assertion(connection: IdentityConnection, auth: OneLogin_Saml2_Auth) -> None:
    assertion_id = auth.get_last_assertion_id()
    not_after = auth.get_last_assertion_not_on_or_after()
    expires = datetime.fromtimestamp(not_after, tz=UTC) if not_after else timezone.now() + timedelta(hours=1)
    if not assertion_id:
        raise SAMLError("The SAML assertion has no id.")
    SAMLAssertion.objects.filter(expires_at__lt=timezone.now() - timedelta(minutes=5)).delete()
    try:
        with transaction.atomic():
            SAMLAssertion.objects.create(connection=connection, assertion_id=assertion_id, expires_at=expires)
    except IntegrityError as exc:
        raise SAMLError("This SAML response was used already (replay).") from exc
