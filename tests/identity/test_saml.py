"""SAML sign-in against a real pysaml2 IdP (in a thread)."""

import base64
import copy
import uuid

import lxml.html
import pytest
import requests
from django.test import Client
from django.urls import reverse
from lxml import etree
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.xmldsig import DIGEST_SHA1, SIG_RSA_SHA1

from access.models import UserGroup
from accounts.models import User
from identity.forms import new_connection_token
from identity.models import ExternalIdentity, IdentityConnection

from .conftest import idp_metadata, saml_connection
from .saml_idp import PORTAL, IdP, saml_response_from, self_signed, sp_metadata

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def idp(saml_idp, oidc_settings):
    oidc_settings.PORTAL_BASE_URL = PORTAL
    saml_idp.user = {"uid": "u-1", "attrs": {"mail": ["sam@corp.example"], "cn": ["Sam Ell"]}}
    return saml_idp


def begin(client, conn):
    response = client.get(reverse("identity:saml-start", args=[conn.pk]))
    assert response.status_code == 302
    return response["Location"]


def post_to_acs(client, conn, saml_response):
    """The IdP's cross-site POST, then the same-site GET continuation."""
    posted = client.post(reverse("identity:saml-acs", args=[conn.pk]), {"SAMLResponse": saml_response})
    assert posted.status_code == 302, posted.content[:300]
    return client.get(posted["Location"])


def signed_in(client):
    return client.get(reverse("accounts:profile")).wsgi_request.user


def full_sign_in(client, conn):
    page = requests.get(begin(client, conn), timeout=10)
    return post_to_acs(client, conn, saml_response_from(page.text))


def test_sign_in_creates_user(client, workspace, idp):
    conn = saml_connection(workspace, idp, create_users=True)
    response = full_sign_in(client, conn)
    assert response.status_code == 302, response.content.decode()[:1000]
    user = User.objects.get(email="sam@corp.example")
    assert ExternalIdentity.objects.get(connection=conn).subject == "u-1"
    assert client.get(reverse("accounts:profile")).wsgi_request.user == user


def test_metadata_endpoint(client, workspace, idp):
    conn = saml_connection(workspace, idp)
    response = client.get(reverse("identity:saml-metadata", args=[conn.pk]))
    assert response.status_code == 200
    xml = response.content.decode()
    assert f"/sso/{conn.pk}/saml/acs/" in xml and f'entityID="{PORTAL}/sso/{conn.pk}/saml/metadata/"' in xml
    conn.idp_entity_id = "urn:portal:custom"
    conn.save()
    assert (
        'entityID="urn:portal:custom"'
        in client.get(reverse("identity:saml-metadata", args=[conn.pk])).content.decode()
    )


def test_samesite_post_without_cookies_continues_on_the_get(client, workspace, idp):
    """The IdP's cross-site POST carries no session cookie: the GET continuation (top-level,
    so SameSite=Lax cookies are sent) finishes with the session."""
    conn = saml_connection(workspace, idp, create_users=True)
    page = requests.get(begin(client, conn), timeout=10)
    cookieless = Client()
    posted = cookieless.post(
        reverse("identity:saml-acs", args=[conn.pk]),
        {"SAMLResponse": saml_response_from(page.text), "RelayState": "https://evil.example/"},
    )
    assert posted.status_code == 302 and "sessionid" not in posted.cookies
    response = client.get(posted["Location"])
    assert response.status_code == 302 and response["Location"] == reverse("accounts:profile")
    assert client.get(reverse("accounts:profile")).wsgi_request.user.email == "sam@corp.example"


def test_unsolicited_response_refused_by_default(client, workspace, idp):
    conn = saml_connection(workspace, idp, create_users=True)
    response = post_to_acs(client, conn, idp.response(in_response_to=None))
    assert response.status_code == 400 and "unsolicited" in response.content.decode()
    assert not User.objects.filter(email="sam@corp.example").exists()


def test_unsolicited_allowed_when_enabled_but_never_twice(client, workspace, idp):
    conn = saml_connection(workspace, idp, create_users=True, allow_unsolicited=True)
    saml_response = idp.response(in_response_to=None)
    assert post_to_acs(client, conn, saml_response).status_code == 302
    client.logout()
    response = post_to_acs(client, conn, saml_response)
    assert response.status_code == 400 and "used already" in response.content.decode()


