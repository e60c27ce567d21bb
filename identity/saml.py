"""SAML service provider on python3-saml: strict, SHA-1 refused, replay cache, unsolicited refused.

The IdP POSTs to the ACS cross-site, so the browser leaves out the SameSite=Lax session cookie:
the ACS keeps the response for a minute under a random key and continues on a same-site GET,
where the session (with the pending request id) is back.
"""

import secrets
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.constants import OneLogin_Saml2_Constants
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser

from .models import IdentityConnection, SAMLAssertion

SESSION_KEY = "identity_saml"
FLOW_TTL = 600
CONTINUE_TTL = 120
MAX_RESPONSE = 256 * 1024


class SAMLError(Exception):
    """The sign-in failed; the message is safe to show."""


def sp_entity_id(connection: IdentityConnection) -> str:
    """The portal's entity id at the IdP: the one the administrator set, else the metadata URL."""
    default = settings.PORTAL_BASE_URL + reverse("identity:saml-metadata", args=[connection.pk])
    return connection.idp_entity_id or default


def acs_url(connection: IdentityConnection) -> str:
    return settings.PORTAL_BASE_URL + reverse("identity:saml-acs", args=[connection.pk])


def parse_metadata(xml: str) -> dict:
    """The IdP part of the settings from its metadata; a DTD (XXE, billion laughs) is refused, and
    so is a single sign-on URL the browser should not be sent to (see `check_sso_url`)."""
    if "<!DOCTYPE" in xml.upper() or "<!ENTITY" in xml.upper():
        raise SAMLError("The metadata contains a DTD, which is not allowed.")
    try:
        parsed = OneLogin_Saml2_IdPMetadataParser.parse(xml)
    except Exception as exc:  # lxml and parser errors
        raise SAMLError(f"The IdP metadata cannot be read ({exc.__class__.__name__}).") from exc
    url = parsed.get("idp", {}).get("singleSignOnService", {}).get("url")
    if not url:
        raise SAMLError("The metadata names no single sign-on service.")
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
    if connection.sign_requests:
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
    base = urlsplit(settings.PORTAL_BASE_URL)
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
    xml = _auth(connection).get_settings().get_sp_metadata()
    return xml.decode() if isinstance(xml, bytes) else xml


def start(session, connection: IdentityConnection, *, next_url: str = "", test_by=None) -> str:
    """Remember the AuthnRequest's id in SESSION and return the IdP's URL."""
    auth = _auth(connection)
    url = auth.login()
    flows = {k: v for k, v in session.get(SESSION_KEY, {}).items() if v["started"] > time.time() - FLOW_TTL}
    flows[str(connection.pk)] = {
        "request_id": auth.get_last_request_id(),
        "next": next_url,
        "test_by": str(test_by.pk) if test_by is not None else "",
        "started": time.time(),
    }
    session[SESSION_KEY] = flows
    return url


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
