"""The endpoints of the upstream stand-in: auth, users, projects, tasks, models, queues, workers,
events, debug. Each is a function `(call, data) -> data dict` registered with its name and the
`actual_version` the real apiserver 2.0.0 reports for it; errors are raised as `ApiError`.

Behaviour follows the recordings in ../shared/spec/clearml-upstream/ and the public source of
allegroai/clearml-server (task status state machine, enqueue/dequeue/stop semantics, queue
entries, worker registration, event statistics), re-implemented over plain dicts.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import jwt

from .standin_model import (
    API_VERSION,
    IMPERSONATING_ROLES,
    SERVER_VERSION,
    SYSTEM_ROLES,
    SYSTEM_USER_ID,
    USER_TOKEN_LIFETIME,
    ApiError,
    Identity,
    State,
    compiled_filter,
    drop_none,
    iso,
    iso_exact,
    listing,
    new_access_key,
    new_id,
    new_secret_key,
    parse_iso,
    project,
    required,
    string_field,
    utcnow,
)

# --- tokens -------------------------------------------------------------------------------------


class Tokens:
    """HS256 JWTs with the shared secret, claims as the real server puts them."""

    def __init__(self, secret: str):
        self.secret = secret

    def mint(
        self, identity: Identity, *, expiration_sec: int | None = None, now: datetime | None = None
    ) -> str:
        now = now or utcnow()
        claims = {
            "identity": identity.as_claim(),
            "iat": int(now.timestamp()),
            "session_id": new_id(),
            "env": "<unknown>",
            "auth_type": "Bearer",
            "api_version": API_VERSION,
            "server_version": SERVER_VERSION,
            "server_build": "",
            "feature_set": "basic",
        }
        if identity.role not in SYSTEM_ROLES:  # only internal services get tokens without expiry
            claims["exp"] = int((now + timedelta(seconds=expiration_sec or USER_TOKEN_LIFETIME)).timestamp())
        return jwt.encode(claims, self.secret, algorithm="HS256")

    def identity_of(self, token: str) -> Identity:
        """The identity of a Bearer token, or the 401/30 the server answers."""
        try:
            claims = jwt.decode(token, self.secret, algorithms=["HS256"])
        except jwt.InvalidTokenError as exc:
            raise ApiError.of(
                "invalid_token", "invalid jwt token", reason=exc.args[0] if exc.args else exc
            ) from None
        raw = claims.get("identity")
        if not isinstance(raw, dict) or not raw:
            raise ApiError.of("invalid_token", "failed parsing token, token missing identity")
        try:
            return Identity(**{k: raw[k] for k in ("user", "company", "role", "user_name", "company_name")})
        except (KeyError, TypeError) as exc:
            raise ApiError.of(
                "invalid_token", f"failed parsing token, missing identity field {exc}"
            ) from None


# --- registry -----------------------------------------------------------------------------------


@dataclass
class Call:
    """One request as an endpoint sees it."""

    state: State
    tokens: Tokens
    endpoint: str
    requested_version: tuple[int, ...]
    identity: Identity | None = None
    worker: str = ""
    set_cookie: str | None = None  # the `clearml_token_basic` cookie to set (auth.login)
    extra: dict = field(default_factory=dict)

    @property
    def company(self) -> str:
        return self.identity.company

    @property
    def user(self) -> str:
        return self.identity.user


@dataclass
class Endpoint:
    name: str
    min_version: str
    func: Callable[[Call, dict], dict | None]
    authorize: bool = True
    roles: frozenset[str] | None = None  # None: any role

    @property
    def version(self) -> tuple[int, ...]:
        return version_tuple(self.min_version)


ENDPOINTS: dict[str, Endpoint] = {}


def version_tuple(value: str) -> tuple[int, ...]:
    return tuple(int(part) for part in value.split("."))


def endpoint(name: str, min_version: str = "1.0", *, authorize: bool = True, roles=None):
    def register(func):
        ENDPOINTS[name] = Endpoint(name, min_version, func, authorize, frozenset(roles) if roles else None)
        return func

    return register


# --- helpers --------------------------------------------------------------------------------------


def _now_pair():
    now = utcnow()
    return iso(now), iso_exact(now)


def _get_task(call: Call, task_id, *, by_ids: bool = False) -> dict:
    task = call.state.get_scoped(call.state.tasks, task_id, call.company)
    if task is None:
        if by_ids:
            raise ApiError.of("invalid_task_id", ids=[task_id])
        raise ApiError.of("invalid_task_id", id=task_id, company=call.company)
    return task


def _get_queue(call: Call, queue_id) -> dict:
    queue = call.state.get_scoped(call.state.queues, queue_id, call.company)
    if queue is None:
        raise ApiError.of("invalid_queue_id", id=queue_id, company=call.company)
    return queue


def _get_project(call: Call, project_id) -> dict:
    proj = call.state.get_scoped(call.state.projects, project_id, call.company)
    if proj is None:
        raise ApiError.of("invalid_project_id", id=project_id)
    return proj


def _get_model(call: Call, model_id) -> dict:
    model = call.state.get_scoped(call.state.models, model_id, call.company)
    if model is None:
        raise ApiError.of("invalid_model_id", id=model_id, company=call.company)
    return model


def _touch_project(call: Call, project_id):
    proj = call.state.projects.get(project_id) if project_id else None
    if proj is not None:
        proj["last_update"] = iso(utcnow())


def _store(doc: dict, updates: dict):
    """Apply UPDATES to a stored document: None unsets; "a.b" keys set nested fields."""
    for key, value in updates.items():
        target, parts = doc, key.split(".")
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        if value is None:
            target.pop(parts[-1], None)
        else:
            target[parts[-1]] = copy.deepcopy(value)


def _flag(data: dict, name: str) -> bool:
    return bool(data.get(name))


# --- task status --------------------------------------------------------------------------------

TASK_STATUSES = {
    "created",
    "queued",
    "in_progress",
    "stopped",
    "published",
    "publishing",
    "closed",
    "failed",
    "completed",
    "unknown",
}
TASK_TYPES = {
    "training",
    "testing",
    "inference",
    "data_processing",
    "application",
    "monitor",
    "controller",
    "optimizer",
    "service",
    "qc",
    "custom",
}
STATUS_TRANSITIONS = {
    "created": {"queued", "in_progress"},
    "queued": {"created", "in_progress", "stopped"},
    "in_progress": {"stopped", "failed", "created", "completed"},
    "stopped": {
        "closed",
        "created",
        "failed",
        "queued",
        "in_progress",
        "published",
        "publishing",
        "completed",
    },
    "closed": {"created", "failed", "published", "publishing", "stopped"},
    "failed": {"created", "stopped", "published", "queued"},
    "publishing": {"published"},
    "published": set(),
    "completed": {"published", "in_progress", "created"},
}
WORKER_TASK_UPDATE_TIMEOUT = 600  # apiserver.workers.task_update_timeout


def change_status(
    call: Call,
    task: dict,
    new_status: str,
    *,
    reason: str = "",
    message: str = "",
    force: bool = False,
    allow_same: bool = True,
    **extra,
) -> dict:
    """The server's ChangeStatusRequest: validate the transition (unless forced), set the status
    fields plus EXTRA, touch the project. Returns {"updated": 1, "fields": {...}}; fields keep
    None values (e.g. "enqueue_status": null) as the real response does."""
    current = task["status"]
    if not force:
        if new_status != current and new_status not in STATUS_TRANSITIONS.get(current, set()):
            raise ApiError.of(
                "invalid_task_status", "Invalid status change", current_status=current, new_status=new_status
            )
        if new_status == current and not allow_same:
            raise ApiError.of(
                "invalid_task_status",
                "Task already in requested status",
                current_status=current,
                new_status=new_status,
            )
    stored, exact = _now_pair()
    fields = {
        "status": new_status,
        "status_reason": reason or "",
        "status_message": message or "",
        "status_changed": exact,
        "last_update": exact,
        "last_change": exact,
        "last_changed_by": call.user,
    }
    fields.update(extra)
    updates = dict(fields)
    for key in ("status_changed", "last_update", "last_change"):
        updates[key] = stored
    for key in ("started", "completed", "published"):
        if isinstance(updates.get(key), str):
            updates[key] = iso(parse_iso(updates[key]))
    _store(task, updates)
    if new_status == "queued" and "development" in task.get("system_tags", []):
        task["system_tags"] = [t for t in task["system_tags"] if t != "development"]
    _touch_project(call, task.get("project"))
    return {"updated": 1, "fields": fields}


def _remove_from_queue(state: State, company: str, queue_id: str, task_id: str) -> int:
    queue = state.get_scoped(state.queues, queue_id, company)
    if queue is None:
        return 0
    before = len(queue["entries"])
    queue["entries"] = [e for e in queue["entries"] if e["task"] != task_id]
    if len(queue["entries"]) != before:
        queue["last_update"] = iso(utcnow())
    return before - len(queue["entries"])


def _remove_from_all_queues(state: State, company: str, task_id: str, exclude: str | None = None) -> int:
    return sum(
        _remove_from_queue(state, company, queue["id"], task_id)
        for queue in state.scoped(state.queues, company)
        if queue["id"] != exclude
    )


def _dequeue(call: Call, task: dict) -> dict | None:
    """TaskBLL.dequeue with silent failure: take the task out of its execution.queue."""
    queue_id = task.get("execution", {}).get("queue")
    if task["status"] != "queued" or not queue_id:
        return None
    return {"removed": _remove_from_queue(call.state, call.company, queue_id, task["id"])}


def _dequeue_and_change_status(
    call: Call, task: dict, *, reason="", message="", new_status=None, all_queues=False
):
    _dequeue(call, task)
    if all_queues:
        _remove_from_all_queues(call.state, call.company, task["id"])
    if task["status"] not in ("queued", "in_progress"):
        return {"updated": 0}
    return change_status(
        call,
        task,
        new_status or task.get("enqueue_status") or "created",
        reason=reason,
        message=message,
        force=True,
        enqueue_status=None,
    )


def _set_last_update(task: dict, **updates):
    """TaskBLL.set_last_update: a running task also gets its active_duration refreshed."""
    now = utcnow()
    if task.get("status") == "in_progress" and task.get("started"):
        updates["active_duration"] = int((now - parse_iso(task["started"])).total_seconds())
    updates["last_update"] = iso(now)
    _store(task, updates)


# --- debug / server -------------------------------------------------------------------------------


@endpoint("debug.ping", authorize=False)
def debug_ping(call, data):
    return {"msg": "ClearML server"}


@endpoint("server.info", "2.1")
def server_info(call, data):
    return {"version": SERVER_VERSION, "build": "", "commit": "", "api_version": API_VERSION}


# --- auth -------------------------------------------------------------------------------------------


def token_for_user(call: Call, user_id: str, company_id: str | None, expiration_sec=None) -> str:
    user = call.state.users.get(user_id)
    if user is None or (company_id and user["company"] != company_id):
        raise ApiError.of(
            "invalid_user_id", **({"id": user_id, "company": company_id} if company_id else {"id": user_id})
        )
    company_id = company_id or user["company"]
    if company_id not in call.state.companies:
        raise ApiError.of("invalid_id", "invalid company associated with user", company=company_id)
    identity = Identity(user_id, company_id, user["role"], user["name"], call.state.company_name(company_id))
    return call.tokens.mint(identity, expiration_sec=expiration_sec)


@endpoint("auth.login")
def auth_login(call, data):
    token = token_for_user(call, call.user, call.company, data.get("expiration_sec"))
    call.set_cookie = token
    return {"token": token}


@endpoint("auth.logout", "2.2")
def auth_logout(call, data):
    call.set_cookie = ""
    return {}


@endpoint("auth.get_token_for_user", roles=SYSTEM_ROLES)
def auth_get_token_for_user(call, data):
    required(data, "user")
    return {"token": token_for_user(call, data["user"], data.get("company"), data.get("expiration_sec"))}


@endpoint("auth.validate_token", roles=SYSTEM_ROLES)
def auth_validate_token(call, data):
    required(data, "token")
    try:
        identity = call.tokens.identity_of(data["token"])
    except ApiError as exc:
        return {"valid": False, "msg": exc.msg}
    return {"valid": True, "user": identity.user, "company": identity.company}


USER_ROLES = {"admin", "superuser", "user", "annotator"}


@endpoint("auth.create_user", roles=SYSTEM_ROLES | {"admin"})
def auth_create_user(call, data):
    required(data, "name", "company", "email")
    if call.identity.role not in SYSTEM_ROLES and data["company"] != call.company:
        raise ApiError.of("invalid_id", "cannot create user in another company")
    role = data.get("role") or "user"
    if role not in USER_ROLES:
        raise ApiError.of("validation_error", f"error for field 'role'. value {role} is not allowed")
    if data["company"] not in call.state.companies:
        raise ApiError.of("invalid_id", company=data["company"])
    user_id = call.state.next_id("user")
    call.state.users[user_id] = drop_none(
        {
            "id": user_id,
            "company": data["company"],
            "name": data["name"],
            "role": role,
            "email": data["email"],
            "given_name": data.get("given_name"),
            "family_name": data.get("family_name"),
            "avatar": data.get("avatar"),
            "created": iso(utcnow()),
            "created_in_version": SERVER_VERSION,
        }
    )
    return {"id": user_id}


@endpoint("auth.edit_user", roles=SYSTEM_ROLES | {"admin"})
def auth_edit_user(call, data):
    user = call.state.backend_user(data.get("user"), call.company)
    if user is None:
        raise ApiError.of("invalid_user_id")
    fields = {k: data[k] for k in ("role",) if data.get(k) is not None}
    if "role" in fields and fields["role"] not in USER_ROLES:
        raise ApiError.of(
            "validation_error", f"error for field 'role'. value {fields['role']} is not allowed"
        )
    user.update(fields)
    return {"updated": 1 if fields else 0, "fields": fields}


def _own_user(call: Call) -> dict:
    if call.user.strip("_") == SYSTEM_USER_ID.strip("_"):
        raise ApiError.of("invalid_user_id", "protected identity")
    user = call.state.users.get(call.user)
    if user is None or user["company"] != call.company:
        raise ApiError.of("invalid_user_id", id=call.user, company=call.company)
    return user


@endpoint("auth.create_credentials")
def auth_create_credentials(call, data):
    _own_user(call)
    access_key, secret_key = new_access_key(), new_secret_key()
    call.state.credentials[access_key] = {
        "access_key": access_key,
        "secret_key": secret_key,
        "user": call.user,
        "company": call.company,
        "label": data.get("label"),
        "created": iso(utcnow()),
    }
    return {
        "credentials": drop_none(
            {"access_key": access_key, "label": data.get("label"), "secret_key": secret_key}
        )
    }


@endpoint("auth.get_credentials")
def auth_get_credentials(call, data):
    user = call.state.users.get(call.user)
    if user is None or user["company"] != call.company:
        raise ApiError.of("invalid_user_id", id=call.user, company=call.company)
    return {
        "credentials": [
            drop_none(
                {
                    "access_key": c["access_key"],
                    "label": c.get("label"),
                    "last_used": c.get("last_used"),
                    "last_used_from": c.get("last_used_from"),
                }
            )
            for c in call.state.credentials.values()
            if c["user"] == call.user and c["company"] == call.company
        ]
    }


@endpoint("auth.revoke_credentials")
def auth_revoke_credentials(call, data):
    _own_user(call)
    key = data.get("access_key")
    record = call.state.credentials.get(key)
    if record is None or record["user"] != call.user or record["company"] != call.company:
        raise ApiError.of(
            "invalid_user",
            "invalid user or invalid access key",
            id=call.user,
            company=call.company,
            credentials__key=key,
        )
    del call.state.credentials[key]
    return {"revoked": 1}


@endpoint("auth.edit_credentials", "2.19")
def auth_edit_credentials(call, data):
    required(data, "access_key")
    record = call.state.credentials.get(data["access_key"])
    if record is None or record["user"] != call.user or record["company"] != call.company:
        raise ApiError.of(
            "invalid_access_key",
            "invalid user or invalid access key",
            user=call.user,
            access_key=data["access_key"],
            company=call.company,
        )
    record["label"] = data.get("label")
    return {"updated": 1}


@endpoint("auth.fixed_users_mode", authorize=False)
def auth_fixed_users_mode(call, data):
    return {"enabled": False, "guest": {"enabled": False}, "server_errors": {}}


# --- users ------------------------------------------------------------------------------------------


def _user_doc(user: dict) -> dict:
    return drop_none(
        {
            "id": user["id"],
            "company": user["company"],
            "name": user["name"],
            "given_name": user.get("given_name"),
            "family_name": user.get("family_name"),
            "avatar": user.get("avatar"),
            "created": user.get("created"),
            "created_in_version": user.get("created_in_version"),
            "role": user.get("role"),
        }
    )


@endpoint("users.get_current_user")
def users_get_current_user(call, data):
    user = call.state.backend_user(call.user, call.company)
    if user is None:
        raise ApiError.of("invalid_user", "failed loading user")
    doc = _user_doc(user)
    doc["company"] = {"id": call.company, "name": call.state.company_name(call.company)}
    doc["role"] = call.identity.role
    return {
        "user": dict(sorted(doc.items())),
        "getting_started": {
            "agentName": "clearml",
            "configure": "clearml-init",
            "install": "pip install clearml",
            "packageName": "clearml",
        },
        "settings": {"max_download_items": 50000},
    }


@endpoint("users.get_by_id")
def users_get_by_id(call, data):
    required(data, "user")
    user = call.state.backend_user(data["user"], call.company)
    if user is None:
        raise ApiError.of("invalid_user_id", id=data["user"])
    return {"user": _user_doc(user)}


def _users(call, data):
    docs = [
        _user_doc(u)
        for u in call.state.users.values()
        if u["company"] == call.company and u.get("backend", True)
    ]
    return {"users": listing(docs, data, filter_fields={"id", "name", "role"})}


endpoint("users.get_all")(_users)
endpoint("users.get_all_ex")(_users)


@endpoint("users.update")
def users_update(call, data):
    required(data, "user")
    if data["user"] != call.user and call.identity.role not in IMPERSONATING_ROLES:
        raise ApiError.of("role_not_allowed", role=call.identity.role)
    user = call.state.backend_user(data["user"], call.company)
    if user is None:
        raise ApiError.of("invalid_user_id", id=data["user"])
    fields = {k: data[k] for k in ("name", "given_name", "family_name", "avatar") if data.get(k) is not None}
    user.update(fields)
    return {"updated": 1 if fields else 0, "fields": fields}


# --- projects ------------------------------------------------------------------------------------

PROJECT_FIELDS = {"id", "name", "basename", "user", "description", "parent", "company"}


def _create_project(
    call: Call, name: str, *, description="", tags=None, system_tags=None, extra=None
) -> dict:
    parts = [p for p in name.split("/") if p]
    path: list[str] = []
    for depth in range(1, len(parts)):  # the parents of "a/b/c" ("a", "a/b") are created on the way
        parent_name = "/".join(parts[:depth])
        parent = next(
            (p for p in call.state.scoped(call.state.projects, call.company) if p["name"] == parent_name),
            None,
        )
        if parent is None:
            parent = _new_project(call, parent_name, path=list(path))
        path.append(parent["id"])
    return _new_project(
        call,
        "/".join(parts),
        path=path,
        description=description,
        tags=tags,
        system_tags=system_tags,
        extra=extra,
    )


def _new_project(
    call: Call, name: str, *, path, description="", tags=None, system_tags=None, extra=None
) -> dict:
    now = iso(utcnow())
    project_id = call.state.next_id("project")
    doc = {
        "id": project_id,
        "company": call.company,
        "user": call.user,
        "name": name,
        "basename": name.split("/")[-1],
        "description": description or "",
        "created": now,
        "tags": list(tags or []),
        "system_tags": list(system_tags or []),
        "last_update": now,
        "featured": 9999,
        "path": path,
        **drop_none(extra or {}),
    }
    call.state.projects[project_id] = doc
    return doc


def _project_out(doc: dict) -> dict:
    doc = copy.deepcopy(doc)
    doc.pop("path", None)
    return doc


@endpoint("projects.create")
def projects_create(call, data):
    required(data, "name")
    name = string_field(data, "name", min_length=3).strip()
    if any(p["name"] == name for p in call.state.scoped(call.state.projects, call.company)):
        raise ApiError.of("expected_unique_data", name=name)
    doc = _create_project(
        call,
        name,
        description=data.get("description", ""),
        tags=data.get("tags"),
        system_tags=data.get("system_tags"),
        extra={"default_output_destination": data.get("default_output_destination")},
    )
    return {"id": doc["id"]}


@endpoint("projects.get_by_id")
def projects_get_by_id(call, data):
    required(data, "project")
    return {"project": copy.deepcopy(_get_project(call, data["project"]))}


@endpoint("projects.get_all")
def projects_get_all(call, data):
    docs = call.state.scoped(call.state.projects, call.company)
    return {
        "projects": listing(
            docs, data, filter_fields=PROJECT_FIELDS, hidden_filter=True, transform=_project_out
        )
    }


@endpoint("projects.get_all_ex")
def projects_get_all_ex(call, data):
    """With `include_stats`, as the server (ProjectBLL.get_project_stats): each project's counts
    over its own tasks and, unless `stats_with_children` is false, those of every project below
    it (hidden ones only with `search_hidden`), which `sub_projects` lists ({id, name}, by name)."""
    every = call.state.scoped(call.state.projects, call.company)
    tasks = call.state.scoped(call.state.tasks, call.company)
    with_children = data.get("stats_with_children", True) is not False

    def below(doc) -> list[dict]:
        if not with_children:
            return []
        return [
            p
            for p in every
            if doc["id"] in (p.get("path") or [])
            and (data.get("search_hidden") or "hidden" not in (p.get("system_tags") or []))
        ]

    def stats(out: dict) -> None:
        doc = call.state.projects.get(out.get("id"))
        if doc is None:
            return
        children = below(doc)
        counted = {doc["id"], *(c["id"] for c in children)}
        counts: dict[str, int] = {}
        for task in tasks:
            if task.get("project") in counted:
                counts[task["status"]] = counts.get(task["status"], 0) + 1
        out["stats"] = {
            "active": {"status_count": counts, "total_tasks": sum(counts.values()), "total_runtime": 0}
        }
        out["sub_projects"] = sorted(
            ({"id": c["id"], "name": c["name"]} for c in children), key=lambda c: c["name"]
        )

    def joined(doc):
        out = _project_out(doc)
        out["company"] = {"id": out["company"]}
        out["user"] = {"id": out["user"]}
        return out

    projects = listing(every, data, filter_fields=PROJECT_FIELDS, hidden_filter=True, transform=joined)
    if data.get("include_stats"):  # (added after the projection, as on the server)
        for out in projects:
            stats(out)
    return {"projects": projects}


def _projects_with_children(call: Call, projects, include_subprojects: bool) -> set | None:
    """The projects an aggregate looks at (None: the whole company)."""
    if not projects:
        return None
    wanted = set(projects if isinstance(projects, list) else [projects])
    if include_subprojects:
        wanted |= {
            p["id"]
            for p in call.state.scoped(call.state.projects, call.company)
            if set(p.get("path") or []) & wanted
        }
    return wanted


@endpoint("projects.get_task_parents", "2.12")
def projects_get_task_parents(call, data):
    """The tasks that are parents of tasks in `projects` (and their sub-projects)."""
    wanted = _projects_with_children(call, data.get("projects"), data.get("include_subprojects", True))
    tasks = call.state.scoped(call.state.tasks, call.company)
    parents = {
        t.get("parent") for t in tasks if t.get("parent") and (wanted is None or t.get("project") in wanted)
    }
    return {
        "parents": sorted(
            (
                {"id": t["id"], "name": t["name"], "project": {"id": t.get("project")}}
                for t in tasks
                if t["id"] in parents
            ),
            key=lambda p: p["name"],
        )
    }


@endpoint("projects.get_unique_metric_variants")
def projects_get_unique_metric_variants(call, data):
    """The metric/variant pairs reported by the tasks of `project` (and its sub-projects)."""
    wanted = _projects_with_children(call, data.get("project"), data.get("include_subprojects", True))
    pairs = {}
    for task in call.state.scoped(call.state.tasks, call.company):
        if wanted is not None and task.get("project") not in wanted:
            continue
        for metric_hash, variants in (task.get("last_metrics") or {}).items():
            for variant_hash, entry in (variants or {}).items():
                if isinstance(entry, dict) and "metric" in entry:
                    pairs[(metric_hash, variant_hash)] = {
                        "metric": entry["metric"],
                        "variant": entry.get("variant"),
                        "metric_hash": metric_hash,
                        "variant_hash": variant_hash,
                    }
    return {"metrics": sorted(pairs.values(), key=lambda m: (m["metric"], m["variant"] or ""))}


@endpoint("organization.get_entities_count")
def organization_get_entities_count(call, data):
    """How many objects each field's get_all filter matches (hidden projects and tasks left out
    unless `search_hidden`, as the server does, whether or not ids are given)."""
    kinds = {
        "projects": (call.state.projects, PROJECT_FIELDS, True),
        "tasks": (call.state.tasks, TASK_FILTER_FIELDS, True),
        "models": (call.state.models, MODEL_FIELDS, False),
        "datasets": (call.state.projects, PROJECT_FIELDS, False),
        "pipelines": (call.state.projects, PROJECT_FIELDS, False),
    }
    out = {}
    for name, (collection, fields, hides) in kinds.items():
        wanted = data.get(name)
        if not isinstance(wanted, dict):
            continue
        passes = compiled_filter(wanted, fields)
        docs = [d for d in call.state.scoped(collection, call.company) if passes(d)]
        if hides and not data.get("search_hidden"):
            docs = [d for d in docs if "hidden" not in (d.get("system_tags") or [])]
        out[name] = len(docs)
    return out


@endpoint("projects.update")
def projects_update(call, data):
    required(data, "project")
    proj = _get_project(call, data["project"])
    fields = {
        k: data[k]
        for k in ("name", "description", "tags", "system_tags", "default_output_destination")
        if data.get(k) is not None
    }
    if "name" in fields:
        string_field(fields, "name", min_length=3)
        fields["basename"] = fields["name"].split("/")[-1]
    now_stored, now_exact = _now_pair()
    _store(proj, {**fields, "last_update": now_stored})
    return {"updated": 1 if fields else 0, "fields": {**fields, "last_update": now_exact}}


@endpoint("projects.delete")
def projects_delete(call, data):
    required(data, "project")
    proj = _get_project(call, data["project"])
    tasks = [t for t in call.state.scoped(call.state.tasks, call.company) if t.get("project") == proj["id"]]
    if tasks and not _flag(data, "force"):
        raise ApiError.of("project_has_tasks", "use force=true to delete", id=proj["id"])
    for task in tasks:
        task.pop("project", None)
    del call.state.projects[proj["id"]]
    return {"deleted": 1, "disassociated_tasks": len(tasks), "deleted_models": 0, "deleted_tasks": 0}


# --- tasks ----------------------------------------------------------------------------------------

TASK_FILTER_FIELDS = {
    "id",
    "name",
    "status",
    "type",
    "project",
    "user",
    "parent",
    "comment",
    "execution",
    "last_worker",
    "status_message",
    "status_reason",
    "enqueue_status",
}


def _default_task(call: Call, task_id: str, now: str) -> dict:
    return {
        "id": task_id,
        "company": call.company,
        "user": call.user,
        "status": "created",
        "report_assets": [],
        "created": now,
        "output": {},
        "execution": {
            "test_split": 0,
            "parameters": {},
            "model_desc": {},
            "model_labels": {},
            "artifacts": [],
        },
        "tags": [],
        "system_tags": [],
        "script": {"binary": "python", "repository": "", "entry_point": "", "requirements": {}},
        "last_update": now,
        "last_change": now,
        "last_iteration": 0,
        "last_metrics": {},
        "unique_metrics": [],
        "metric_stats": {},
        "hyperparams": {},
        "configuration": {},
        "runtime": {},
        "models": {"input": [], "output": []},
        "container": {},
        "last_changed_by": call.user,
    }


_EMBEDDED = ("script", "execution", "output")  # merged into the stored document on edit
_TASK_SETTABLE = (
    "name",
    "tags",
    "system_tags",
    "type",
    "comment",
    "parent",
    "project",
    "execution",
    "hyperparams",
    "configuration",
    "script",
    "runtime",
    "container",
    "models",
)


def _task_fields_from(call: Call, data: dict, previous: dict | None) -> dict:
    fields = {k: copy.deepcopy(data[k]) for k in _TASK_SETTABLE if k in data and data[k] is not None}
    for key in ("script", "execution", "hyperparams", "configuration", "runtime", "container", "models"):
        if key in fields and not isinstance(fields[key], dict):
            raise ApiError.of("validation_error", f"error for field '{key}'. expected an object")
    for key in ("tags", "system_tags"):
        if key in fields and not (
            isinstance(fields[key], list) and all(isinstance(t, str) for t in fields[key])
        ):
            raise ApiError.of("validation_error", f"error for field '{key}'. expected a list of strings")
    if "name" in fields:
        string_field(fields, "name", min_length=3)
    if "type" in fields and fields["type"] not in TASK_TYPES:
        raise ApiError.of(
            "validation_error", f"error for field 'type'. value {fields['type']} is not allowed"
        )
    if (
        "project" in fields
        and fields["project"]
        and not call.state.get_scoped(call.state.projects, fields["project"], call.company)
    ):
        raise ApiError.of("invalid_project_id", id=fields["project"])
    if (
        "parent" in fields
        and fields["parent"]
        and not call.state.get_scoped(call.state.tasks, fields["parent"], call.company)
    ):
        raise ApiError.of("invalid_task_id", "invalid parent", parent=fields["parent"])
    if data.get("output_dest") is not None:
        fields["output"] = {**(previous or {}).get("output", {}), "destination": data["output_dest"]}
    if isinstance(fields.get("execution"), dict) and isinstance(fields["execution"].get("artifacts"), dict):
        fields["execution"]["artifacts"] = list(fields["execution"]["artifacts"].values())
    if previous is not None:
        for key in _EMBEDDED:
            if isinstance(fields.get(key), dict) and isinstance(previous.get(key), dict):
                fields[key] = {**copy.deepcopy(previous[key]), **fields[key]}
    script = fields.get("script")
    if isinstance(script, dict):
        for key, value in list(script.items()):
            if isinstance(value, str) and key != "diff":
                script[key] = value.strip()
    return fields


@endpoint("tasks.create")
def tasks_create(call, data):
    required(data, "name")
    fields = _task_fields_from(call, data, None)
    required(data, "type")
    now = iso(utcnow())
    task_id = call.state.next_id("task")
    doc = _default_task(call, task_id, now)
    for key, value in fields.items():
        if key in ("script", "execution", "output") and isinstance(value, dict):
            doc[key] = {**doc[key], **value}
        else:
            doc[key] = value
    call.state.tasks[task_id] = drop_none(doc)
    _touch_project(call, doc.get("project"))
    return {"id": task_id}


# Kept on the task but left out of what the server returns unless asked for by only_fields.
TASK_INTERNAL_FIELDS = ("enqueue_status",)


def _task_out(doc: dict) -> dict:
    doc = copy.deepcopy(doc)
    for key in TASK_INTERNAL_FIELDS:
        doc.pop(key, None)
    return doc


def _task_listing(call: Call, data: dict, transform=None, **kwargs) -> list[dict]:
    docs = call.state.scoped(call.state.tasks, call.company)
    only = data.get("only_fields")
    keep_internal = isinstance(only, list) and any(str(f).split(".")[0] in TASK_INTERNAL_FIELDS for f in only)
    base = copy.deepcopy if keep_internal else _task_out
    return listing(
        docs,
        data,
        filter_fields=TASK_FILTER_FIELDS,
        transform=(lambda d: transform(base(d))) if transform else base,
        **kwargs,
    )


@endpoint("tasks.get_by_id")
def tasks_get_by_id(call, data):
    required(data, "task")
    return {"task": _task_out(_get_task(call, data["task"], by_ids=True))}


@endpoint("tasks.get_all")
def tasks_get_all(call, data):
    return {"tasks": _task_listing(call, data, hidden_filter=True)}


def _task_joined(doc: dict) -> dict:
    doc = copy.deepcopy(doc)
    for key in ("user", "project", "parent"):
        if isinstance(doc.get(key), str):
            doc[key] = {"id": doc[key]}
    return doc


def _joined_with_names(call: Call, data: dict):
    """_task_joined, and the names of the project and parent when only_fields asks for them
    ("project.name"), as the server's join does."""
    only = data.get("only_fields") if isinstance(data.get("only_fields"), list) else []
    named = {key for key in ("project", "parent") if f"{key}.name" in only}

    def joined(doc: dict) -> dict:
        doc = _task_joined(doc)
        for key in named:
            ref = doc.get(key)
            source = call.state.projects if key == "project" else call.state.tasks
            if isinstance(ref, dict) and ref.get("id") in source:
                ref["name"] = source[ref["id"]]["name"]
        return doc

    return joined


