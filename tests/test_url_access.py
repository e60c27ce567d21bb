"""Every URL name × every role (readthedocs' URL × role test).

Each URL of the URLconf is classified:
- the API (`api/` prefix): its own authentication, tested in tests/api/;
- a workspace view: classified automatically by the `required_role` attribute that
  `workspace_view` (and any decorator built on `membership_get`/`require_role`) sets:
  anonymous → sign-in, outsider → 404, member below the role → 403, others get in;
- PUBLIC: reachable signed out (sign-in, password reset ...);
- USER: any signed-in user, about their own things (Profile, Configuration ...).
A URL in none of these fails `test_every_url_is_classified`: add it to PUBLIC or USER
below (with a kwargs factory when it takes arguments), or wrap it in `workspace_view`.

Every answer must be < 500, and an outsider or a member below the role must change
nothing (no audit row). Every HTML page must be fit for the Content-Security-Policy:
no inline scripts, inline styles or event-handler attributes.
"""

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.models import CloudAccess
from settings_portal.crypto import keyed_hash
from workspaces.models import AuditEvent, Credential, Invitation, Notification, Role

LOGIN = reverse("accounts:login")
ROLES = ["anonymous", "outsider", "member", "admin", "owner"]
ROLE_OF = {"member": Role.MEMBER, "admin": Role.ADMIN, "owner": Role.OWNER}


@dataclass
class Route:
    name: str
    pattern: str
    callback: Callable
    converters: dict[str, str]  # kwarg name -> converter type (int, str, slug, uuid, path)


def _walk(patterns, prefix="", namespace=None):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = entry.namespace and (f"{namespace}:{entry.namespace}" if namespace else entry.namespace)
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), ns or namespace)
        elif isinstance(entry, URLPattern):
            name = entry.name and (f"{namespace}:{entry.name}" if namespace else entry.name)
            pattern = prefix + str(entry.pattern)
            converters = {
                key: type(conv).__name__.replace("Converter", "").lower()
                for key, conv in getattr(entry.pattern, "converters", {}).items()
            }
            yield Route(name or f"<unnamed {pattern}>", pattern, entry.callback, converters)


ROUTES = list(_walk(get_resolver().url_patterns))


# --- Objects the kwargs point at ------------------------------------------------------------------


class Ctx:
    """The fixture users and workspace, plus objects made on demand for URL kwargs."""

    def __init__(self, users, workspace):
        self.users = users
        self.workspace = workspace

    def cloud_entry(self):
        return CloudAccess.objects.create(user=self.users["admin"], bucket="admins-bucket", secret="s3cr3t")

    def notification(self):
        return Notification.objects.create(user=self.users["admin"], message="hello admin")

    def invitation(self, email):
        return Invitation.objects.create(
            workspace=self.workspace,
            email=email,
            token_hash=keyed_hash(uuid.uuid4().hex),
            invited_by=self.users["owner"],
            expires_at=timezone.now() + timezone.timedelta(days=7),
        )

    def credential(self, user_key="admin"):
        return Credential.objects.create(
            workspace=self.workspace,
            user=self.users[user_key],
            created_by=self.users[user_key],
            access_key=uuid.uuid4().hex[:20].upper(),
            secret_hash=keyed_hash("x"),
        )


# PUBLIC: name -> kwargs factory (or None). Anyone may GET them; signed-in users are
# often redirected away. None of them may answer 5xx.
PUBLIC: dict[str, Callable[[Ctx], dict] | None] = {
    "home": None,
    "accounts:login": None,
    "accounts:logout": None,  # POST only; signs out whoever asks
    "accounts:password-reset": None,
    "accounts:password-reset-done": None,
    "accounts:password-reset-confirm": lambda ctx: {
        "uidb64": urlsafe_base64_encode(force_bytes(ctx.users["admin"].pk)),
        "token": default_token_generator.make_token(ctx.users["admin"]),
    },
    "accounts:password-reset-complete": None,
    # The invitee's link works signed out; a wrong token is a clear 404 page.
    "workspaces:invitation-accept": lambda ctx: {"token": "not-a-real-token"},
    # Stripe's webhook: POST only, authenticated by its signature (404 while STRIPE_ENABLED is off).
    "billing:stripe-webhook": None,
    # SSO: sign in with a connection, and its callback (a bad or missing state is a clear 400 page).
    "identity:oidc-start": lambda ctx: {"pk": uuid.UUID(int=2)},
    "identity:oidc-callback": lambda ctx: {"pk": uuid.UUID(int=2)},
    "identity:saml-start": lambda ctx: {"pk": uuid.UUID(int=2)},
    "identity:saml-acs": lambda ctx: {"pk": uuid.UUID(int=2)},
    "identity:saml-metadata": lambda ctx: {"pk": uuid.UUID(int=2)},
}

