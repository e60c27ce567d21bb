"""Linking a workspace to its ClearML server, checking it, and its upstream users.

- `link_create` / `link_remove` (the `portal_upstream` command), `link_check` (the status, the
  panel's Test connection): a link is made only after the server answered the system
  credential's login with a token signed by the given token secret, which names its company.
- `upstream_for(workspace_id)`: the workspace's upstream from the process cache (no query).
- `identity_for(upstream, user_id)`: the upstream user of a portal user, created on first need
  through `auth.create_user` with the system credential and remembered (UpstreamUser).
- `user_renamed(user)`: a rename is pushed upstream (users.update with the system credential).
- `upstream_user_list` / `user_map` (`portal_upstream users|map`): people who used the server
  before the portal fronted it are mapped to their existing upstream user, keeping their work.
"""

from __future__ import annotations

import logging
import time
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from joserfc.errors import JoseError

from settings_portal.crypto import keyed_hash
from workspaces.audit import audit_log
from workspaces.models import Workspace
from workspaces.selectors import is_member

from . import cache, client, tokens
from .cache import Upstream, UpstreamIdentity
from .client import UpstreamUnavailable
from .models import LinkSource, UpstreamLink, UpstreamUser

logger = logging.getLogger(__name__)

# The secrets of clearml-server's own secure.conf are public: a server still using them accepts
# tokens anyone can sign, so the portal refuses to put it behind its rules.
PUBLIC_TOKEN_SECRETS = {"7E1ua3xP9GT2(cIQOfhjp+gwN6spBeCAmN-XuugYle00I=Wc+u"}
PUBLIC_SYSTEM_KEYS = {"62T8CP7HGBC6647XF9314C2VY67RJO", "EYVQ385RW7Y2QQUH88CZ7DWIQ1WUHP"}
MIN_SECRET_LENGTH = 16
PROVISIONING_ROLES = {"system", "root"}
CHECK_TIMEOUT = 10.0


class ProvisioningFailed(Exception):
    """The upstream refused to create (or find) a user; the message says why."""


def fingerprint(token_secret: str) -> str:
    return keyed_hash(f"clearml-token-secret:{token_secret}")


def _clean_url(url: str) -> str:
    url = (url or "").strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname or parts.query or parts.fragment:
        raise ValidationError(
            {"url": "Use the apiserver's http(s):// address, such as http://apiserver:8008."}
        )
    return url


def _clean_secrets(*, token_secret: str, system_access_key: str, system_secret_key: str) -> None:
    errors = {}
    if len(token_secret or "") < MIN_SECRET_LENGTH:
        errors["token_secret"] = (
            f"Use the server's secure.auth.token_secret ({MIN_SECRET_LENGTH}+ characters)."
        )
    elif token_secret in PUBLIC_TOKEN_SECRETS:
        errors["token_secret"] = (
            "This is clearml-server's public default token secret: anyone can sign tokens for it. "
            "Generate a new one (CLEARML__SECURE__AUTH__TOKEN_SECRET) first."
        )
    if not system_access_key:
        errors["system_access_key"] = "Give the access key of the server's system credential."
    elif system_access_key in PUBLIC_SYSTEM_KEYS:
        errors["system_access_key"] = (
            "This is a public default credential of clearml-server: replace it "
            "(CLEARML__SECURE__CREDENTIALS__APISERVER__USER_KEY/USER_SECRET) first."
        )
    if not system_secret_key:
        errors["system_secret_key"] = "Give the secret key of the server's system credential."
    if errors:
        raise ValidationError(errors)


def _workspace_id(link: UpstreamLink) -> str:
    return link.workspace_id.hex


# --- the process cache of links -----------------------------------------------------------------


def _load_links() -> dict[str, Upstream]:
    if settings.CLEARML_UPSTREAM_API_URL and settings.PORTAL_SINGLE_WORKSPACE:
        try:
            env_link_ensure()
        except Exception:  # a bad environment must not stop the API: the link shows the error
            logger.exception("could not link the workspace to CLEARML_UPSTREAM_API_URL")
    found = {}
    for link in UpstreamLink.objects.dangerously_all():
        found[_workspace_id(link)] = Upstream(
            link_id=link.pk,
            workspace_id=_workspace_id(link),
            url=link.url,
            token_secret=link.token_secret,
            system_access_key=link.system_access_key,
            system_secret_key=link.system_secret_key,
            company_id=link.company_id,
            company_name=link.company_name,
            server_version=link.server_version,
            api_version=link.api_version,
        )
    return found


