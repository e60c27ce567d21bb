"""Every page and form of the portal, fed generated input: never a 5xx, and a refusal changes nothing.

The walk covers every URL pattern outside the API (tests/api/test_fuzz.py walks the API).
Signed in as the owner of a seeded workspace (anonymous for the public pages), each URL is
called with real objects in its arguments, then fuzzed:
- POST: every control the page renders (inputs, selects, textareas, named buttons), every
  field of the Django forms its view module uses, and every key the view reads from
  request.POST, with values taken from the page (option values, current values) or tricky
  ones (tests/fuzzing.py: "²", NUL, 1e309, 5,000 digits ...), plain and as htmx;
- GET: the query keys the view reads from request.GET and the page's controls.
Each example runs in a savepoint that is rolled back, so every example starts from the same
world. Asserted: status < 500; a 4xx (400 bad request, 403, 404, 405, 422 field errors)
leaves every portal table's row count as it was.
"""

from __future__ import annotations

import copy
import inspect
import re
import socket
from collections import defaultdict
from html.parser import HTMLParser

import pytest
from django import forms
from django.contrib.auth.tokens import default_token_generator
from django.core.cache import cache
from django.db import transaction
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from access import services as access_services
from access.models import UserGroup
from accounts.models import CloudAccess
from accounts.services import user_create
from identity.models import IdentityConnection
from resources.demo import load_resources_demo
from resources.draft import link_key, pool_key, profile_key
from resources.models import Job, JobState, Link, Policy, Pool, Profile, Queue
from tests.factories import PASSWORD
from tests.fuzzing import PORTAL_APPS, TRICKY, changed_tables, row_counts
from tests.test_url_access import ROUTES, classify
from vaults.services import group_vault_create, user_vault_save
from workspaces import invitations
from workspaces.credentials import credential_create
from workspaces.models import Role
from workspaces.notifications import notify
from workspaces.services import membership_add, workspace_create

WALK = settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
PAGE_ROUTES = [r for r in ROUTES if classify(r) not in (None, "api")]
HX = {"HX-Request": "true"}
# Values that a form can carry (UTF-8 cannot encode lone surrogates: the API fuzz sends those).
FORM_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)


# --- The world the URLs point into --------------------------------------------------------------


class World:
    """A workspace with one of everything, built once for the module (and rolled back after)."""

    def __init__(self):
        self.owner = user_create(email="owner@example.com", username="owner", password=PASSWORD)
        self.member = user_create(email="member@example.com", username="member", password=PASSWORD)
        self.admin = user_create(email="admin@example.com", username="admin", password=PASSWORD)
        self.stranger = user_create(email="stranger@example.com", username="stranger", password=PASSWORD)
        ws = self.workspace = workspace_create(owner=self.owner, name="Fuzz Lab")
        membership_add(workspace=ws, user=self.member, role=Role.MEMBER, actor=self.owner)
        membership_add(workspace=ws, user=self.admin, role=Role.ADMIN, actor=self.owner)
        load_resources_demo(
            workspace=ws,
            admin=self.owner,
            members={"Dev": [self.member], "Research": [self.admin], "Product": [self.member]},
        )
        self.group = UserGroup.objects.for_workspace(ws).get(name="Dev")
        self.vault = group_vault_create(
            workspace=ws,
            actor=self.owner,
            name="Dev storage",
            group=self.group,
            fmt="hocon",
            content="a { b: 1 }",
        )
        user_vault_save(workspace=ws, user=self.owner, actor=self.owner, fmt="hocon", content="sdk { c: 2 }")
        self.account, self.account_credential, _ = access_services.service_account_create(
            workspace=ws, actor=self.owner, name="ci-bot", allow_impersonation=True
        )
        self.queue = Queue.objects.for_workspace(ws).order_by("pk").first()
        self.rule = access_services.rule_create(
            workspace=ws,
            actor=self.owner,
            resource_type="queue",
            object_id=self.queue.pk,
            permission="read",
            user_ids=[self.member.pk],
            group_ids=[self.group.pk],
        )
        self.invitation = invitations.invitation_create(
            workspace=ws, actor=self.owner, email="newcomer@example.com"
        ).invitation
        other = workspace_create(owner=self.stranger, name="Elsewhere")
        issued = invitations.invitation_create(
            workspace=other, actor=self.stranger, email="owner@example.com"
        )
        self.incoming, self.incoming_token = issued.invitation, issued.token
        self.credential, _ = credential_create(workspace=ws, actor=self.owner, label="laptop")
        self.cloud = CloudAccess.objects.create(user=self.owner, bucket="bucket", secret="s3cr3t")
        notify(users=[self.owner], message="hello", workspace=ws)
        self.notification = self.owner.notifications.order_by("-pk").first()
        self.oidc = IdentityConnection.objects.create(
            workspace=ws,
            protocol="oidc",
            name="Acme SSO",
            enabled=True,
            issuer="https://idp.example.com",
            client_id="portal",
            client_secret="top-secret-value",
            authorization_endpoint="https://idp.example.com/authorize",
            token_endpoint="https://idp.example.com/token",
            jwks_uri="https://idp.example.com/jwks",
        )
        self.saml = IdentityConnection.objects.create(
            workspace=ws,
            protocol="saml",
            name="Corp SAML",
            enabled=True,
            idp_entity_id="https://idp.example.com",
        )
        self.pool = Pool.objects.for_workspace(ws).order_by("pk").first()
        self.profile = Profile.objects.for_workspace(ws).order_by("pk").first()
        self.link = Link.objects.for_workspace(ws).order_by("pk").first()
        self.policy = Policy.objects.for_workspace(ws).order_by("pk").first()
        self.job = Job.objects.for_workspace(ws).filter(state=JobState.RUNNING).first()