def _with_subprojects(call: Call, data: dict) -> dict:
    """The server's `include_subprojects` (tasks/models get_all_ex): the `project` filter becomes
    its values and every project below them, gathered in a set (so operators in the list lose
    their places: sorted here, to be the same in every run)."""
    data = dict(data)
    include = data.pop("include_subprojects", False)
    wanted = data.get("project")
    if not wanted or not include:
        return data
    wanted = wanted if isinstance(wanted, list) else [wanted]
    below = [
        p["id"]
        for p in call.state.scoped(call.state.projects, call.company)
        if set(p.get("path") or []) & set(wanted)
    ]
    data["project"] = sorted({*wanted, *below}, key=lambda v: (v is None, str(v)))
    return data


@endpoint("tasks.get_all_ex")
def tasks_get_all_ex(call, data):
    data = _with_subprojects(call, data)
    return {"tasks": _task_listing(call, data, transform=_joined_with_names(call, data), hidden_filter=True)}


@endpoint("tasks.get_by_id_ex")
def tasks_get_by_id_ex(call, data):
    required(data, "id")
    return {"tasks": _task_listing(call, data, transform=_joined_with_names(call, data))}


@endpoint("tasks.get_types")
def tasks_get_types(call, data):
    projects = data.get("projects")
    types = {
        t.get("type")
        for t in call.state.scoped(call.state.tasks, call.company)
        if not projects or t.get("project") in projects
    }
    return {"types": sorted(t for t in types if t)}