# USER: name -> (kwargs factory or None, owner role key or None). Anonymous visitors go to
# sign-in. With an owner, the kwargs point at that user's object: every other user gets 404.
USER: dict[str, tuple[Callable[[Ctx], dict] | None, str | None]] = {
    "accounts:profile": (None, None),
    "accounts:profile-username": (None, None),
    "accounts:configuration": (None, None),
    "accounts:preference-toggle": (lambda ctx: {"field": "hide_examples"}, None),
    "accounts:hidden-args": (None, None),
    "accounts:cloud-access-new": (None, None),
    "accounts:cloud-access-edit": (lambda ctx: {"pk": ctx.cloud_entry().pk}, "admin"),
    "accounts:cloud-access-delete": (lambda ctx: {"pk": ctx.cloud_entry().pk}, "admin"),
    "accounts:password-change": (None, None),
    "accounts:password-change-done": (None, None),
    "workspaces:workspace-settings": (None, None),
    "workspaces:notification-list": (None, None),
    "workspaces:notifications-read-all": (None, None),
    "workspaces:notification-read": (lambda ctx: {"pk": ctx.notification().pk}, "admin"),
    "workspaces:invitation-join": (
        lambda ctx: {"pk": ctx.invitation("outsider@example.com").pk},
        "outsider",
    ),
}

# Workspace views: extra kwargs (beyond workspace_slug) filled with real objects. A kwarg
# with no factory gets a value of its converter's type that matches no object: the
# 404/403 checks happen before any lookup, so access is still proven.
WORKSPACE_KWARGS: dict[str, Callable[[Ctx], dict]] = {
    "workspaces:credential-label": lambda ctx: {"pk": ctx.credential("member").pk},
    "workspaces:credential-revoke": lambda ctx: {"pk": ctx.credential("member").pk},
    "workspaces:invitation-revoke": lambda ctx: {"pk": ctx.invitation("new@example.com").pk},
    "workspaces:invitation-resend": lambda ctx: {"pk": ctx.invitation("new2@example.com").pk},
    # The old Users & Groups URL: a redirect to workspaces:invitation-revoke.
    "access:invitation-revoke": lambda ctx: {"pk": ctx.invitation("new3@example.com").pk},
    "access:member-remove": lambda ctx: {"user_id": ctx.users["member"].pk},
}
DUMMY = {"int": 987654321, "str": "x", "slug": "x", "uuid": uuid.UUID(int=1), "path": "x"}


def classify(route: Route) -> str | None:
    if route.pattern.startswith("api/"):
        return "api"
    if getattr(route.callback, "required_role", None) is not None:
        return "workspace"
    if route.name in PUBLIC:
        return "public"
    if route.name in USER:
        return "user"
    return None


def test_every_url_is_classified():
    unclassified = [f"{r.name} ({r.pattern})" for r in ROUTES if classify(r) is None]
    assert not unclassified, (
        "URLs nobody classified (add them to PUBLIC or USER in tests/test_url_access.py, "
        "or wrap the view in workspace_view): " + ", ".join(unclassified)
    )


def test_every_url_has_a_name():
    unnamed = [r.pattern for r in ROUTES if r.name.startswith("<unnamed")]
    assert not unnamed, f"URLs without a name cannot be tested by role: {unnamed}"


def test_the_lists_name_only_existing_urls():
    names = {r.name for r in ROUTES}
    stale = sorted((set(PUBLIC) | set(USER) | set(WORKSPACE_KWARGS)) - names)
    assert not stale, f"classified URLs that no longer exist: {stale}"


def test_classification_covers_workspace_views_automatically():
    workspace_routes = [r for r in ROUTES if classify(r) == "workspace"]
    assert any(r.name == "workspaces:audit-log" for r in workspace_routes)
    assert all("workspace_slug" in r.converters for r in workspace_routes)


# --- The walk ------------------------------------------------------------------------------------

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
MAIN = re.compile(r"<main\b.*?</main>", re.I | re.S)
ASSET_IN_MAIN = re.compile(r"<(?:link|script)\b", re.I)
# Pages whose templates still load their assets inside <main> (none left: keep it that way).
ASSETS_IN_MAIN_ALLOWED: tuple[str, ...] = ()
INLINE_STYLE = re.compile(r"<[a-z][^>]*\sstyle=|<style[\s>]", re.I)
EVENT_HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I)