# Route name -> URL kwargs (besides workspace_slug) pointing at the world's objects.
KWARGS = {
    "accounts:password-reset-confirm": lambda w: {
        "uidb64": urlsafe_base64_encode(force_bytes(w.owner.pk)),
        "token": default_token_generator.make_token(w.owner),
    },
    "accounts:preference-toggle": lambda w: {"field": "hide_examples"},
    "accounts:cloud-access-edit": lambda w: {"pk": w.cloud.pk},
    "accounts:cloud-access-delete": lambda w: {"pk": w.cloud.pk},
    "workspaces:credential-label": lambda w: {"pk": w.credential.pk},
    "workspaces:credential-revoke": lambda w: {"pk": w.credential.pk},
    "workspaces:invitation-revoke": lambda w: {"pk": w.invitation.pk},
    "workspaces:invitation-accept": lambda w: {"token": w.incoming_token},
    "workspaces:invitation-join": lambda w: {"pk": w.incoming.pk},
    "workspaces:notification-read": lambda w: {"pk": w.notification.pk},
    "vaults:vault-edit": lambda w: {"pk": w.vault.pk},
    "vaults:vault-toggle": lambda w: {"pk": w.vault.pk},
    "vaults:vault-delete": lambda w: {"pk": w.vault.pk},
    "vaults:vault-download": lambda w: {"pk": w.vault.pk},
    "workspaces:invitation-resend": lambda w: {"pk": w.invitation.pk},
    "access:invitation-revoke": lambda w: {"pk": w.invitation.pk},
    "access:member-remove": lambda w: {"user_id": w.member.pk},
    "access:service-account-edit": lambda w: {"pk": w.account.pk},
    "access:service-account-credential-create": lambda w: {"pk": w.account.pk},
    "access:service-account-credential-revoke": lambda w: {
        "pk": w.account.pk,
        "credential_pk": w.account_credential.pk,
    },
    "access:service-account-delete": lambda w: {"pk": w.account.pk},
    "access:group-edit": lambda w: {"pk": w.group.pk},
    "access:group-delete": lambda w: {"pk": w.group.pk},
    "access:rule-edit": lambda w: {"pk": w.rule.pk},
    "access:rule-delete": lambda w: {"pk": w.rule.pk},
    "resources:pool-edit": lambda w: {"key": pool_key(w.pool.pk)},
    "resources:pool-delete": lambda w: {"key": pool_key(w.pool.pk)},
    "resources:profile-edit": lambda w: {"key": profile_key(w.profile.pk)},
    "resources:profile-delete": lambda w: {"key": profile_key(w.profile.pk)},
    "resources:link-delete": lambda w: {"key": link_key(w.link.pk)},
    "resources:policy-edit": lambda w: {"pk": w.policy.pk},
    "resources:policy-delete": lambda w: {"pk": w.policy.pk},
    "resources:job-abort": lambda w: {"pk": w.job.pk},
    "identity:connection-edit": lambda w: {"pk": w.oidc.pk},
    "identity:connection-toggle": lambda w: {"pk": w.oidc.pk},
    "identity:connection-delete": lambda w: {"pk": w.oidc.pk},
    "identity:connection-test": lambda w: {"pk": w.oidc.pk},
    "identity:oidc-start": lambda w: {"pk": w.oidc.pk},
    "identity:oidc-callback": lambda w: {"pk": w.oidc.pk},
    "identity:saml-start": lambda w: {"pk": w.saml.pk},
    "identity:saml-acs": lambda w: {"pk": w.saml.pk},
    "identity:saml-metadata": lambda w: {"pk": w.saml.pk},
}