def test_replay_in_a_new_flow_is_refused(client, workspace, idp):
    conn = saml_connection(workspace, idp, create_users=True)
    page = requests.get(begin(client, conn), timeout=10)
    saml_response = saml_response_from(page.text)
    assert post_to_acs(client, conn, saml_response).status_code == 302
    client.logout()
    begin(client, conn)  # a new request id: the old response answers another one
    assert post_to_acs(client, conn, saml_response).status_code == 400


def test_wrong_in_response_to(client, workspace, idp):
    conn = saml_connection(workspace, idp, create_users=True)
    begin(client, conn)
    response = post_to_acs(client, conn, idp.response(in_response_to="_not-our-request"))
    assert response.status_code == 400 and "refused" in response.content.decode()


def test_unsigned_assertion_refused(client, workspace, idp):
    conn = saml_connection(workspace, idp, create_users=True)
    requests.get(begin(client, conn), timeout=10)  # the IdP sees our request id
    unsigned = idp.response(in_response_to=idp.last_request_id, sign_assertion=False)
    response = post_to_acs(client, conn, unsigned)
    assert response.status_code == 400
    assert "signed" in response.content.decode().lower()
    assert not User.objects.filter(email="sam@corp.example").exists()


def _xml(saml_response: str) -> str:
    return base64.b64decode(saml_response).decode()


def _b64(xml: str) -> str:
    return base64.b64encode(xml.encode()).decode()


def test_nameid_changed_after_signing_is_refused(client, workspace, idp):
    conn = saml_connection(workspace, idp, create_users=True)
    location = begin(client, conn)
    good = saml_response_from(requests.get(location, timeout=10).text)
    tampered = _b64(_xml(good).replace(">u-1<", ">admin<"))
    assert ">admin<" in _xml(tampered)
    response = post_to_acs(client, conn, tampered)
    assert response.status_code == 400
    assert not ExternalIdentity.objects.exists()


def test_attribute_changed_after_signing_is_refused(client, workspace, idp, member):
    conn = saml_connection(workspace, idp, create_users=True, link_by_verified_email=True)
    location = begin(client, conn)
    good = saml_response_from(requests.get(location, timeout=10).text)
    response = post_to_acs(client, conn, _b64(_xml(good).replace("sam@corp.example", member.email)))
    assert response.status_code == 400
    assert not client.get(reverse("accounts:profile")).wsgi_request.user.is_authenticated


@pytest.mark.parametrize("doc", ["dtd", "billion-laughs"])
def test_dtd_in_response_gets_a_clear_error(client, workspace, idp, doc):
    conn = saml_connection(workspace, idp, create_users=True, allow_unsolicited=True)
    xml = (
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>'
        if doc == "dtd"
        else '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><l>&b;</l>'
    )
    response = post_to_acs(client, conn, _b64(xml))
    assert response.status_code == 400 and "DTD" in response.content.decode()


def test_dtd_in_uploaded_metadata_is_refused(client, workspace, admin_member, idp):
    client.force_login(admin_member)
    metadata = '<?xml version="1.0"?><!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]><m>&x;</m>'
    data = {
        "protocol": "saml",
        "save": "1",
        "connection_id": new_connection_token(),
        "name": "X",
        "provider": "custom",
        "idp_metadata": metadata,
        "claim_user_id": "NameID",
        "claim_email": "mail",
        "claim_name": "cn",
    }
    response = client.post(reverse("identity:connection-create", args=[workspace.slug]), data)
    assert response.status_code == 422 and "DTD" in response.content.decode()


def test_sha1_signatures_refused(client, workspace, idp, tmp_path):
    weak = IdP(tmp_path, signing_algorithm=SIG_RSA_SHA1, digest_algorithm=DIGEST_SHA1)
    conn = saml_connection(
        workspace, idp, create_users=True, allow_unsolicited=True, idp_metadata=weak.metadata
    )
    response = post_to_acs(client, conn, weak.response(in_response_to=None))
    assert response.status_code == 400 and "Deprecated signature algorithm" in response.content.decode()
    assert not User.objects.filter(email="sam@corp.example").exists()