def _tags_of(call: Call, collection: dict, data: dict, project=None) -> dict:
    """The tags (and system tags with `include_system`) of COLLECTION's objects passing the
    `filter` ({tags, system_tags}), in PROJECT and every project below it, as the server's tags
    cache reads them."""
    wanted = _projects_with_children(call, project, True) if project else None
    passes = compiled_filter(data.get("filter") or {}, set())
    tags, system_tags = set(), set()
    for doc in call.state.scoped(collection, call.company):
        if (wanted is None or doc.get("project") in wanted) and passes(doc):
            tags.update(doc.get("tags") or [])
            system_tags.update(doc.get("system_tags") or [])
    return {"tags": tags, "system_tags": system_tags}


def _tags_reply(data: dict, found: list[dict]) -> dict:
    out = {"tags": sorted(set().union(*(f["tags"] for f in found)))}
    if data.get("include_system"):
        out["system_tags"] = sorted(set().union(*(f["system_tags"] for f in found)))
    return out


@endpoint("projects.get_task_tags", "2.8")
def projects_get_task_tags(call, data):
    projects = data.get("projects") or [None]
    return _tags_reply(data, [_tags_of(call, call.state.tasks, data, p) for p in projects])


@endpoint("projects.get_model_tags", "2.8")
def projects_get_model_tags(call, data):
    projects = data.get("projects") or [None]
    return _tags_reply(data, [_tags_of(call, call.state.models, data, p) for p in projects])