def test_every_url_argument_points_at_a_real_object():
    """A new URL with arguments needs a KWARGS entry, or the walk would only see its 404."""
    missing = [r.name for r in PAGE_ROUTES if set(r.converters) - {"workspace_slug"} and r.name not in KWARGS]
    assert not missing, f"add these to KWARGS in tests/test_form_fuzz.py: {missing}"


def url_for(route, world: World) -> str:
    kwargs = {"workspace_slug": world.workspace.slug} if "workspace_slug" in route.converters else {}
    if route.name in KWARGS:
        kwargs.update(KWARGS[route.name](world))
    return reverse(route.name, kwargs=kwargs)


# --- Which fields a URL takes ---------------------------------------------------------------------


class Controls(HTMLParser):
    """The named controls of a page and the values it offers for them."""

    def __init__(self):
        super().__init__()
        self.values: dict[str, set[str]] = defaultdict(set)
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        attr = dict(attrs)
        name = attr.get("name")
        if tag in ("input", "textarea", "button") and name:
            self.values[name].add(attr.get("value") or "")
            if attr.get("type") == "checkbox":
                self.values[name].add("on")
        elif tag == "select" and name:
            self._select = name
            self.values[name]
        elif tag == "option" and self._select:
            self.values[self._select].add(attr.get("value") or "")

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None


def page_controls(html: str) -> dict[str, set[str]]:
    parser = Controls()
    parser.feed(html)
    parser.values.pop("csrfmiddlewaretoken", None)
    return parser.values


_READ = re.compile(
    r"""request\.(POST|GET)(?:\.(?:get|getlist)\(|\[|,\s*)\s*["']([\w-]+)["']"""
    r"""|["']([\w-]+)["']\s+(?:not\s+)?in\s+request\.(POST|GET)"""
)

# The member/object picker (access/picker.py) reads its keys for the view: the chosen items, the
# search box, and its steps' buttons.
_PICKER = re.compile(
    r"""picker_step\(\s*request\.(POST|GET),\s*field=["'](\w+)["'].*?search_field=["'](\w+)["']""", re.S
)


def source_fields(route) -> dict[str, set[str]]:
    """Keys the view's module reads from request.POST / request.GET, and (POST) the fields of
    every Django form class the module uses."""
    module = inspect.getmodule(inspect.unwrap(route.callback))
    found: dict[str, set[str]] = {"POST": set(), "GET": set()}
    if module is None or module.__name__.split(".")[0] not in PORTAL_APPS:
        return found
    for match in _READ.finditer(inspect.getsource(module)):
        method, key = (match[1], match[2]) if match[1] else (match[4], match[3])
        found[method].add(key)
    for method, field, search_field in _PICKER.findall(inspect.getsource(module)):
        found[method] |= {field, search_field, "add", "remove", "find"}
    for value in vars(module).values():
        if isinstance(value, type) and issubclass(value, forms.BaseForm):
            found["POST"] |= set(value.base_fields)
    return found


def value_strategy(offered: set[str]):
    choices = [st.sampled_from(TRICKY), FORM_TEXT]
    if offered:
        choices.insert(0, st.sampled_from(sorted(offered)))
    single = st.one_of(*choices)
    return st.one_of(single, single, st.lists(single, min_size=1, max_size=3))


def data_strategy(fields: dict[str, set[str]]):
    return st.fixed_dictionaries({}, optional={name: value_strategy(fields[name]) for name in sorted(fields)})


# --- The walk ------------------------------------------------------------------------------------


# Cases the walk found (each answered 500), pinned: tried first on every run.
def _post(data, htmx=False):
    return {"method": "POST", "post": data, "query": {}, "htmx": htmx}