def test_signature_by_an_untrusted_key_refused(client, workspace, idp, tmp_path):
    other = IdP(tmp_path)
    conn = saml_connection(workspace, idp, create_users=True, allow_unsolicited=True)
    # Same issuer as the trusted IdP, but signed with another key.
    forged = _b64(_xml(other.response(in_response_to=None)).replace(other.base, idp.base))
    response = post_to_acs(client, conn, forged)
    assert response.status_code == 400 and "Signature validation failed" in response.content.decode()


def test_saml_sign_in_button(client, workspace, idp):
    conn = saml_connection(workspace, idp)
    html = client.get(reverse("accounts:login"), {"workspace": workspace.slug}).content.decode()
    assert reverse("identity:saml-start", args=[conn.pk]) in html and "Sign in with Corp SAML" in html


# --- XML signature wrapping and comment truncation ----------------------------------------------

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"


def _signed_response(client, conn, idp):
    return saml_response_from(requests.get(begin(client, conn), timeout=10).text)


def _evil_copy(assertion):
    evil = copy.deepcopy(assertion)
    for signature in evil.findall(f"{{{DS}}}Signature"):
        evil.remove(signature)
    evil.set("ID", "_evil")
    evil.find(f".//{{{SAML}}}NameID").text = "admin"
    return evil


@pytest.mark.parametrize("where", ["beside", "advice", "extensions", "evil-response"])
def test_signature_wrapping_refused(client, workspace, idp, where):
    conn = saml_connection(workspace, idp, create_users=True)
    root = etree.fromstring(base64.b64decode(_signed_response(client, conn, idp)))
    signed = root.find(f"{{{SAML}}}Assertion")
    evil = _evil_copy(signed)
    if where == "beside":
        signed.addprevious(evil)
    elif where == "advice":
        root.replace(signed, evil)
        advice = etree.SubElement(evil, f"{{{SAML}}}Advice")
        advice.append(signed)
    elif where == "extensions":
        root.replace(signed, evil)
        extensions = etree.Element(f"{{{SAMLP}}}Extensions")
        root.find(f"{{{SAML}}}Issuer").addnext(extensions)
        extensions.append(signed)
    else:
        wrapper = etree.Element(f"{{{SAMLP}}}Response", nsmap=root.nsmap, attrib=dict(root.attrib))
        wrapper.set("ID", "_evil-response")
        wrapper.append(copy.deepcopy(root.find(f"{{{SAML}}}Issuer")))
        wrapper.append(copy.deepcopy(root.find(f"{{{SAMLP}}}Status")))
        wrapper.append(evil)
        extensions = etree.SubElement(wrapper, f"{{{SAMLP}}}Extensions")
        extensions.append(root)
        root = wrapper
    response = post_to_acs(client, conn, base64.b64encode(etree.tostring(root)).decode())
    assert response.status_code == 400
    assert not ExternalIdentity.objects.filter(subject="admin").exists()
    assert not client.get(reverse("accounts:profile")).wsgi_request.user.is_authenticated


def test_comment_inside_nameid_does_not_truncate_it(client, workspace, idp):
    """A comment leaves the signature valid (c14n drops comments): the NameID must still be read
    whole ("u-1"), never as the text before the comment ("u-")."""
    conn = saml_connection(workspace, idp, create_users=True)
    xml = base64.b64decode(_signed_response(client, conn, idp)).decode()
    assert ">u-1<" in xml
    commented = _b64(xml.replace(">u-1<", ">u-<!-- x -->1<"))
    response = post_to_acs(client, conn, commented)
    # python3-saml parses without comments: the signature still holds and the NameID is whole.
    assert response.status_code == 302, response.content.decode()[:500]
    assert ExternalIdentity.objects.get().subject == "u-1"
    assert signed_in(client).email == "sam@corp.example"


def test_saml_test_provider_shows_mapping_and_groups_without_signing_in(client, workspace, admin_member, idp):
    conn = saml_connection(
        workspace, idp, enabled=False, create_users=True, sync_groups=True, claim_groups="memberOf"
    )
    UserGroup.objects.create(workspace=workspace, name="ml")
    idp.user = {
        "uid": "u-9",
        "attrs": {"mail": ["tess@corp.example"], "cn": ["Tess"], "memberOf": ["ml", "x"]},
    }
    client.force_login(admin_member)
    location = client.get(reverse("identity:connection-test", args=[workspace.slug, conn.pk]))["Location"]
    response = post_to_acs(client, conn, saml_response_from(requests.get(location, timeout=10).text))
    html = response.content.decode()
    assert response.status_code == 200
    assert (
        "tess@corp.example" in html
        and "Create the user tess@corp.example" in html
        and "Add to group ml" in html
    )
    assert not User.objects.filter(email="tess@corp.example").exists()
    assert client.get(reverse("accounts:profile")).wsgi_request.user == admin_member