def upstream_for(workspace_id: str | None) -> Upstream | None:
    """The upstream of WORKSPACE_ID (hex), from the process cache."""
    if not workspace_id:
        return None
    return cache.links(_load_links).get(workspace_id)


def any_linked() -> bool:
    return bool(cache.links(_load_links))


# --- linking ----------------------------------------------------------------------------------


def link_check(link: UpstreamLink, *, save: bool = True) -> UpstreamLink:
    """Ask the server who it is: log in with the system credential, verify the token it returns
    with the token secret (so a wrong secret is caught now, not on the first forwarded call),
    read its company, then server.info. Records reachable/last_error/checked_at."""
    link.checked_at = timezone.now()
    before = (link.company_id, link.company_name, link.api_version, link.server_version)
    try:
        reply = client.call(
            link.url,
            "auth.login",
            basic=(link.system_access_key, link.system_secret_key),
            read_timeout=CHECK_TIMEOUT,
        )
        if reply.status != 200 or not isinstance(reply.data.get("token"), str):
            raise _CheckFailed(f"the system credential was refused ({reply.message})")
        try:
            claims = tokens.verify(link.token_secret, reply.data["token"])
        except (JoseError, ValueError) as exc:
            raise _CheckFailed(
                "the token secret does not match this server's secure.auth.token_secret "
                f"(its token did not verify: {exc})"
            ) from None
        identity = claims.get("identity") or {}
        if identity.get("role") not in PROVISIONING_ROLES:
            raise _CheckFailed(
                f"the system credential has the role {identity.get('role')!r}: it cannot create users "
                "(use the apiserver's system credential)"
            )
        link.company_id = str(identity.get("company") or "")
        link.company_name = str(identity.get("company_name") or "")
        if link.pk:
            cache.remember_system_token(link.pk, reply.data["token"])
        info = client.call(link.url, "server.info", token=reply.data["token"], read_timeout=CHECK_TIMEOUT)
        if info.ok:
            link.server_version = str(info.data.get("version") or "")[:40]
            link.api_version = str(info.data.get("api_version") or "")[:20]
        link.reachable, link.last_error = True, ""
    except UpstreamUnavailable as exc:
        link.reachable, link.last_error = False, f"{exc} ({link.url})"
    except _CheckFailed as exc:
        link.reachable, link.last_error = False, str(exc)
    if save and link.pk:
        try:
            with transaction.atomic():
                link.save()
        except IntegrityError:
            raise ValidationError(_company_taken(link)) from None
        if before != (link.company_id, link.company_name, link.api_version, link.server_version):
            transaction.on_commit(lambda: cache.publish_link_changed(_workspace_id(link)))
    return link


class _CheckFailed(Exception):
    pass


def _company_taken(link: UpstreamLink) -> str:
    other = (
        UpstreamLink.objects.dangerously_all()
        .select_related("workspace")
        .filter(token_secret_fingerprint=link.token_secret_fingerprint, company_id=link.company_id)
        .exclude(pk=link.pk)
        .first()
    )
    where = f" (workspace {other.workspace.slug})" if other else ""
    return (
        f"The company {link.company_name or link.company_id} of this ClearML server is already linked to another "
        f"workspace{where}: a server's company serves one workspace, or both would see each other's work."
    )


@transaction.atomic
def link_create(
    *,
    workspace: Workspace,
    url: str,
    token_secret: str,
    system_access_key: str,
    system_secret_key: str,
    actor=None,
    source: str = LinkSource.COMMAND,
    require_reachable: bool = True,
) -> UpstreamLink:
    """Link WORKSPACE to the ClearML server at URL (or update its link), once the server has
    proved it is reachable with these secrets. Raises ValidationError and changes nothing otherwise.

    REQUIRE_REACHABLE=False (the environment's link) stores it even when the server does not
    answer yet: its calls get 502 until it does, and the status shows why."""
    url = _clean_url(url)
    _clean_secrets(
        token_secret=token_secret, system_access_key=system_access_key, system_secret_key=system_secret_key
    )
    link = UpstreamLink.objects.select_for_update().filter(workspace=workspace).first()
    previous = {"url": link.url, "company": link.company_id} if link else None
    link = link or UpstreamLink(workspace=workspace)
    link.url = url
    link.token_secret = token_secret
    link.token_secret_fingerprint = fingerprint(token_secret)
    link.system_access_key = system_access_key
    link.system_secret_key = system_secret_key
    link.source = source
    link.created_by = link.created_by or actor
    link_check(link, save=False)
    if not link.reachable and require_reachable:
        raise ValidationError(f"Cannot link {workspace.slug} to {url}: {link.last_error}")
    if link.company_id and (
        UpstreamLink.objects.dangerously_all()
        .filter(token_secret_fingerprint=link.token_secret_fingerprint, company_id=link.company_id)
        .exclude(pk=link.pk)
        .exists()
    ):
        raise ValidationError(_company_taken(link))
    if previous and previous["company"] != link.company_id:
        link.users.all().delete()  # another server: its users are not these
    try:
        with transaction.atomic():
            link.save()
    except IntegrityError:
        raise ValidationError(_company_taken(link)) from None
    audit_log(
        actor=actor,
        action="upstream.link",
        workspace=workspace,
        target=link,
        target_label=url,
        before=previous,
        after={"url": url, "company": link.company_id, "company_name": link.company_name},
    )
    transaction.on_commit(lambda: cache.publish_link_changed(workspace.id.hex))
    return link