@endpoint("organization.get_tags")
def organization_get_tags(call, data):
    return _tags_reply(
        data, [_tags_of(call, call.state.tasks, data), _tags_of(call, call.state.models, data)]
    )


def _edit(call, data, *, check_status: bool):
    required(data, "task")
    task = _get_task(call, data["task"])
    if check_status and not _flag(data, "force") and task["status"] != "created":
        raise ApiError.of("invalid_task_status", expected="created", status=task["status"])
    fields = _task_fields_from(call, data, task)
    if check_status and data.get("status") in TASK_STATUSES:
        fields["status"] = data["status"]
    if not check_status:
        fields.update({k: data[k] for k in ("status_reason", "status_message") if data.get(k) is not None})
    if not fields:
        return {"updated": 0}
    old_project = task.get("project")
    stored, exact = _now_pair()
    _store(task, {**fields, "last_change": stored, "last_changed_by": call.user, "last_update": stored})
    _touch_project(call, old_project)
    _touch_project(call, task.get("project"))
    return {
        "updated": 1,
        "fields": {**fields, "last_change": exact, "last_changed_by": call.user, "last_update": exact},
    }


@endpoint("tasks.edit")
def tasks_edit(call, data):
    return _edit(call, data, check_status=True)


@endpoint("tasks.update")
def tasks_update(call, data):
    return _edit(call, data, check_status=False)