def test_saml_group_sync_and_oid_mapping(client, workspace, idp):
    conn = saml_connection(
        workspace,
        idp,
        create_users=True,
        sync_groups=True,
        claim_groups="memberOf",
        claim_email="urn:oid:0.9.2342.19200300.100.1.3",
    )
    ops = UserGroup.objects.create(workspace=workspace, name="ops")
    idp.user = {"uid": "u-7", "attrs": {"mail": ["gus@corp.example"], "cn": ["Gus"], "memberOf": ["ops"]}}
    assert full_sign_in(client, conn).status_code == 302
    user = User.objects.get(email="gus@corp.example")
    assert ops.memberships.filter(user=user).exists()
    client.logout()
    idp.user = {"uid": "u-7", "attrs": {"mail": ["gus@corp.example"], "cn": ["Gus"], "memberOf": []}}
    assert full_sign_in(client, conn).status_code == 302
    assert not ops.memberships.filter(user=user).exists()


def test_wrong_destination_and_audience_refused(client, workspace, idp, tmp_path):
    """A response made for another SP (its ACS and entity id) is refused here."""
    elsewhere = IdP(tmp_path, portal="http://other.test")
    conn = saml_connection(
        workspace, idp, create_users=True, allow_unsolicited=True, idp_metadata=elsewhere.metadata
    )
    response = post_to_acs(client, conn, elsewhere.response(in_response_to=None))
    assert response.status_code == 400
    assert "was received at" in response.content.decode()


@pytest.mark.parametrize("shift", [86400, -86400], ids=["expired", "not-yet-valid"])
def test_assertion_outside_its_validity_window_refused(client, workspace, idp, monkeypatch, shift):
    from onelogin.saml2.utils import OneLogin_Saml2_Utils

    conn = saml_connection(workspace, idp, create_users=True)
    saml_response = _signed_response(client, conn, idp)
    real_now = OneLogin_Saml2_Utils.now
    monkeypatch.setattr(OneLogin_Saml2_Utils, "now", staticmethod(lambda: real_now() + shift))
    response = post_to_acs(client, conn, saml_response)
    assert response.status_code == 400 and "Could not validate timestamp" in response.content.decode()
    assert not User.objects.filter(email="sam@corp.example").exists()


# --- Where the metadata sends browsers ------------------------------------------------------------


def _metadata_with_sso(location: str) -> str:
    return idp_metadata(location)


@pytest.mark.parametrize(
    ("location", "lab_may_use_it"),
    [
        ("http://idp.example.com/sso", True),
        ("javascript://idp.example.com/%0Aalert(document.cookie)", False),
        ("JavaScript://idp.example.com/%0Aalert(1)", False),
        ("data://idp.example.com/x", False),
    ],
)
def test_metadata_single_sign_on_url_must_be_https(
    client, workspace, admin_member, settings, location, lab_may_use_it
):
    client.force_login(admin_member)
    data = {
        "protocol": "saml",
        "save": "1",
        "connection_id": new_connection_token(),
        "name": "Lab IdP",
        "provider": "custom",
        "idp_metadata": _metadata_with_sso(location),
        "want_signed_assertions": "on",
        "claim_user_id": "NameID",
        "claim_email": "mail",
        "claim_name": "cn",
    }
    create = reverse("identity:connection-create", args=[workspace.slug])
    settings.PORTAL_IDP_ALLOW_PRIVATE_URLS = False
    response = client.post(create, data)
    assert response.status_code == 422 and "must be an https URL" in response.content.decode()
    settings.PORTAL_IDP_ALLOW_PRIVATE_URLS = True
    assert client.post(create, data).status_code == (302 if lab_may_use_it else 422)


def test_stored_metadata_with_an_http_sign_on_url_is_not_used(client, workspace, idp, settings):
    """Metadata saved in a lab (private URLs allowed) stops working once they are not."""
    conn = saml_connection(workspace, idp, idp_metadata=_metadata_with_sso("http://idp.example.com/sso"))
    settings.PORTAL_IDP_ALLOW_PRIVATE_URLS = False
    response = client.get(reverse("identity:saml-start", args=[conn.pk]))
    assert response.status_code == 400 and "must be an https URL" in response.content.decode()
    assert "Location" not in response


