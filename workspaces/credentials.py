"""ClearML credentials: generation, storage as keyed hashes, and who may manage which.

Key formats follow the open-source ClearML server: a 30-character access key of
A-Z0-9 and a `secrets.token_urlsafe(50)` secret that does not start with - or _.
"""

import secrets
import string
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from settings_portal.crypto import hashes_match, keyed_hash

from . import revocation
from .audit import audit_log
from .models import Credential, Membership, Workspace

ACCESS_KEY_ALPHABET = string.ascii_uppercase + string.digits
ACCESS_KEY_LENGTH = 30
MAX_LABEL_LENGTH = 255


def generate_access_key() -> str:
    return "".join(secrets.choice(ACCESS_KEY_ALPHABET) for _ in range(ACCESS_KEY_LENGTH))


def generate_secret_key() -> str:
    while True:
        secret = secrets.token_urlsafe(50)
        if secret[0] not in "-_":
            return secret


def secret_matches(credential: Credential, secret: str) -> bool:
    """Constant-time check of SECRET against the stored keyed hash."""
    return hashes_match(secret, credential.secret_hash)


def credential_for_key_pair(access_key: str, secret_key: str) -> Credential | None:
    """The active credential of a key pair (its user active), with its user, workspace and the
    user's role there (`member_role`, None if no longer a member), in one query; None when the
    key is unknown or the secret does not match (the one key-pair check of the portal)."""
    role = Membership.objects.filter(workspace=OuterRef("workspace_id"), user=OuterRef("user_id")).values(
        "role"
    )
    found = list(
        Credential.objects.select_related("user", "workspace")
        .filter(access_key=access_key, revoked_at__isnull=True, user__is_active=True)
        .annotate(member_role=Subquery(role[:1]))
        .order_by()[:1]
    )
    credential = found[0] if found else None
    # Compare against a dummy when the key is unknown, so timing does not tell keys apart.
    matches = hashes_match(secret_key, credential.secret_hash if credential else keyed_hash("no such key"))
    if credential is None or not matches:
        return None
    # The row just read is the database's word on revocation; no cache check needed.
    return credential


def clean_label(label: str | None) -> str:
    label = (label or "").strip()
    if len(label) > MAX_LABEL_LENGTH:
        raise ValidationError({"label": f"Use at most {MAX_LABEL_LENGTH} characters."})
    if any(ch in label for ch in "\r\n\x00"):
        raise ValidationError({"label": "A label is a single line of text."})
    return label


def can_manage(*, credential: Credential, actor, membership: Membership | None) -> bool:
    """The spec's rule: any credentials in a workspace you administer (your own workspace),
    and the ones you created (or that are yours) in other workspaces."""
    if credential.created_by_id == actor.pk or credential.user_id == actor.pk:
        return True
    return (
        membership is not None and membership.workspace_id == credential.workspace_id and membership.is_admin
    )


def credential_list(*, workspace: Workspace, viewer, membership: Membership | None) -> QuerySet[Credential]:
    """Active credentials of WORKSPACE that VIEWER may see: all for admins, else their own."""
    credentials = Credential.objects.for_workspace(workspace).active().select_related("user", "created_by")
    if membership is not None and membership.is_admin:
        return credentials
    return credentials.filter(user=viewer) | credentials.filter(created_by=viewer)


@transaction.atomic
def credential_create(*, workspace: Workspace, actor, label: str = "", user=None) -> tuple[Credential, str]:
    """Create a key pair for USER (default: ACTOR) in WORKSPACE; returns it and the plain secret, once.

    ACTOR must be a member of WORKSPACE (the caller has checked it through scoping).
    """
    label = clean_label(label)
    owner = user or actor
    if not Membership.objects.filter(workspace=workspace, user=owner).exists():
        raise PermissionDenied("Credentials can only be created for a member of the workspace.")
    secret = generate_secret_key()
    credential = Credential.objects.create(
        workspace=workspace,
        user=owner,
        created_by=actor,
        access_key=generate_access_key(),
        secret_hash=keyed_hash(secret),
        label=label,
    )
    audit_log(
        actor=actor,
        action="credential.create",
        workspace=workspace,
        target=credential,
        after={"label": label, "user": owner.email},
    )
    return credential, secret