@endpoint("tasks.set_requirements")
def tasks_set_requirements(call, data):
    required(data, "task", "requirements")
    task = _get_task(call, data["task"])
    if not isinstance(task.get("script"), dict):
        raise ApiError.of("missing_task_fields", "Task has no script field", task=task["id"])
    stored = iso(utcnow())
    _store(
        task,
        {
            "script.requirements": data["requirements"],
            "last_change": stored,
            "last_changed_by": call.user,
            "last_update": stored,
        },
    )
    return {"fields": {}, "updated": 1}  # 2.0.0 answers an empty `fields` here


def _status_call(call, data, new_status: str, **extra) -> dict:
    required(data, "task")
    task = _get_task(call, data["task"])
    return change_status(
        call,
        task,
        new_status,
        reason=data.get("status_reason", ""),
        message=data.get("status_message", ""),
        force=_flag(data, "force"),
        **extra,
    )


@endpoint("tasks.started")
def tasks_started(call, data):
    required(data, "task")
    task = _get_task(call, data["task"])
    extra = {} if task.get("started") else {"started": iso_exact(utcnow())}
    result = _status_call(call, data, "in_progress", **extra)
    return {"fields": result["fields"], "started": result["updated"], "updated": result["updated"]}


@endpoint("tasks.completed", "2.2")
def tasks_completed(call, data):
    result = _status_call(call, data, "completed", completed=iso_exact(utcnow()))
    published = 0
    if _flag(data, "publish"):
        task = _get_task(call, data["task"])
        pub = change_status(
            call, task, "published", force=_flag(data, "force"), published=iso_exact(utcnow())
        )
        result["fields"]["status"] = "published"
        published = pub["updated"]
    return {"fields": result["fields"], "published": published, "updated": result["updated"]}


@endpoint("tasks.stopped")
def tasks_stopped(call, data):
    return _status_call(call, data, "stopped", completed=iso_exact(utcnow()))


@endpoint("tasks.failed")
def tasks_failed(call, data):
    return _status_call(call, data, "failed")


@endpoint("tasks.close")
def tasks_close(call, data):
    return _status_call(call, data, "closed")


@endpoint("tasks.publish")
def tasks_publish(call, data):
    return _status_call(call, data, "published", published=iso_exact(utcnow()))


@endpoint("tasks.stop")
def tasks_stop(call, data):
    """Queued: leaves its queue and stops. A development task, or one no worker reported on in the
    last 10 minutes: stopped at once. Otherwise only status_message "stopping", for its agent."""
    required(data, "task")
    task = _get_task(call, data["task"])
    queued = task["status"] == "queued"
    last_update = task.get("last_update")
    run_by_worker = bool(
        task.get("last_worker")
        and last_update
        and (utcnow() - parse_iso(last_update)).total_seconds() < WORKER_TASK_UPDATE_TIMEOUT
    )
    if queued or "development" in task.get("system_tags", []) or not run_by_worker:
        if queued:
            _dequeue(call, task)
        new_status, message = "stopped", f"Stopped by {call.identity.user_name}"
    else:
        new_status, message = task["status"], "stopping"
    return change_status(
        call,
        task,
        new_status,
        reason=data.get("status_reason", ""),
        message=message,
        force=_flag(data, "force"),
    )


@endpoint("tasks.enqueue")
def tasks_enqueue(call, data):
    """Into QUEUE (or a queue by name, created if missing, or the default queue); a task queued
    elsewhere is moved: it leaves every other queue."""
    required(data, "task")
    queue_id, queue_name = data.get("queue"), data.get("queue_name")
    if queue_id and queue_name:
        raise ApiError.of("validation_error", "Either queue id or queue name should be provided")
    task = _get_task(call, data["task"])
    update_execution_queue = data.get("update_execution_queue", True)
    if queue_name:
        queue = next(
            (q for q in call.state.scoped(call.state.queues, call.company) if q["name"] == queue_name), None
        )
        queue_id = (queue or _create_queue(call, queue_name))["id"]
    if not queue_id:
        queue_id = _default_queue(call)["id"]
    queue = _get_queue(call, queue_id)
    before = (
        task.get("enqueue_status")
        if task["status"] == "queued" and task.get("enqueue_status")
        else task["status"]
    )
    result = change_status(
        call,
        task,
        "queued",
        reason=data.get("status_reason", ""),
        message=data.get("status_message", ""),
        force=_flag(data, "force"),
        enqueue_status=before,
    )
    if not any(e["task"] == task["id"] for e in queue["entries"]):
        stored = iso(utcnow())
        queue["entries"].append({"task": task["id"], "added": stored})
        queue["last_update"] = stored
    if update_execution_queue:
        task.setdefault("execution", {})["queue"] = queue_id
        result["fields"]["execution.queue"] = queue_id
    _remove_from_all_queues(call.state, call.company, task["id"], exclude=queue_id)
    response = {"fields": result["fields"], "queued": 1, "updated": result["updated"]}
    if _flag(data, "verify_watched_queue"):
        response["queue_watched"] = any(
            queue_id in w.get("queues", [])
            for (company, _, _), w in call.state.workers.items()
            if company == call.company
        )
    return response


@endpoint("tasks.enqueue_many", "2.13")
def tasks_enqueue_many(call, data):
    """Each of IDS as tasks.enqueue would, in order; a task that cannot be queued is reported in
    `failed` (its error's codes and message), the others in `succeeded`."""
    required(data, "ids")
    single = {k: v for k, v in data.items() if k not in ("ids", "validate_tasks")}
    succeeded, failed = [], []
    for task_id in data["ids"]:
        try:
            result = tasks_enqueue(call, {**single, "task": task_id})
        except ApiError as exc:
            failed.append(
                {"id": task_id, "error": {"codes": [exc.code, exc.subcode], "msg": exc.msg, "data": {}}}
            )
            continue
        succeeded.append({"id": task_id, **result})
    return {"succeeded": succeeded, "failed": failed}


@endpoint("tasks.dequeue")
def tasks_dequeue(call, data):
    required(data, "task")
    new_status = data.get("new_status")
    if new_status and new_status not in TASK_STATUSES:
        raise ApiError.of("validation_error", f"Invalid task status: {new_status}")
    task = call.state.get_scoped(call.state.tasks, data["task"], call.company)
    if task is None:
        _remove_from_all_queues(call.state, call.company, data["task"])
        return {"dequeued": 1, "updated": 0}
    result = _dequeue_and_change_status(
        call,
        task,
        reason=data.get("status_reason", ""),
        message=data.get("status_message", ""),
        new_status=new_status,
        all_queues=_flag(data, "remove_from_all_queues"),
    )
    return {"dequeued": 1, **result}


@endpoint("tasks.reset")
def tasks_reset(call, data):
    required(data, "task")
    task = _get_task(call, data["task"])
    force = _flag(data, "force")
    if not force and task["status"] == "published":
        raise ApiError.of("invalid_task_status", task_id=task["id"], status=task["status"])
    dequeued = _dequeue(call, task) or {}
    _remove_from_all_queues(call.state, call.company, task["id"])
    call.state.events[:] = [e for e in call.state.events if e.get("task") != task["id"]]
    updates = {
        "last_iteration": 0,
        "last_metrics": {},
        "unique_metrics": [],
        "metric_stats": {},
        "runtime": {},
        "last_worker": None,
        "last_worker_report": None,
        "started": None,
        "completed": None,
        "published": None,
        "active_duration": None,
        "enqueue_status": None,
    }
    task.setdefault("models", {})["output"] = []
    if _flag(data, "clear_all"):
        updates["execution"] = {}
        updates["script"] = None
    else:
        task.get("execution", {}).pop("queue", None)
        artifacts = task.get("execution", {}).get("artifacts")
        if artifacts:
            task["execution"]["artifacts"] = [a for a in artifacts if a.get("mode") == "input"]
    result = change_status(call, task, "created", reason="reset", message="reset", force=force, **updates)
    return {
        "dequeued": dequeued,
        "updated": result["updated"],
        "fields": result["fields"],
        "deleted_models": 0,
        "updated_children": 0,
        "updated_models": 0,
    }


@endpoint("tasks.delete")
def tasks_delete(call, data):
    required(data, "task")
    task = _get_task(call, data["task"])
    if (
        task["status"] != "created"
        and "archived" not in task.get("system_tags", [])
        and not _flag(data, "force")
    ):
        raise ApiError.of(
            "task_cannot_be_deleted",
            "due to status, use force=True",
            task=task["id"],
            expected="created",
            current=task["status"],
        )
    _dequeue(call, task)
    _remove_from_all_queues(call.state, call.company, task["id"])
    call.state.events[:] = [e for e in call.state.events if e.get("task") != task["id"]]
    del call.state.tasks[task["id"]]
    _touch_project(call, task.get("project"))
    return {"deleted": True, "updated_children": 0, "updated_models": 0, "deleted_models": 0}


@endpoint("tasks.archive")
def tasks_archive(call, data):
    required(data, "tasks")
    tasks = [_get_task(call, task_id) for task_id in data["tasks"]]
    for task in tasks:
        _dequeue_and_change_status(call, task, all_queues=True)
        if "archived" not in task["system_tags"]:
            task["system_tags"].append("archived")
    return {"archived": len(tasks)}