# --- Signed requests, encrypted assertions, response-level signatures ---------------------------


@pytest.fixture
def portal_keys():
    key, cert = self_signed("portal")
    return key.decode(), cert.decode()


def _idp_for_the_portal(tmp_path, **options) -> IdP:
    """An IdP that knows no SP yet: the test registers the portal's own metadata with it."""
    return IdP(tmp_path, sp=sp_metadata(uuid.uuid4()), **options).start()


def _register_portal(client, idp, conn) -> str:
    xml = client.get(reverse("identity:saml-metadata", args=[conn.pk])).content.decode()
    idp.trust_sp(xml)
    return xml


def _to_idp(client, conn, *, start_url=None) -> requests.Response:
    """Start a sign-in and deliver the AuthnRequest to the IdP as the browser would (a redirect,
    or the self-submitting form of the HTTP-POST binding)."""
    response = client.get(start_url or reverse("identity:saml-start", args=[conn.pk]))
    if response.status_code == 302:
        return requests.get(response["Location"], timeout=10)
    assert response.status_code == 200, response.content[:500]
    doc = lxml.html.fromstring(response.content.decode())
    form = doc.forms[0]
    assert "csrfmiddlewaretoken" not in dict(form.form_values())
    return requests.post(form.action, data=dict(form.form_values()), timeout=10)


BINDINGS = [pytest.param(BINDING_HTTP_REDIRECT, id="redirect"), pytest.param(BINDING_HTTP_POST, id="post")]


@pytest.mark.parametrize("binding", BINDINGS)
def test_signed_requests_are_accepted_by_an_idp_that_requires_them(
    client, workspace, idp, tmp_path, portal_keys, binding
):
    key, cert = portal_keys
    strict = _idp_for_the_portal(tmp_path, bindings=(binding,), require_signed_requests=True)
    try:
        conn = saml_connection(
            workspace,
            strict,
            create_users=True,
            sign_requests=True,
            sp_public_key=cert,
            sp_private_key=key,
            idp_metadata=strict.metadata,
        )
        xml = _register_portal(client, strict, conn)
        assert 'AuthnRequestsSigned="true"' in xml
        page = _to_idp(client, conn)
        assert page.status_code == 200, (strict.refused, page.text[:300])
        assert strict.requests == [(binding, True)] and strict.refused == []
        response = post_to_acs(client, conn, saml_response_from(page.text))
        assert response.status_code == 302, response.content.decode()[:500]
        assert signed_in(client).email == "sam@corp.example"
    finally:
        strict.stop()


@pytest.mark.parametrize("binding", BINDINGS)
def test_unsigned_requests_are_refused_by_that_idp(client, workspace, idp, tmp_path, portal_keys, binding):
    """The same IdP refuses the request when Sign client requests is off: the test IdP really
    checks (so the test above proves the portal's signature)."""
    key, cert = portal_keys
    strict = _idp_for_the_portal(tmp_path, bindings=(binding,), require_signed_requests=True)
    try:
        conn = saml_connection(
            workspace,
            strict,
            create_users=True,
            sign_requests=False,
            sp_public_key=cert,
            sp_private_key=key,
            idp_metadata=strict.metadata,
        )
        _register_portal(client, strict, conn)
        page = _to_idp(client, conn)
        assert page.status_code == 403 and strict.refused and strict.requests == []
    finally:
        strict.stop()


def test_a_request_signed_by_another_key_is_refused(client, workspace, idp, tmp_path, portal_keys):
    key, cert = portal_keys
    strict = _idp_for_the_portal(tmp_path, require_signed_requests=True)
    try:
        conn = saml_connection(
            workspace,
            strict,
            sign_requests=True,
            sp_public_key=cert,
            sp_private_key=key,
            idp_metadata=strict.metadata,
        )
        _register_portal(client, strict, conn)
        other_key, other_cert = (part.decode() for part in self_signed("intruder"))
        IdentityConnection.objects.filter(pk=conn.pk).update(sp_public_key=other_cert)
        conn.refresh_from_db()
        conn.sp_private_key = other_key
        conn.save()
        assert _to_idp(client, conn).status_code == 403 and strict.refused
    finally:
        strict.stop()