@transaction.atomic
def link_remove(*, workspace: Workspace, actor=None) -> bool:
    """Unlink WORKSPACE: its calls are no longer forwarded (404, as standalone). The upstream
    keeps its users and their work; linking the same server again maps the same users anew."""
    link = UpstreamLink.objects.filter(workspace=workspace).first()
    if link is None:
        return False
    url = link.url
    link.delete()
    audit_log(
        actor=actor, action="upstream.unlink", workspace=workspace, target_label=url, before={"url": url}
    )
    transaction.on_commit(lambda: cache.publish_link_changed(workspace.id.hex))
    return True


def env_workspace() -> Workspace | None:
    """The workspace CLEARML_UPSTREAM_* configure: CLEARML_UPSTREAM_WORKSPACE (a slug), else the
    oldest shared (not personal) workspace, else the oldest workspace."""
    workspaces = Workspace.objects.order_by("created_at", "slug")
    if settings.CLEARML_UPSTREAM_WORKSPACE:
        return workspaces.filter(slug=settings.CLEARML_UPSTREAM_WORKSPACE).first()
    return workspaces.filter(is_personal=False).first() or workspaces.first()


def env_link_ensure() -> UpstreamLink | None:
    """The link the environment describes, made or updated when it differs from the stored one."""
    workspace = env_workspace()
    if workspace is None:
        return None
    link = UpstreamLink.objects.filter(workspace=workspace).first()
    wanted_fingerprint = fingerprint(settings.CLEARML_UPSTREAM_TOKEN_SECRET)
    if (
        link is not None
        and link.url == settings.CLEARML_UPSTREAM_API_URL
        and link.token_secret_fingerprint == wanted_fingerprint
        and link.system_access_key == settings.CLEARML_UPSTREAM_SYSTEM_ACCESS_KEY
        and link.system_secret_key == settings.CLEARML_UPSTREAM_SYSTEM_SECRET_KEY
    ):
        return link
    try:
        return link_create(
            workspace=workspace,
            url=settings.CLEARML_UPSTREAM_API_URL,
            token_secret=settings.CLEARML_UPSTREAM_TOKEN_SECRET,
            system_access_key=settings.CLEARML_UPSTREAM_SYSTEM_ACCESS_KEY,
            system_secret_key=settings.CLEARML_UPSTREAM_SYSTEM_SECRET_KEY,
            source=LinkSource.ENVIRONMENT,
            require_reachable=False,
        )
    except ValidationError as exc:
        logger.warning("CLEARML_UPSTREAM_API_URL: %s", " ".join(exc.messages))
        return link


_rechecked: dict[int, float] = {}
RECHECK_INTERVAL = 10.0


def link_recheck(upstream: Upstream) -> bool:
    """For a link whose server never answered: check again (at most every RECHECK_INTERVAL
    seconds per process); True when it now knows its company (the cache is refreshed)."""
    now = time.monotonic()
    if now - _rechecked.get(upstream.link_id, -RECHECK_INTERVAL) < RECHECK_INTERVAL:
        return False
    _rechecked[upstream.link_id] = now
    link = UpstreamLink.objects.filter(pk=upstream.link_id).first()
    if link is None:
        return False
    try:
        with transaction.atomic():
            link_check(link)
    except ValidationError as exc:
        UpstreamLink.objects.filter(pk=link.pk).update(last_error=" ".join(exc.messages), reachable=False)
        return False
    if link.company_id:
        cache.link_changed()  # this process at once; the others by the message sent on commit
    return bool(link.company_id)


# --- the status (command, panel) ----------------------------------------------------------------