def _check_manage(credential: Credential, actor) -> None:
    membership = Membership.objects.filter(workspace=credential.workspace_id, user=actor).first()
    if not can_manage(credential=credential, actor=actor, membership=membership):
        raise PermissionDenied(
            "You may only change credentials you created, or any in a workspace you administer."
        )


@transaction.atomic
def credential_edit_label(*, credential: Credential, actor, label: str) -> Credential:
    _check_manage(credential, actor)
    label = clean_label(label)
    if credential.is_revoked:
        raise ValidationError("These credentials were revoked.")
    if label != credential.label:
        before = {"label": credential.label}
        credential.label = label
        credential.save(update_fields=["label"])
        audit_log(
            actor=actor,
            action="credential.edit",
            workspace=credential.workspace,
            target=credential,
            before=before,
            after={"label": label},
        )
    return credential


@transaction.atomic
def credential_revoke(*, credential: Credential, actor, check: bool = True) -> Credential:
    """Revoke irrecoverably. Tokens issued for it stop working at once (see credential_revoked)."""
    if check:
        _check_manage(credential, actor)
    if not credential.is_revoked:
        credential.revoked_at = timezone.now()
        credential.save(update_fields=["revoked_at"])
        audit_log(
            actor=actor,
            action="credential.revoke",
            workspace=credential.workspace,
            target=credential,
            after={"label": credential.label, "user": credential.user.email},
        )
        transaction.on_commit(lambda: credential_revoked(credential.pk))
    return credential


def credential_revoked(credential_id: int) -> None:
    """Hook called after a revoke commits; the API's revocation cache listens here."""
    revocation.publish_revoked(credential_id)


@transaction.atomic
def credentials_revoke_for_member(*, workspace: Workspace, user, actor) -> int:
    """Revoke every active credential USER has in WORKSPACE (leaving, being removed, a service
    account deleted): their tokens stop at once. Impersonation grants by or of USER are access's,
    revoked by its receiver of workspaces.hooks.membership_removed."""
    count = 0
    for credential in Credential.objects.for_workspace(workspace).active().filter(user=user):
        credential_revoke(credential=credential, actor=actor, check=False)
        count += 1
    return count


def files_server_url() -> str:
    """The files_server the dialog prints: PORTAL_FILES_URL, else the one the ClearML SDK
    itself derives from the web address when none is configured (its
    Session.get_files_server_host: the port becomes 8081; "app." becomes "files.";
    else ":8081" is added).

    Leaving it out is not an option: `clearml-init` then asks "Files configured to:"
    on the terminal whenever it cannot guess the address (any web address on a
    port other than 80/443/8008/8080), so the pasted text is not accepted as is.
    Printing the SDK's own default changes nothing for the SDK and lets the paste work.
    """
    if settings.PORTAL_FILES_URL:
        return settings.PORTAL_FILES_URL
    parts = urlsplit(settings.PORTAL_BASE_URL)
    netloc = parts.netloc
    if parts.port:
        netloc = netloc.replace(f":{parts.port}", ":8081", 1)
    elif netloc.startswith("app."):
        netloc = "files." + netloc[len("app.") :]
    else:
        netloc += ":8081"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def configuration_text(*, credential: Credential, secret: str) -> str:
    """The ready-to-copy `api { ... }` section of clearml.conf (exact shape in docs/clearml-clients.md).

    `clearml-init` accepts a paste of it as is: its last line is exactly `}`, the
    three URLs differ and `api_server` starts with http (tests/realclient prove it).
    """
    lines = ["api {"]
    if credential.label:
        lines.append(f"  # {credential.label}")
    lines += [
        f"  web_server: {settings.PORTAL_BASE_URL}/",
        f"  api_server: {settings.PORTAL_API_URL}",
        f"  files_server: {files_server_url()}",
        "  credentials {",
        f'    "access_key" = "{credential.access_key}"',
        f'    "secret_key" = "{secret}"',
        "  }",
        "}",
    ]
    return "\n".join(lines)


def jupyter_text(*, credential: Credential, secret: str) -> str:
    return "\n".join(
        [
            f"%env CLEARML_WEB_HOST={settings.PORTAL_BASE_URL}/",
            f"%env CLEARML_API_HOST={settings.PORTAL_API_URL}",
            f"%env CLEARML_FILES_HOST={files_server_url()}",
            f"%env CLEARML_API_ACCESS_KEY={credential.access_key}",
            f"%env CLEARML_API_SECRET_KEY={secret}",
        ]
    )