@endpoint("tasks.clone")
def tasks_clone(call, data):
    required(data, "task")
    source = _get_task(call, data["task"], by_ids=True)
    now = iso(utcnow())
    task_id = call.state.next_id("task")
    doc = _default_task(call, task_id, now)
    new_project = None
    project_id = data.get("new_task_project") or source.get("project")
    if data.get("new_project_name"):
        new_project = _create_project(call, data["new_project_name"])
        project_id = new_project["id"]
    execution = copy.deepcopy(source.get("execution", {}))
    if execution.get("artifacts"):
        execution["artifacts"] = [a for a in execution["artifacts"] if a.get("mode") != "output"]
    execution.update(copy.deepcopy(data.get("execution_overrides") or {}))
    doc.update(
        name=data.get("new_task_name") or source["name"],
        comment=data.get("new_task_comment") or source.get("comment"),
        parent=data.get("new_task_parent") or source.get("parent"),
        project=project_id,
        tags=list(data.get("new_task_tags") or source.get("tags", [])),
        system_tags=list(data.get("new_task_system_tags") or []),
        type=source.get("type"),
        script=copy.deepcopy(source.get("script")),
        output={"destination": source["output"]["destination"]}
        if source.get("output", {}).get("destination")
        else {},
        execution={**doc["execution"], **execution},
        hyperparams=copy.deepcopy(data.get("new_task_hyperparams") or source.get("hyperparams", {})),
        configuration=copy.deepcopy(data.get("new_task_configuration") or source.get("configuration", {})),
        container=copy.deepcopy(data.get("new_task_container") or source.get("container", {})),
    )
    call.state.tasks[task_id] = drop_none(doc)
    response = {"id": task_id}
    if new_project:
        response["new_project"] = {"id": new_project["id"], "name": new_project["name"]}
    return response


@endpoint("tasks.ping")
def tasks_ping(call, data):
    required(data, "task")
    task = call.state.get_scoped(call.state.tasks, data["task"], call.company)
    if task is not None:
        _set_last_update(task)
    return {}


@endpoint("tasks.add_or_update_artifacts", "2.10")
def tasks_add_or_update_artifacts(call, data):
    required(data, "task", "artifacts")
    task = _get_task(call, data["task"])
    artifacts = task.setdefault("execution", {}).setdefault("artifacts", [])
    for artifact in data["artifacts"]:
        artifact = {"mode": "output", **artifact}
        artifacts[:] = [
            a for a in artifacts if (a.get("key"), a.get("mode")) != (artifact.get("key"), artifact["mode"])
        ]
        artifacts.append(artifact)
    stored = iso(utcnow())
    _store(task, {"last_change": stored, "last_changed_by": call.user, "last_update": stored})
    return {"updated": 1}


@endpoint("tasks.delete_artifacts", "2.10")
def tasks_delete_artifacts(call, data):
    required(data, "task", "artifacts")
    task = _get_task(call, data["task"])
    artifacts = task.setdefault("execution", {}).setdefault("artifacts", [])
    keys = {(a.get("key"), a.get("mode", "output")) for a in data["artifacts"]}
    kept = [a for a in artifacts if (a.get("key"), a.get("mode", "output")) not in keys]
    deleted = len(artifacts) - len(kept)
    artifacts[:] = kept
    return {"deleted": deleted}


@endpoint("tasks.edit_hyper_params", "2.9")
def tasks_edit_hyper_params(call, data):
    required(data, "task", "hyperparams")
    task = _get_task(call, data["task"])
    params = task.setdefault("hyperparams", {})
    replace = data.get("replace_hyperparams", "none")
    if replace == "all":
        params.clear()
    for item in data["hyperparams"]:
        section = params.setdefault(item.get("section", "General"), {})
        if replace == "section":
            section.clear()
        section[item["name"]] = {
            k: item[k] for k in ("section", "name", "value", "type", "description") if k in item
        }
    _set_last_update(task)
    return {"updated": 1}


@endpoint("tasks.get_hyper_params", "2.9")
def tasks_get_hyper_params(call, data):
    required(data, "tasks")
    out = []
    for task_id in data["tasks"]:
        task = _get_task(call, task_id)
        items = [p for section in task.get("hyperparams", {}).values() for p in section.values()]
        out.append({"task": task_id, "hyperparams": items})
    return {"params": out}


@endpoint("tasks.edit_configuration", "2.9")
def tasks_edit_configuration(call, data):
    required(data, "task", "configuration")
    task = _get_task(call, data["task"])
    config = task.setdefault("configuration", {})
    if _flag(data, "replace_configuration"):
        config.clear()
    for item in data["configuration"]:
        config[item["name"]] = {k: item[k] for k in ("name", "value", "type", "description") if k in item}
    _set_last_update(task)
    return {"updated": 1}


@endpoint("tasks.get_configurations", "2.9")
def tasks_get_configurations(call, data):
    required(data, "tasks")
    names = data.get("names")
    out = []
    for task_id in data["tasks"]:
        task = _get_task(call, task_id)
        items = [c for n, c in task.get("configuration", {}).items() if not names or n in names]
        out.append({"task": task_id, "configuration": items})
    return {"configurations": out}


@endpoint("tasks.get_configuration_names", "2.9")
def tasks_get_configuration_names(call, data):
    required(data, "tasks")
    return {
        "configurations": [
            {"task": task_id, "names": sorted(_get_task(call, task_id).get("configuration", {}))}
            for task_id in data["tasks"]
        ]
    }


@endpoint("tasks.add_or_update_model", "2.13")
def tasks_add_or_update_model(call, data):
    required(data, "task", "name", "model", "type")
    task = _get_task(call, data["task"])
    models = task.setdefault("models", {}).setdefault(data["type"], [])
    models[:] = [m for m in models if m.get("name") != data["name"]]
    models.append({"name": data["name"], "model": data["model"], "updated": iso(utcnow())})
    updates = {}
    if isinstance(data.get("iteration"), int):
        updates["last_iteration"] = max(task.get("last_iteration", 0), data["iteration"])
    _set_last_update(task, **updates)
    return {"updated": 1}


@endpoint("tasks.delete_models", "2.13")
def tasks_delete_models(call, data):
    required(data, "task", "models")
    task = _get_task(call, data["task"])
    for item in data["models"]:
        models = task.setdefault("models", {}).setdefault(item.get("type", "output"), [])
        models[:] = [m for m in models if m.get("name") != item.get("name")]
    return {"updated": 1}


# --- models ------------------------------------------------------------------------------------

MODEL_FIELDS = {"id", "name", "user", "project", "task", "framework", "ready", "uri", "parent", "comment"}
_MODEL_SETTABLE = (
    "name",
    "uri",
    "framework",
    "design",
    "labels",
    "ready",
    "project",
    "task",
    "tags",
    "system_tags",
    "comment",
    "parent",
    "metadata",
)


def _new_model(call: Call, fields: dict) -> dict:
    now = iso(utcnow())
    model_id = call.state.next_id("model")
    doc = {
        "id": model_id,
        "company": call.company,
        "user": call.user,
        "created": now,
        "last_update": now,
        "tags": [],
        "system_tags": [],
        "design": {},
        "labels": {},
        "ready": True,
        "uri": "",
        **drop_none(fields),
    }
    call.state.models[model_id] = doc
    return doc


@endpoint("models.create")
def models_create(call, data):
    required(data, "name")
    if data.get("task"):
        _get_task(call, data["task"])
    doc = _new_model(call, {k: copy.deepcopy(data[k]) for k in _MODEL_SETTABLE if k in data})
    return {"id": doc["id"], "created": True}


@endpoint("models.update_for_task")
def models_update_for_task(call, data):
    required(data, "task")
    task = _get_task(call, data["task"])
    fields = {
        k: data[k] for k in ("uri", "name", "comment", "tags", "system_tags") if data.get(k) is not None
    }
    existing_id = data.get("override_model_id")
    if existing_id:
        model = _get_model(call, existing_id)
        _store(model, {**fields, "last_update": iso(utcnow())})
        return {"id": model["id"], "created": False, "updated": 1}
    model = _new_model(
        call,
        {"name": task["name"], "project": task.get("project"), "task": task["id"], "ready": False, **fields},
    )
    task.setdefault("models", {}).setdefault("output", []).append(
        {"name": model["name"], "model": model["id"], "updated": iso(utcnow())}
    )
    return {"id": model["id"], "created": True, "updated": 0}


@endpoint("models.get_by_id")
def models_get_by_id(call, data):
    required(data, "model")
    return {"model": copy.deepcopy(_get_model(call, data["model"]))}


def _models(call, data):
    docs = call.state.scoped(call.state.models, call.company)
    return {"models": listing(docs, data, filter_fields=MODEL_FIELDS, hidden_filter=True)}


@endpoint("models.get_all_ex")
def models_get_all_ex(call, data):
    return _models(call, _with_subprojects(call, data))


endpoint("models.get_all")(_models)


def _model_edit(call, data):
    required(data, "model")
    model = _get_model(call, data["model"])
    fields = {k: copy.deepcopy(data[k]) for k in _MODEL_SETTABLE if k in data and data[k] is not None}
    stored, exact = _now_pair()
    _store(model, {**fields, "last_update": stored})
    return {"updated": 1 if fields else 0, "fields": {**fields, "last_update": exact}}


endpoint("models.update")(_model_edit)
endpoint("models.edit")(_model_edit)


@endpoint("models.set_ready")
def models_set_ready(call, data):
    required(data, "model")
    model = _get_model(call, data["model"])
    model["ready"] = True
    return {"updated": 1, "published_task": {}}


@endpoint("models.delete")
def models_delete(call, data):
    required(data, "model")
    model = _get_model(call, data["model"])
    del call.state.models[model["id"]]
    return {"deleted": True, "url": model.get("uri") or None}


