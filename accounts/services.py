import re

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from workspaces.audit import audit_log, changes
from workspaces.selectors import personal_workspace_get
from workspaces.services import workspace_create

from .models import CloudAccess, User, UserPreferences

USERNAME_RE = re.compile(r"^[\w.@+\- ]+$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_HIDDEN_ARGS = 100
PREFERENCE_FIELDS = (
    "show_hidden_projects",
    "hide_examples",
    "disable_hidpi_override",
    "hide_pro_tips",
    "block_scripts",
    "share_telemetry",
)


def validate_username(username: str, *, exclude: User | None = None) -> str:
    username = (username or "").strip()
    if not username:
        raise ValidationError({"username": "Enter a username."})
    if len(username) > 64:
        raise ValidationError({"username": "Use at most 64 characters."})
    if not USERNAME_RE.match(username):
        raise ValidationError({"username": "Use letters, digits, spaces and . @ + - _ only."})
    clash = User.objects.filter(username__iexact=username)
    if exclude is not None:
        clash = clash.exclude(pk=exclude.pk)
    if clash.exists():
        raise ValidationError({"username": "That username is taken."})
    return username


@transaction.atomic
def user_create(
    *,
    email: str,
    password: str | None,
    username: str | None = None,
    workspace_name: str | None = None,
    is_staff: bool = False,
    actor=None,
) -> User:
    """Create a user with preferences and a personal workspace (named WORKSPACE_NAME if given)."""
    email = User.objects.normalize_email((email or "").strip()).lower()
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError({"email": "Enter a valid email address."}) from None
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationError({"email": "A user with that email already exists."})
    base = username or email.split("@")[0]
    if username:
        username = validate_username(username)
    else:
        username, n = base[:60], 1
        while User.objects.filter(username__iexact=username).exists():
            n += 1
            username = f"{base[:56]}-{n}"
    user = User.objects.create_user(
        email=email, password=password, username=username, is_staff=is_staff, is_superuser=is_staff
    )
    UserPreferences.objects.create(user=user)
    workspace = workspace_create(
        owner=user, name=workspace_name or f"{username}'s workspace", personal=True, actor=actor
    )
    audit_log(
        actor=actor or user,
        workspace=workspace,
        action="user.create",
        target=user,
        target_label=email,
        after={"username": username, "admin": is_staff},
    )
    return user


def preferences_get(*, user: User) -> UserPreferences:
    prefs, _ = UserPreferences.objects.get_or_create(user=user)
    return prefs


@transaction.atomic
def user_change_username(*, user: User, username: str) -> User:
    username = validate_username(username, exclude=user)
    before, after = changes({"username": user.username}, {"username": username})
    if after:
        user.username = username
        user.save(update_fields=["username"])
        audit_log(
            actor=user,
            workspace=personal_workspace_get(user=user),
            action="user.rename",
            target=user,
            target_label=user.email,
            before=before,
            after=after,
        )
    return user


@transaction.atomic
def preferences_update(*, user: User, **values: bool) -> UserPreferences:
    prefs = preferences_get(user=user)
    unknown = set(values) - set(PREFERENCE_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown preference: {', '.join(sorted(unknown))}")
    old = {field: getattr(prefs, field) for field in values}
    before, after = changes(old, {field: bool(value) for field, value in values.items()})
    if after:
        for field, value in after.items():
            setattr(prefs, field, value)
        prefs.save(update_fields=[*after, "updated_at"])
        audit_log(
            actor=user,
            workspace=personal_workspace_get(user=user),
            action="preferences.update",
            target=prefs,
            before=before,
            after=after,
        )
    return prefs


def parse_hidden_args(text: str) -> list[str]:
    """Names from TEXT, one per line or comma-separated; raises ValidationError naming the bad entries.

    An entry is taken whole: `bad name!` is one bad entry, never the name `bad` plus garbage.
    """
    names: list[str] = []
    bad: list[str] = []
    for raw in re.split(r"[\r\n,]+", text or ""):
        name = raw.strip()
        if not name:
            continue
        if not ENV_NAME_RE.match(name) or len(name) > 128:
            bad.append(name)
        elif name not in names:
            names.append(name)
    if bad:
        quoted = ", ".join(f"“{entry[:40]}”" for entry in bad[:3])
        if len(bad) > 3:
            quoted += f" and {len(bad) - 3} more"
        verb = (
            "is not an environment variable name" if len(bad) == 1 else "are not environment variable names"
        )
        raise ValidationError(
            {
                "names": f"{quoted} {verb}. A name has letters, digits and underscores, no spaces, and does not start with a digit."
            }
        )
    if len(names) > MAX_HIDDEN_ARGS:
        raise ValidationError({"names": f"At most {MAX_HIDDEN_ARGS} names."})
    return names


@transaction.atomic
def hidden_args_update(*, user: User, names: list[str]) -> UserPreferences:
    prefs = preferences_get(user=user)
    before, after = changes(
        {"hidden_container_args": prefs.hidden_container_args}, {"hidden_container_args": names}
    )
    if after:
        prefs.hidden_container_args = names
        prefs.save(update_fields=["hidden_container_args", "updated_at"])
        audit_log(
            actor=user,
            workspace=personal_workspace_get(user=user),
            action="preferences.hidden_args",
            target=prefs,
            before=before,
            after=after,
        )
    return prefs


def _cloud_snapshot(entry: CloudAccess) -> dict:
    return {"bucket": entry.bucket, "key": entry.key, "region": entry.region, "endpoint": entry.endpoint}


@transaction.atomic
def cloud_access_save(
    *,
    user: User,
    bucket: str,
    key: str,
    secret: str,
    region: str,
    endpoint: str,
    entry: CloudAccess | None = None,
) -> CloudAccess:
    """Create or update a storage entry. An empty SECRET on update keeps the stored one."""
    creating = entry is None
    # Compare with the stored row, not with ENTRY: a bound ModelForm may already have
    # copied the new values onto the instance it was given.
    entry = (
        CloudAccess(user=user)
        if creating
        else CloudAccess.objects.select_for_update().get(pk=entry.pk, user=user)
    )
    old = _cloud_snapshot(entry)
    entry.bucket, entry.key, entry.region, entry.endpoint = bucket, key, region, endpoint
    secret_changed = bool(secret)
    if secret_changed:
        entry.secret = secret
    clash = CloudAccess.objects.filter(user=user, bucket=bucket, endpoint=endpoint).exclude(pk=entry.pk)
    if clash.exists():
        raise ValidationError({"bucket": "You already have an entry for this bucket and endpoint."})
    entry.save()
    before, after = changes(old, _cloud_snapshot(entry))
    if secret_changed:
        after["secret"] = "changed"
    audit_log(
        actor=user,
        workspace=personal_workspace_get(user=user),
        action="cloud_access.create" if creating else "cloud_access.update",
        target=entry,
        before=None if creating else before,
        after=after,
    )
    return entry


@transaction.atomic
def cloud_access_delete(*, user: User, entry: CloudAccess) -> None:
    snapshot = _cloud_snapshot(entry)
    audit_log(
        actor=user,
        workspace=personal_workspace_get(user=user),
        action="cloud_access.delete",
        target=entry,
        before=snapshot,
    )
    entry.delete()