# Route name -> examples (functions of the world, for real ids in them).
FOUND = {
    # A NUL in a value the view reads from request.POST itself (the member search box).
    "access:group-create": [lambda w: _post({"search": "\x00", "add": " "})],
    # "²".isdigit() is true and int("²") raises (issue 9).
    "access:rule-create": [
        lambda w: _post({"resource_type": "queue", "permission": "read", "object": "²"}),
        lambda w: _post({"resource_type": "queue", "permission": "read", "targets": "g:²"}, htmx=True),
        lambda w: _post({"resource_type": "queue", "permission": "read", "add": "g:²"}, htmx=True),
    ],
    "resources:policies": [lambda w: {"method": "GET", "post": {}, "query": {"policy": "²"}, "htmx": False}],
    # Decimal("1e309").quantize(...) raises InvalidOperation.
    "resources:pool-new": [lambda w: _post({"name": "P", "capacity": "1e309"}, htmx=True)],
    "resources:profile-new": [lambda w: _post({"name": "F", "allotment": "1e309"})],
    "resources:policy-new": [
        lambda w: _post({"name": "Q", "group": str(w.group.pk), "reservation": "0", "limit": "1e309"})
    ],
}


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            yield World()
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


@pytest.fixture
def no_network(monkeypatch):
    """Identity forms fetch admin-given URLs: only loopback resolves here (Redis, the database)."""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if host in ("localhost", "127.0.0.1", "::1", None):
            return real(host, *args, **kwargs)
        raise socket.gaierror(socket.EAI_NONAME, "no network in the fuzz tests")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.mark.parametrize("route", PAGE_ROUTES, ids=lambda r: r.name)
def test_every_page_and_form_refuses_bad_input_cleanly(client, db, no_network, world, route):
    public = classify(route) == "public"
    url = url_for(route, world)
    client.raise_request_exception = False
    if not public:
        client.force_login(world.owner)
    signed_in = client.cookies
    # What the URL takes: its page's controls (GET), and whether it accepts a POST at all.
    with transaction.atomic():
        page = client.get(url)
        assert page.status_code < 500, (route.name, "GET", page.status_code)
        accepts_post = client.post(url, {}).status_code != 405
        transaction.set_rollback(True)
    html = page.content.decode(errors="replace") if "text/html" in page.get("Content-Type", "") else ""
    offered = page_controls(html)
    from_source = source_fields(route)
    post_fields = {name: offered.get(name, set()) for name in set(offered) | from_source["POST"]}
    get_fields = {name: offered.get(name, set()) for name in from_source["GET"]}
    methods = (["POST", "POST"] if accepts_post else []) + (["GET"] if get_fields else [])
    if not methods:
        return  # a page without input: its GET above is all a client can send

    @WALK
    @given(
        method=st.sampled_from(methods),
        post=data_strategy(post_fields),
        query=data_strategy(get_fields),
        htmx=st.booleans(),
    )
    def run(method, post, query, htmx):
        cache.clear()  # the sign-in limiter's counters
        client.cookies = copy.copy(signed_in)  # an example may have signed out
        with transaction.atomic():
            before = row_counts()
            headers = HX if htmx else {}
            if method == "POST":
                response = client.post(url, post, headers=headers)
            else:
                response = client.get(url, query, headers=headers)
            where = (route.name, method, post if method == "POST" else query, htmx)
            assert response.status_code < 500, (*where, response.status_code)
            if 400 <= response.status_code < 500:
                assert not changed_tables(before, row_counts()), where
            transaction.set_rollback(True)

    for found in FOUND.get(route.name, ()):
        run = example(**found(world))(run)
    run()


def test_the_walk_sees_the_forms(client, world, db):
    """The field discovery works: the access rule dialog's controls are found."""
    route = next(r for r in PAGE_ROUTES if r.name == "access:rule-create")
    fields = source_fields(route)
    assert {"targets", "add", "remove", "object_q"} <= fields["POST"]
    assert {"resource_type", "object", "permission"} <= fields["POST"]
    client.force_login(world.owner)
    controls = page_controls(client.get(url_for(route, world)).content.decode())
    assert {"resource_type", "object", "permission", "object_q"} <= set(controls)
    # The object list follows the resource type (fetched as it changes): the queue type's lists the queue.
    search = reverse("access:rule-search", args=[world.workspace.slug])
    options = client.get(search, {"kind": "object", "resource_type": "queue"}).content.decode()
    assert f'value="{world.queue.pk}"' in options
