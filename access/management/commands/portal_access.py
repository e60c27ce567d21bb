"""Access Rules, for operators and scripts: `manage.py portal_access add-rule|list|delete|explain`.

    portal_access add-rule --workspace SLUG --type project|task|model|dataset|dataview|queue
        [--object NAME_OR_ID] --permission read|modify
        (--user EMAIL | --service-account NAME | --group NAME)... [--json]
    portal_access list --workspace SLUG [--type T] [--json]
    portal_access delete --workspace SLUG --id ID
    portal_access explain --workspace SLUG (--user EMAIL | --service-account NAME) --type T
        --object NAME_OR_ID [--json]

Without --object a rule covers every object of the type. Objects named by name are looked up on
the workspace's ClearML server (its portal queues and jobs when it has none); an unknown or
ambiguous name is an error that changes nothing. Changes are audited with the actor "system".
"""

from django.core.management.base import CommandError

from access import selectors, services
from access.kinds import ObjectRef, ObjectsUnavailable, kind_for
from access.models import AccessRule, ServiceAccount, UserGroup
from access.permissions import explain
from accounts.models import User
from settings_portal.commands import SubcommandCommand
from workspaces.models import Workspace
from workspaces.selectors import membership_find

TYPES = AccessRule.ResourceType.values
PERMISSIONS = {"read": AccessRule.Permission.READ.value, "modify": AccessRule.Permission.READ_MODIFY.value}


def _workspace(slug: str) -> Workspace:
    workspace = Workspace.objects.filter(slug=slug).first()
    if workspace is None:
        raise CommandError(f"No workspace with the slug {slug!r}.")
    return workspace


def _kind(workspace: Workspace, resource_type: str):
    kind = kind_for(workspace, resource_type)
    if kind is None:
        raise CommandError(
            f"{workspace.slug} has no {resource_type}s: it is not linked to a ClearML server "
            "(manage.py portal_upstream link)."
        )
    return kind


def resolve_object(workspace: Workspace, resource_type: str, value: str) -> tuple[str, str]:
    """(id, name) of the object of RESOURCE_TYPE that VALUE names (its id, or its exact name)."""
    kind = _kind(workspace, resource_type)
    value = (value or "").strip()
    if not value:
        raise CommandError("--object is empty.")
    try:
        by_id = kind.names(workspace=workspace, ids=[value]) if kind.names else {}
    except Exception as exc:  # the server is down: say so, change nothing
        raise CommandError(f"The ClearML server could not be asked: {exc}") from None
    if by_id:
        object_id, name = next(iter(by_id.items()))
        return str(object_id), name
    if resource_type == AccessRule.ResourceType.DATAVIEW:
        raise CommandError("Dataviews are named by id (the connected server has none to look up).")
    try:
        found = kind.search(workspace=workspace, query=value, limit=200) if kind.search else []
    except ObjectsUnavailable as exc:  # the server is down: say so, change nothing
        raise CommandError(f"The ClearML server could not be asked: {exc}") from None

    def short(label: str) -> str:  # "cats (Vision)" -> "cats"; "Vision/Detection" -> "Detection"
        return label.split(" (")[0].split("/")[-1]

    exact = [(str(pk), label) for pk, label in found if label == value]
    if not exact:
        exact = [(str(pk), label) for pk, label in found if short(label) == value]
    if not exact:
        exact = [(str(pk), label) for pk, label in found if label.lower() == value.lower()]
    if not exact:
        raise CommandError(f"No {resource_type} named or with the id {value!r} in {workspace.slug}.")
    if len(exact) > 1:
        ids = ", ".join(f"{pk} ({label})" for pk, label in exact[:10])
        raise CommandError(f"{value!r} names {len(exact)} {resource_type}s: {ids}. Give the id instead.")
    return exact[0]


def _member_user(workspace: Workspace, email: str) -> User:
    user = User.objects.filter(email__iexact=(email or "").strip(), memberships__workspace=workspace).first()
    if user is None:
        raise CommandError(f"No member of {workspace.slug} with the email {email!r}.")
    return user


def _service_account(workspace: Workspace, name: str) -> User:
    account = (
        ServiceAccount.objects.for_workspace(workspace).filter(name__iexact=(name or "").strip()).first()
    )
    if account is None:
        raise CommandError(f"No service account named {name!r} in {workspace.slug}.")
    return account.user


def _group(workspace: Workspace, name: str) -> UserGroup:
    group = UserGroup.objects.for_workspace(workspace).filter(name__iexact=(name or "").strip()).first()
    if group is None:
        raise CommandError(f"No group named {name!r} in {workspace.slug}.")
    return group


def rule_json(row) -> dict:
    rule = row.rule
    return {
        "id": rule.pk,
        "type": rule.resource_type,
        "object": None if rule.object_id is None else {"id": rule.object_id, "name": row.object_label},
        "permission": "modify" if rule.permission == AccessRule.Permission.READ_MODIFY else "read",
        "users": [u.email for u in row.users],
        "service_accounts": [
            getattr(u, "service_account", None) and u.service_account.name for u in row.service_accounts
        ],
        "groups": [g.name for g in row.groups],
    }