@endpoint("models.add_or_update_metadata", "2.13")
def models_add_or_update_metadata(call, data):
    required(data, "model", "metadata")
    model = _get_model(call, data["model"])
    metadata = {} if _flag(data, "replace_metadata") else model.setdefault("metadata", {})
    for item in data["metadata"]:
        metadata[item["key"]] = item
    model["metadata"] = metadata
    return {"updated": 1}


# --- queues ------------------------------------------------------------------------------------------

QUEUE_FIELDS = {
    "id",
    "name",
    "display_name",
    "company",
    "created",
    "tags",
    "system_tags",
    "entries",
    "last_update",
    "metadata",
}


def _create_queue(
    call: Call, name: str, *, tags=None, system_tags=None, metadata=None, display_name=None
) -> dict:
    if any(q["name"] == name for q in call.state.scoped(call.state.queues, call.company)):
        raise ApiError.of("expected_unique_data", name=name)
    now = iso(utcnow())
    queue_id = call.state.next_id("queue")
    doc = drop_none(
        {
            "id": queue_id,
            "name": name,
            "display_name": display_name,
            "company": call.company,
            "created": now,
            "tags": list(tags or []),
            "system_tags": list(system_tags or []),
            "entries": [],
            "last_update": now,
            "metadata": dict(metadata or {}),
        }
    )
    call.state.queues[queue_id] = doc
    return doc


def _default_queue(call: Call) -> dict:
    defaults = [
        q for q in call.state.scoped(call.state.queues, call.company) if "default" in q.get("system_tags", [])
    ]
    if not defaults:
        raise ApiError.of("no_default_queue")
    return defaults[0]


def _queue_out(call: Call, max_entries=None):
    legacy_metadata = call.requested_version < (2, 13)

    def out(doc: dict) -> dict:
        doc = copy.deepcopy(doc)
        if isinstance(max_entries, int) and max_entries > 0:
            doc["entries"] = doc["entries"][:max_entries]
        if legacy_metadata and isinstance(doc.get("metadata"), dict):
            doc["metadata"] = list(doc["metadata"].values())
        return doc

    return out


@endpoint("queues.create", "2.4")
def queues_create(call, data):
    required(data, "name")
    metadata = data.get("metadata")
    if isinstance(metadata, list):
        metadata = {m["key"]: m for m in metadata if isinstance(m, dict) and "key" in m}
    doc = _create_queue(
        call,
        string_field(data, "name"),
        tags=data.get("tags"),
        system_tags=data.get("system_tags"),
        metadata=metadata,
        display_name=data.get("display_name"),
    )
    return {"id": doc["id"]}


@endpoint("queues.get_by_id", "2.4")
def queues_get_by_id(call, data):
    required(data, "queue")
    return {"queue": _queue_out(call, data.get("max_task_entries"))(_get_queue(call, data["queue"]))}


@endpoint("queues.get_all", "2.4")
def queues_get_all(call, data):
    docs = call.state.scoped(call.state.queues, call.company)
    return {
        "queues": listing(
            docs,
            data,
            filter_fields={"id", "name", "display_name"},
            allowed_fields=QUEUE_FIELDS,
            transform=_queue_out(call, data.get("max_task_entries")),
        )
    }


@endpoint("queues.get_all_ex", "2.4")
def queues_get_all_ex(call, data):
    base = _queue_out(call, data.get("max_task_entries"))
    workers = [w for (company, _, _), w in call.state.workers.items() if company == call.company]

    def joined(doc):
        doc = base(doc)
        for entry in doc["entries"]:
            task = call.state.tasks.get(entry["task"])
            entry["task"] = {"id": entry["task"], **({"name": task["name"]} if task else {})}
        doc["workers"] = [
            {"name": w["id"], "ip": w.get("ip", ""), "key": w["key"], "task": w.get("task")}
            for w in workers
            if doc["id"] in w.get("queues", [])
        ]
        return doc

    docs = call.state.scoped(call.state.queues, call.company)
    return {
        "queues": listing(
            docs,
            data,
            filter_fields={"id", "name", "display_name"},
            allowed_fields=QUEUE_FIELDS | {"workers"},
            transform=joined,
        )
    }


@endpoint("queues.get_default", "2.4")
def queues_get_default(call, data):
    queue = _default_queue(call)
    return {"id": queue["id"], "name": queue["name"]}


@endpoint("queues.update", "2.4")
def queues_update(call, data):
    required(data, "queue")
    queue = _get_queue(call, data["queue"])
    fields = {k: data[k] for k in ("name", "display_name", "tags", "system_tags") if data.get(k) is not None}
    stored, exact = _now_pair()
    _store(queue, {**fields, "last_update": stored})
    return {"updated": 1 if fields else 0, "fields": {**fields, "last_update": exact}}


@endpoint("queues.delete", "2.4")
def queues_delete(call, data):
    """A queue with entries needs force; its tasks then return to their pre-enqueue status."""
    required(data, "queue")
    queue = _get_queue(call, data["queue"])
    if queue["entries"]:
        if not _flag(data, "force"):
            raise ApiError.of("queue_not_empty", "use force=true to delete", id=queue["id"])
        for entry in queue["entries"]:
            _reset_removed_task(call, entry["task"], queue["id"], f"Queue {queue['id']} was deleted")
    del call.state.queues[queue["id"]]
    return {"deleted": 1}


def _reset_removed_task(call: Call, task_id: str, queue_id: str, reason: str):
    task = call.state.get_scoped(call.state.tasks, task_id, call.company)
    if task is None or task.get("execution", {}).get("queue") != queue_id:
        return
    change_status(
        call,
        task,
        task.get("enqueue_status") or "created",
        reason=reason,
        force=True,
        enqueue_status=None,
        **{"execution.queue": None},
    )


@endpoint("queues.add_task", "2.4")
def queues_add_task(call, data):
    required(data, "queue", "task")
    queue = _get_queue(call, data["queue"])
    if any(e["task"] == data["task"] for e in queue["entries"]):
        raise ApiError.of("task_already_queued", task=data["task"])
    stored = iso(utcnow())
    queue["entries"].append({"task": data["task"], "added": stored})
    queue["last_update"] = stored
    if _flag(data, "update_execution_queue"):
        task = call.state.get_scoped(call.state.tasks, data["task"], call.company)
        if task is not None:
            task.setdefault("execution", {})["queue"] = queue["id"]
    return {"added": 1}


@endpoint("queues.remove_task", "2.4")
def queues_remove_task(call, data):
    """Plain: only the entry goes (the task stays `queued`, execution.queue set). With
    update_task_status: the task returns to its enqueue_status and loses execution.queue."""
    required(data, "queue", "task")
    queue = call.state.get_scoped(call.state.queues, data["queue"], call.company)
    if queue is None or not any(e["task"] == data["task"] for e in queue["entries"]):
        raise ApiError.of(
            "invalid_queue_or_task_not_queued", task=data["task"], id=data["queue"], company=call.company
        )
    removed = _remove_from_queue(call.state, call.company, queue["id"], data["task"])
    if removed and _flag(data, "update_task_status"):
        _reset_removed_task(call, data["task"], queue["id"], f"Task was removed from the queue {queue['id']}")
    return {"removed": removed}


@endpoint("queues.clear_queue", "2.4")
def queues_clear_queue(call, data):
    required(data, "queue")
    queue = _get_queue(call, data["queue"])
    tasks = [e["task"] for e in queue["entries"]]
    for task_id in tasks:
        _reset_removed_task(call, task_id, queue["id"], f"Queue {queue['id']} was cleared")
    queue["entries"] = []
    return {"removed_tasks": tasks}


@endpoint("queues.get_next_task")
def queues_get_next_task(call, data):
    """Pops the first entry (atomically, under the state lock); `{}` when the queue is empty."""
    required(data, "queue")
    queue = _get_queue(call, data["queue"])
    if not queue["entries"] or (data.get("task") and queue["entries"][0]["task"] != data["task"]):
        return {}
    entry = queue["entries"].pop(0)
    queue["last_update"] = iso(utcnow())
    result = {"entry": entry}
    task = call.state.tasks.get(entry["task"])
    if task is not None:
        if task["status"] == "stopped":  # the server's fix for a task aborted while re-queued
            task["status"] = "queued"
        if _flag(data, "get_task_info"):
            result["task_info"] = {"company": task["company"], "user": task["user"]}
    return result


@endpoint("queues.peek_task", "2.15")
def queues_peek_task(call, data):
    required(data, "queue")
    queue = _get_queue(call, data["queue"])
    return {"task": queue["entries"][0]["task"] if queue["entries"] else None}


@endpoint("queues.get_queue_metrics", "2.4")
def queues_get_queue_metrics(call, data):
    """One sample per queue, now (the server keeps a history in Elasticsearch)."""
    ids = data.get("queue_ids") or [q["id"] for q in call.state.scoped(call.state.queues, call.company)]
    now = int(utcnow().timestamp())
    out = []
    for queue_id in ids:
        queue = _get_queue(call, queue_id)
        out.append(
            {
                "queue": queue_id,
                "dates": [now],
                "avg_waiting_times": [0.0],
                "queue_lengths": [len(queue["entries"])],
            }
        )
    return {"queues": out}


@endpoint("queues.get_num_entries", "2.15")
def queues_get_num_entries(call, data):
    required(data, "queue")
    return {"num": len(_get_queue(call, data["queue"])["entries"])}