def link_status(workspace: Workspace, *, check: bool = False) -> dict:
    """What `portal_upstream status` prints and the panel shows (CHECK: ask the server now)."""
    link = UpstreamLink.objects.filter(workspace=workspace).first()
    if link is None:
        return {
            "workspace": workspace.slug,
            "url": None,
            "reachable": None,
            "server_version": None,
            "api_version": None,
            "company": None,
            "users_mapped": 0,
            "last_error": None,
        }
    if check:
        link = link_check(link)
    return {
        "workspace": workspace.slug,
        "url": link.url,
        "reachable": link.reachable,
        "server_version": link.server_version or None,
        "api_version": link.api_version or None,
        "company": {"id": link.company_id, "name": link.company_name} if link.company_id else None,
        "users_mapped": link.users.count(),
        "last_error": link.last_error or None,
        "checked_at": link.checked_at,
        "source": link.source,
    }


# --- upstream users -------------------------------------------------------------------------------


def _system_token(upstream: Upstream, *, fresh: bool = False) -> str:
    token = None if fresh else cache.system_token(upstream.link_id)
    if token:
        return token
    reply = client.call(
        upstream.url, "auth.login", basic=(upstream.system_access_key, upstream.system_secret_key)
    )
    if reply.status != 200 or not isinstance(reply.data.get("token"), str):
        raise ProvisioningFailed(f"the ClearML server refused the system credential ({reply.message})")
    cache.remember_system_token(upstream.link_id, reply.data["token"])
    return reply.data["token"]


def _system_call(upstream: Upstream, endpoint: str, data: dict) -> client.Reply:
    reply = client.call(upstream.url, endpoint, data, token=_system_token(upstream))
    if reply.status == 401:  # the system token expired or the server restarted with new secrets
        reply = client.call(upstream.url, endpoint, data, token=_system_token(upstream, fresh=True))
    return reply


def system_call(upstream: Upstream, endpoint: str, data: dict) -> client.Reply:
    """ENDPOINT called on UPSTREAM with its system credential (Access Rules read the server's
    objects this way); raises UpstreamUnavailable or ProvisioningFailed."""
    return _system_call(upstream, endpoint, data)


def identity_for(upstream: Upstream, user_id: str) -> UpstreamIdentity:
    """The upstream user of the portal user USER_ID (hex) at UPSTREAM: from the process cache,
    else the stored mapping (one query), else a new upstream user (auth.create_user), stored.
    Raises UpstreamUnavailable or ProvisioningFailed."""
    found = cache.identity(upstream.link_id, user_id)
    if found is not None:
        return found
    row = UpstreamUser.objects.filter(link_id=upstream.link_id, user_id=user_id).first()
    if row is None:
        row = _provision(upstream, user_id)
    found = UpstreamIdentity(row.upstream_id, row.name)
    cache.remember_identity(upstream.link_id, user_id, found)
    return found


def _provision(upstream: Upstream, user_id: str) -> UpstreamUser:
    if not upstream.company_id:
        raise ProvisioningFailed("the ClearML server's company is not known yet (run portal_upstream status)")
    user = get_user_model().objects.filter(pk=user_id).first()
    if user is None:
        raise ProvisioningFailed("unknown user")
    with transaction.atomic():
        # One provisioning at a time per link (every process): no user is created twice.
        UpstreamLink.objects.select_for_update().filter(pk=upstream.link_id).first()
        row = UpstreamUser.objects.filter(link_id=upstream.link_id, user=user).first()
        if row is not None:
            return row
        data = {
            "name": user.username,
            "company": upstream.company_id,
            "email": user.email,
            "role": tokens.ROLE,
            "given_name": user.username,
        }
        reply = _system_call(upstream, "auth.create_user", data)
        upstream_id = reply.data.get("id")
        if reply.status != 200 or not isinstance(upstream_id, str) or not upstream_id:
            raise ProvisioningFailed(
                f"the ClearML server did not create the user {user.username} ({reply.message})"
            )
        return UpstreamUser.objects.create(
            link_id=upstream.link_id, user=user, upstream_id=upstream_id, name=user.username
        )


def portal_user_for(upstream: Upstream, upstream_id: str) -> str | None:
    """The portal user (hex) an upstream user id of UPSTREAM stands for, or None."""
    found = cache.alias(upstream.link_id, upstream_id)
    if found is not None:
        return found
    row = UpstreamUser.objects.filter(link_id=upstream.link_id, upstream_id=upstream_id).first()
    if row is None:
        return None
    cache.remember_identity(upstream.link_id, row.user_id.hex, UpstreamIdentity(row.upstream_id, row.name))
    return row.user_id.hex