def assert_csp_friendly(route, role, response):
    if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
        return
    html = response.content.decode()
    where = f"{route.name} as {role}"
    assert not INLINE_SCRIPT.search(html), f"inline <script> in {where}"
    assert not INLINE_STYLE.search(html), f"inline style in {where}"
    assert not EVENT_HANDLER.search(html), f"inline event handler in {where}"
    assert "javascript:" not in html, f"javascript: URL in {where}"
    if not route.name.startswith(ASSETS_IN_MAIN_ALLOWED):
        main = MAIN.search(html)
        assert not (main and ASSET_IN_MAIN.search(main.group(0))), (
            f"<link>/<script> inside <main> in {where}: put it in {{% block head %}}"
        )
    assert "Content-Security-Policy" in response


def is_login_redirect(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith(LOGIN)


def kwargs_for(route: Route, ctx: Ctx) -> dict:
    kind = classify(route)
    kwargs: dict = {}
    factory = None
    if kind == "public":
        factory = PUBLIC[route.name]
    elif kind == "user":
        factory = USER[route.name][0]
    elif kind == "workspace":
        kwargs["workspace_slug"] = ctx.workspace.slug
        factory = WORKSPACE_KWARGS.get(route.name)
    if factory is not None:
        kwargs.update(factory(ctx))
    missing = set(route.converters) - set(kwargs)
    if missing and kind == "workspace":
        kwargs.update({key: DUMMY[route.converters[key]] for key in missing})
    elif missing:
        pytest.fail(
            f"{route.name} takes {sorted(missing)}: give it a kwargs factory in tests/test_url_access.py"
        )
    return kwargs


def call(client, method, url):
    return client.get(url) if method == "GET" else client.post(url, {})


@pytest.fixture
def ctx(owner, member, admin_member, outsider, workspace):
    return Ctx({"owner": owner, "member": member, "admin": admin_member, "outsider": outsider}, workspace)


@pytest.mark.parametrize(
    "route", [r for r in ROUTES if classify(r) not in (None, "api")], ids=lambda r: r.name
)
def test_url_by_role(client, ctx, route):
    kind = classify(route)
    url = reverse(route.name, kwargs=kwargs_for(route, ctx))
    required = getattr(route.callback, "required_role", None)
    owner_key = USER[route.name][1] if kind == "user" else None

    for role in ROLES:
        client.logout()
        if role != "anonymous":
            client.force_login(ctx.users[role])
        audit_rows = AuditEvent.objects.count()
        statuses = {}
        for method in ("GET", "POST"):
            response = call(client, method, url)
            status = statuses[method] = response.status_code
            where = f"{method} {route.name} as {role}: {status}"
            assert status < 500, where
            assert_csp_friendly(route, role, response)
            if kind == "public":
                continue
            if role == "anonymous":
                assert is_login_redirect(response) or status == 405, where
                continue
            if kind == "user":
                assert not is_login_redirect(response), where
                if owner_key and role != owner_key:
                    assert status in (404, 405), where
                continue
            # A workspace view.
            if role == "outsider":
                assert status in (404, 405), where
            elif ROLE_OF[role] < required:
                assert status in (403, 405), where
            else:
                assert status not in (403,) or route.name in WORKSPACE_KWARGS, where
                assert not is_login_redirect(response), where
        if kind == "workspace" and role == "outsider":
            assert 404 in statuses.values(), f"{route.name}: an outsider must get 404"
        if kind == "workspace" and role in ROLE_OF and ROLE_OF[role] < required:
            assert 403 in statuses.values(), f"{route.name}: {role} below {Role(required).label} must get 403"
        if kind == "user" and owner_key and role not in ("anonymous", owner_key):
            assert 404 in statuses.values(), f"{route.name}: another user's object must be 404 for {role}"
        denied = role == "anonymous" and kind != "public"
        denied |= kind == "workspace" and (
            role == "outsider" or (role in ROLE_OF and ROLE_OF[role] < required)
        )
        denied |= kind == "user" and bool(owner_key) and role not in ("anonymous", owner_key)
        if denied:
            assert AuditEvent.objects.count() == audit_rows, f"{route.name}: {role} changed something"


def test_no_page_asks_with_the_browsers_confirm():
    """Every confirmation is the portal's own dialog (components/confirm.html, docs/ui.md)."""
    from pathlib import Path

    from django.conf import settings

    root = Path(settings.BASE_DIR)
    offenders = [
        path.relative_to(root).as_posix()
        for folder in ("templates", "static/js")
        for path in (root / folder).rglob("*")
        if path.is_file()
        and not path.relative_to(root).as_posix().startswith("templates/identity/")
        and re.search(r"hx-confirm|data-confirm|\bconfirm\(", path.read_text())
    ]
    assert not offenders, offenders