def _reposition(call, data, where) -> dict:
    required(data, "queue", "task")
    queue = _get_queue(call, data["queue"])
    entries = queue["entries"]
    index = next((i for i, e in enumerate(entries) if e["task"] == data["task"]), None)
    if index is None:
        raise ApiError.of(
            "invalid_queue_or_task_not_queued", task=data["task"], id=queue["id"], company=call.company
        )
    entry = entries.pop(index)
    count = data.get("count", 1) if isinstance(data.get("count"), int) else 1
    position = {
        "first": 0,
        "last": len(entries),
        "forward": max(0, index - count),
        "backward": min(len(entries), index + count),
    }[where]
    entries.insert(position, entry)
    return {"position": position}


endpoint("queues.move_task_to_front", "2.4")(lambda call, data: _reposition(call, data, "first"))
endpoint("queues.move_task_to_back", "2.4")(lambda call, data: _reposition(call, data, "last"))
endpoint("queues.move_task_forward", "2.4")(lambda call, data: _reposition(call, data, "forward"))
endpoint("queues.move_task_backward", "2.4")(lambda call, data: _reposition(call, data, "backward"))


# --- workers ----------------------------------------------------------------------------------------

DEFAULT_WORKER_TIMEOUT = 10 * 60


def _register_worker(call: Call, worker: str, queues, timeout=None, tags=None, system_tags=None) -> dict:
    user = call.state.users.get(call.user)
    if user is None or user["company"] != call.company:
        raise ApiError.of("invalid_user_id", id=call.user, company=call.company)
    queues = list(queues or [])
    unknown = [q for q in queues if call.state.get_scoped(call.state.queues, q, call.company) is None]
    if unknown:
        raise ApiError.of("invalid_queue_id", ids=unknown)
    now = iso(utcnow())
    entry = {
        "key": f"worker_{call.company}_{call.user}_{worker}",
        "id": worker,
        "user": {"id": user["id"], "name": user["name"]},
        "company": {"id": call.company, "name": call.state.company_name(call.company)},
        "ip": call.extra.get("client_ip", ""),
        "queues": queues,
        "register_time": now,
        "register_timeout": timeout or DEFAULT_WORKER_TIMEOUT,
        "last_activity_time": now,
        "tags": list(tags or []),
        "system_tags": list(system_tags or []),
    }
    call.state.workers[(call.company, call.user, worker)] = entry
    return entry


@endpoint("workers.register", "2.4")
def workers_register(call, data):
    required(data, "worker")
    timeout = data.get("timeout")
    if timeout is not None and (not isinstance(timeout, int) or timeout <= 0):
        raise ApiError.of(
            "worker_registration_failed", "invalid timeout", timeout=timeout, worker=data["worker"]
        )
    _register_worker(
        call, data["worker"], data.get("queues"), timeout, data.get("tags"), data.get("system_tags")
    )
    return {}


@endpoint("workers.unregister", "2.4")
def workers_unregister(call, data):
    required(data, "worker")
    call.state.workers.pop((call.company, call.user, data["worker"]), None)  # auto_unregister: no error
    return {}


@endpoint("workers.status_report", "2.4")
def workers_status_report(call, data):
    """Keeps the worker alive (registering it if needed); with `task`, the task records
    last_worker / last_worker_report, as the server's status_report does."""
    required(data, "worker")
    key = (call.company, call.user, data["worker"])
    entry = call.state.workers.get(key) or _register_worker(call, data["worker"], data.get("queues"))
    now = iso(utcnow())
    entry["last_activity_time"] = now
    entry["last_report_time"] = now
    if data.get("queues"):
        entry["queues"] = list(data["queues"])
    entry["queue"] = data.get("queue")
    if data.get("machine_stats"):
        entry["machine_stats"] = data["machine_stats"]
    if data.get("task"):
        task = call.state.get_scoped(call.state.tasks, data["task"], call.company)
        if task is None:
            raise ApiError.of("invalid_task_id", id=data["task"], company=call.company)
        _store(
            task,
            {
                "last_worker": data["worker"],
                "last_worker_report": now,
                "last_update": now,
                "last_change": now,
                "last_changed_by": call.user,
            },
        )
        entry["task"] = {"id": task["id"], "name": task["name"]}
        proj = call.state.projects.get(task.get("project") or "")
        entry["project"] = {"id": proj["id"], "name": proj["name"]} if proj else None
    else:
        entry["task"] = None
        entry["project"] = None
    return {}


@endpoint("workers.get_all", "2.4")
def workers_get_all(call, data):
    now = utcnow()
    last_seen = data.get("last_seen")
    workers = []
    for (company, _, _), entry in call.state.workers.items():
        if company != call.company:
            continue
        age = (now - parse_iso(entry["last_activity_time"])).total_seconds()
        if isinstance(last_seen, int) and last_seen > 0 and age > last_seen:
            continue
        out = copy.deepcopy(entry)
        out["queues"] = [
            {"id": q, "name": call.state.queues[q]["name"], "num_tasks": len(call.state.queues[q]["entries"])}
            for q in entry.get("queues", [])
            if q in call.state.queues
        ]
        workers.append(drop_none(out))
    return {"workers": workers}


# --- events ------------------------------------------------------------------------------------------

EVENT_TYPES = {"training_stats_scalar", "training_stats_vector", "training_debug_image", "plot", "log"}
LOCKED_STATUSES = {"publishing", "published"}


def _md5(value: str) -> str:
    return hashlib.md5(value.encode(), usedforsecurity=False).hexdigest()


@endpoint("events.add_batch")
def events_add_batch(call, data):
    """json-lines events. Each is checked (type, task of this company, not published), stored, and
    its task's statistics updated as the server does: last_iteration, last_metrics (value, count,
    mean_value per metric/variant), metric_stats (replaced by this batch's), active_duration."""
    events = data if isinstance(data, list) else data.get("events") or data.get("_batch_") or []
    errors: dict[str, int] = {}
    added = 0
    per_task: dict[str, list[dict]] = {}
    for event in events:
        if not isinstance(event, dict):
            errors["Event must be an object"] = errors.get("Event must be an object", 0) + 1
            continue
        event_type = (event.get("type") or "").replace(" ", "_")
        if not event_type:
            errors["Event must have a 'type' field"] = errors.get("Event must have a 'type' field", 0) + 1
            continue
        if event_type not in EVENT_TYPES:
            key = f"Invalid event type {event_type}"
            errors[key] = errors.get(key, 0) + 1
            continue
        task_id = event.get("task")
        task = call.state.get_scoped(call.state.tasks, task_id, call.company)
        if task is None or (task["status"] in LOCKED_STATUSES and not event.get("allow_locked")):
            key = f"Invalid task id {task_id}"
            errors[key] = errors.get(key, 0) + 1
            continue
        stored = dict(event, type=event_type, company=call.company)
        stored.setdefault("timestamp", int(utcnow().timestamp() * 1000))
        stored.setdefault("worker", call.worker)
        stored["metric"] = stored.get("metric") or ""
        stored["variant"] = stored.get("variant") or ""
        call.state.events.append(stored)
        per_task.setdefault(task_id, []).append(stored)
        added += 1
    if not added:
        raise ApiError.of("events_not_added", **errors)
    for task_id, task_events in per_task.items():
        _update_task_statistics(call.state.tasks[task_id], task_events)
    return {"added": added, "errors": sum(errors.values()), "errors_info": errors}


def _update_task_statistics(task: dict, events: list[dict]):
    updates: dict = {}
    iterations = [e["iter"] for e in events if isinstance(e.get("iter"), int)]
    if iterations:
        updates["last_iteration"] = max(task.get("last_iteration", 0), max(iterations))
    last_metrics = copy.deepcopy(task.get("last_metrics", {}))
    by_variant: dict[tuple[str, str], list[dict]] = {}
    for event in events:
        if event["type"] == "training_stats_scalar" and isinstance(event.get("value"), int | float):
            by_variant.setdefault((event["metric"], event["variant"]), []).append(event)
    for (metric, variant), items in by_variant.items():
        slot = last_metrics.setdefault(_md5(metric), {}).setdefault(_md5(variant), {})
        last = max(items, key=lambda e: (e.get("iter", 0), e.get("timestamp", 0)))
        count, mean = slot.get("count", 0), slot.get("mean_value", 0)
        total = mean * count + sum(e["value"] for e in items)
        slot.update(
            metric=metric,
            variant=variant,
            value=last["value"],
            count=count + len(items),
            mean_value=round(total / (count + len(items)), 2),
        )
    if by_variant:
        updates["last_metrics"] = last_metrics
    metric_stats: dict = {}
    for event in events:
        stats = metric_stats.setdefault(
            _md5(event["metric"]), {"metric": event["metric"], "event_stats_by_type": {}}
        )
        by_type = stats["event_stats_by_type"].setdefault(event["type"], {"last_update": 0})
        by_type["last_update"] = max(by_type["last_update"], event.get("timestamp", 0))
    updates["metric_stats"] = metric_stats
    _set_last_update(task, **updates)


@endpoint("events.add")
def events_add(call, data):
    events_add_batch(call, [data])
    return {}


@endpoint("events.get_task_log", "2.9")
def events_get_task_log(call, data):
    required(data, "task")
    task = _get_task(call, data["task"])
    logs = [e for e in call.state.events if e.get("task") == task["id"] and e["type"] == "log"]
    return {"events": copy.deepcopy(logs), "returned": len(logs), "total": len(logs)}


# The one projection helper the plumbing needs for `only_fields` on single objects.
__all__ = ["ENDPOINTS", "Call", "Endpoint", "Tokens", "project", "version_tuple"]