def upstream_user_list(*, workspace: Workspace) -> list[dict]:
    """The users the workspace's ClearML server knows (users.get_all with the system credential),
    each with the portal user it is mapped to: [{"id", "name", "mapped_to"}] (mapped_to an email or
    None). Raises ValidationError when not linked, UpstreamUnavailable or ProvisioningFailed."""
    upstream = _linked_upstream(workspace)
    reply = _system_call(upstream, "users.get_all", {"only_fields": ["id", "name"]})
    if reply.status != 200:
        raise ProvisioningFailed(f"the ClearML server did not list its users ({reply.message})")
    mapped = dict(
        UpstreamUser.objects.filter(link_id=upstream.link_id).values_list("upstream_id", "user__email")
    )
    users = [u for u in reply.data.get("users") or [] if isinstance(u, dict) and isinstance(u.get("id"), str)]
    return [
        {"id": u["id"], "name": u.get("name") or "", "mapped_to": mapped.get(u["id"])}
        for u in sorted(users, key=lambda u: (str(u.get("name") or "").lower(), u["id"]))
    ]


def user_map(
    *, workspace: Workspace, user, upstream_id: str, actor=None, replace: bool = False
) -> UpstreamUser:
    """Map the portal user USER to the ClearML server's existing user UPSTREAM_ID (someone who used
    the server before the portal fronted it keeps their projects and tasks). With REPLACE, a user
    already mapped (e.g. provisioned anew at a first call) is moved to UPSTREAM_ID. Raises
    ValidationError and changes nothing when the link, the user or the upstream user does not
    fit; UpstreamUnavailable or ProvisioningFailed when the server does not answer."""
    upstream = _linked_upstream(workspace)
    if not is_member(workspace=workspace, user=user):
        raise ValidationError(f"{user.email} is not a member of {workspace.slug}")
    upstream_id = (upstream_id or "").strip()
    reply = _system_call(upstream, "users.get_by_id", {"user": upstream_id})
    if reply.status == 400:
        raise ValidationError(f"The ClearML server has no user {upstream_id!r}")
    if reply.status != 200 or not isinstance(reply.data.get("user"), dict):
        raise ProvisioningFailed(
            f"the ClearML server did not answer for user {upstream_id} ({reply.message})"
        )
    name = str(reply.data["user"].get("name") or user.username)
    with transaction.atomic():
        UpstreamLink.objects.select_for_update().filter(pk=upstream.link_id).first()
        taken = (
            UpstreamUser.objects.select_related("user")
            .filter(link_id=upstream.link_id, upstream_id=upstream_id)
            .first()
        )
        if taken is not None and taken.user_id != user.pk:
            raise ValidationError(f"The ClearML user {upstream_id} is already mapped to {taken.user.email}")
        row = UpstreamUser.objects.filter(link_id=upstream.link_id, user=user).first()
        before = {"upstream_user": row.upstream_id} if row else None
        if row is not None and row.upstream_id != upstream_id and not replace:
            raise ValidationError(
                f"{user.email} is already mapped to the ClearML user {row.upstream_id}; "
                "pass --replace to map them to the other one"
            )
        if row is None:
            row = UpstreamUser.objects.create(
                link_id=upstream.link_id, user=user, upstream_id=upstream_id, name=name
            )
        else:
            row.upstream_id, row.name = upstream_id, name
            row.save(update_fields=["upstream_id", "name"])
        audit_log(
            actor=actor,
            action="upstream.user_map",
            workspace=workspace,
            target=user,
            target_label=user.email,
            before=before,
            after={"upstream_user": upstream_id},
        )
        transaction.on_commit(lambda: cache.publish_user_changed(user.pk.hex))
    return row


def _linked_upstream(workspace: Workspace) -> Upstream:
    upstream = upstream_for(workspace.id.hex)
    if upstream is None:
        raise ValidationError(f"{workspace.slug} is not linked to a ClearML server")
    return upstream


def user_renamed(user) -> None:
    """Push USER's new name to every upstream that knows them (users.update with the system
    credential); a failure is logged on the link and retried at the next rename."""
    rows = list(UpstreamUser.objects.select_related("link").filter(user=user).exclude(name=user.username))
    for row in rows:
        upstream = upstream_for(row.link.workspace_id.hex)
        if upstream is None:
            continue
        try:
            reply = _system_call(upstream, "users.update", {"user": row.upstream_id, "name": user.username})
            if reply.status != 200:
                raise ProvisioningFailed(reply.message)
        except (UpstreamUnavailable, ProvisioningFailed) as exc:
            UpstreamLink.objects.filter(pk=row.link_id).update(
                last_error=f"renaming {user.username} upstream failed: {exc}"
            )
            continue
        UpstreamUser.objects.filter(pk=row.pk).update(name=user.username)
    if rows:
        cache.publish_user_changed(user.pk.hex)