def test_post_binding_page_may_only_post_to_the_idp(client, workspace, idp, tmp_path):
    post_only = _idp_for_the_portal(tmp_path, bindings=(BINDING_HTTP_POST,))
    try:
        conn = saml_connection(workspace, post_only, idp_metadata=post_only.metadata)
        response = client.get(reverse("identity:saml-start", args=[conn.pk]))
        assert response.status_code == 200
        assert f"form-action 'self' {post_only.base}" in response["Content-Security-Policy"]
        assert "script-src 'self'" in response["Content-Security-Policy"]
        assert f'action="{post_only.base}/sso"' in response.content.decode()
    finally:
        post_only.stop()


def test_encrypted_assertions_to_the_portals_certificate_are_accepted(
    client, workspace, idp, tmp_path, portal_keys
):
    key, cert = portal_keys
    encrypting = _idp_for_the_portal(tmp_path, encrypt=True)
    try:
        conn = saml_connection(
            workspace,
            encrypting,
            create_users=True,
            sp_public_key=cert,
            sp_private_key=key,
            idp_metadata=encrypting.metadata,
        )
        xml = _register_portal(client, encrypting, conn)
        assert 'use="encryption"' in xml and 'AuthnRequestsSigned="false"' in xml
        page = _to_idp(client, conn)
        saml_response = saml_response_from(page.text)
        assert "EncryptedAssertion" in _xml(saml_response) and "sam@corp.example" not in _xml(saml_response)
        response = post_to_acs(client, conn, saml_response)
        assert response.status_code == 302, response.content.decode().split("sso-error")[-1][:400]
        assert signed_in(client).email == "sam@corp.example"
    finally:
        encrypting.stop()


def test_encrypted_assertion_without_the_portals_key_is_refused(
    client, workspace, idp, tmp_path, portal_keys
):
    key, cert = portal_keys
    encrypting = _idp_for_the_portal(tmp_path, encrypt=True)
    try:
        conn = saml_connection(
            workspace,
            encrypting,
            create_users=True,
            sp_public_key=cert,
            sp_private_key=key,
            idp_metadata=encrypting.metadata,
        )
        _register_portal(client, encrypting, conn)
        saml_response = saml_response_from(_to_idp(client, conn).text)
        IdentityConnection.objects.filter(pk=conn.pk).update(sp_public_key="", sp_private_key="")
        conn.refresh_from_db()
        response = post_to_acs(client, conn, saml_response)
        assert response.status_code == 400
        assert not User.objects.filter(email="sam@corp.example").exists()
    finally:
        encrypting.stop()


@pytest.mark.parametrize("require_signed_assertions", [True, False])
def test_require_signed_assertions_or_a_signed_response(client, workspace, idp, require_signed_assertions):
    """Off, a signature on the whole response is enough; a response signed nowhere never is."""
    conn = saml_connection(
        workspace,
        idp,
        create_users=True,
        allow_unsolicited=True,
        want_signed_assertions=require_signed_assertions,
    )
    response_signed = idp.response(in_response_to=None, sign_assertion=False, sign_response=True)
    response = post_to_acs(client, conn, response_signed)
    assert response.status_code == (400 if require_signed_assertions else 302), response.content.decode()[
        :300
    ]
    client.logout()
    unsigned = idp.response(in_response_to=None, sign_assertion=False, sign_response=False)
    response = post_to_acs(client, conn, unsigned)
    assert response.status_code == 400


def test_test_provider_with_the_post_binding_posts_to_the_idp(client, workspace, admin_member, idp, tmp_path):
    post_only = _idp_for_the_portal(tmp_path, bindings=(BINDING_HTTP_POST,))
    try:
        conn = saml_connection(workspace, post_only, enabled=False, idp_metadata=post_only.metadata)
        client.force_login(admin_member)
        response = client.get(reverse("identity:connection-test", args=[workspace.slug, conn.pk]))
        form = lxml.html.fromstring(response.content.decode()).forms[0]
        assert response.status_code == 200 and form.action == f"{post_only.base}/sso"
        assert "SAMLRequest" in dict(form.form_values())
        assert client.session["identity_saml"][str(conn.pk)]["test_by"] == str(admin_member.pk)
    finally:
        post_only.stop()