class Command(SubcommandCommand):
    help = "Add, list, delete and explain the Access Rules of a workspace."

    def add_subcommands(self, subparsers) -> None:
        add = subparsers.add_parser("add-rule", help="Add an access rule.")
        add.add_argument("--workspace", required=True, metavar="SLUG")
        add.add_argument("--type", required=True, choices=TYPES)
        add.add_argument(
            "--object", default=None, metavar="NAME_OR_ID", help="Omit: every object of the type."
        )
        add.add_argument("--permission", required=True, choices=sorted(PERMISSIONS))
        add.add_argument("--user", action="append", default=[], metavar="EMAIL")
        add.add_argument("--service-account", action="append", default=[], metavar="NAME")
        add.add_argument("--group", action="append", default=[], metavar="NAME")
        add.add_argument("--json", action="store_true")

        listing = subparsers.add_parser("list", help="List the access rules.")
        listing.add_argument("--workspace", required=True, metavar="SLUG")
        listing.add_argument("--type", choices=TYPES, default="")
        listing.add_argument("--json", action="store_true")

        delete = subparsers.add_parser("delete", help="Delete an access rule.")
        delete.add_argument("--workspace", required=True, metavar="SLUG")
        delete.add_argument("--id", required=True, type=int)

        why = subparsers.add_parser("explain", help="A member's effective level on an object, and why.")
        why.add_argument("--workspace", required=True, metavar="SLUG")
        why.add_argument("--user", default=None, metavar="EMAIL")
        why.add_argument("--service-account", default=None, metavar="NAME")
        why.add_argument("--type", required=True, choices=TYPES)
        why.add_argument("--object", required=True, metavar="NAME_OR_ID")
        why.add_argument("--json", action="store_true")

    def handle_add_rule(
        self, *, workspace, type, object, permission, user, service_account, group, json, **_
    ):
        target = _workspace(workspace)
        _kind(target, type)
        object_id = resolve_object(target, type, object)[0] if object else None
        users = [_member_user(target, email) for email in user]
        users += [_service_account(target, account) for account in service_account]
        groups = [_group(target, g) for g in group]
        if not users and not groups:
            raise CommandError("Name at least one --user, --service-account or --group.")
        rule = services.rule_create(
            workspace=target,
            actor=None,
            resource_type=type,
            object_id=object_id,
            permission=PERMISSIONS[permission],
            user_ids=[u.pk for u in users],
            group_ids=[g.pk for g in groups],
        )
        row = next(r for r in selectors.rule_list(workspace=target) if r.rule.pk == rule.pk)
        if json:
            self.print_json(rule_json(row))
        else:
            self.stdout.write(f"Added rule #{rule.pk}: {row.object_label} ({rule.get_permission_display()})")

    def handle_list(self, *, workspace, type, json, **_):
        target = _workspace(workspace)
        rows = selectors.rule_list(workspace=target, resource_type=type)
        if json:
            self.print_json([rule_json(row) for row in rows])
            return
        for row in rows:
            data = rule_json(row)
            who = ", ".join(
                data["users"]
                + [f"sa:{n}" for n in data["service_accounts"]]
                + [f"group:{n}" for n in data["groups"]]
            )
            self.stdout.write(
                f"#{row.rule.pk:<5} {row.rule.resource_type:<9} {row.object_label:<40} "
                f"{row.rule.get_permission_display():<14} {who}"
            )

    def handle_delete(self, *, workspace, id, **_):
        target = _workspace(workspace)
        rule = AccessRule.objects.for_workspace(target).filter(pk=id).first()
        if rule is None:
            raise CommandError(f"No access rule #{id} in {target.slug}.")
        services.rule_delete(rule=rule, actor=None)
        self.stdout.write(f"Deleted rule #{id} from {target.slug}")

    def handle_explain(self, *, workspace, user, service_account, type, object, json, **_):
        target = _workspace(workspace)
        if bool(user) == bool(service_account):
            raise CommandError("Name one --user or one --service-account.")
        who = _member_user(target, user) if user else _service_account(target, service_account)
        object_id, name = resolve_object(target, type, object)
        membership = membership_find(workspace=target, user=who)
        result = explain(
            membership, ObjectRef(type, object_id), labels={ObjectRef(type, object_id): f"{type} '{name}'"}
        )
        data = {
            "user": who.email,
            "object": {"type": type, "id": object_id, "name": name},
            "level": {"read": "read", "read_modify": "modify"}.get(result.level),
            "reasons": [
                {
                    "kind": r.kind,
                    "text": r.text,
                    "rule": r.rule.pk if r.rule else None,
                    "grants": r.grants,
                    "via_groups": list(r.via_groups),
                    "through": {"type": r.through.kind, "id": r.through.id} if r.through else None,
                    "inherited": r.inherited,
                }
                for r in result.reasons
            ],
        }
        if json:
            self.print_json(data)
            return
        self.stdout.write(f"{who.email} on {type} '{name}' ({object_id}): {result.level_label}")
        for reason in result.reasons:
            self.stdout.write(f"  - {reason.text}")
