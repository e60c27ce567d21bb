"""In-memory state of the upstream stand-in: what the open-source apiserver keeps in MongoDB,
Redis and Elasticsearch, reduced to dicts, plus its error envelopes and its listing semantics
(filters, `only_fields`, `order_by`, paging).

Objects are dicts shaped like the documents the real server returns (see
../shared/spec/clearml-upstream/*.jsonl); a key whose value is None is simply absent, as an
unset MongoDB field is. Every object carries its `company`: lookups always filter on it, so
nothing crosses companies.
"""

from __future__ import annotations

import copy
import re
import secrets
import string
import threading
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

from .standin_filters import parse_filters_entry, parsed_list_filter

SERVER_VERSION = "2.0.0"
API_VERSION = "2.31"
DEFAULT_COMPANY_NAME = "clearml"
SYSTEM_USER_ID = "__apiserver__"
SYSTEM_USER_NAME = "apiserver"
SYSTEM_ROLES = {"system", "root"}
IMPERSONATING_ROLES = SYSTEM_ROLES | {"admin"}
USER_TOKEN_LIFETIME = 30 * 24 * 3600  # the server's default_expiration_sec: 30 days


# --- errors -------------------------------------------------------------------------------------

# (HTTP status = result_code, result_subcode, description) as in the server's errors.conf.
ERRORS = {
    "malformed_request": (
        400,
        0,
        "The browser (or proxy) sent a request that this server could not understand.",
    ),
    "invalid_headers": (400, 5, "Invalid headers"),
    "impersonation_error": (400, 6, "Impersonation error"),
    "invalid_id": (400, 10, "Invalid object id"),
    "missing_required_fields": (400, 11, "Missing required fields"),
    "validation_error": (400, 12, "Validation error"),
    "fields_value_error": (400, 16, "Invalid value for fields"),
    "invalid_access_key": (400, 75, "Access key not found"),
    "invalid_fields": (
        400,
        14,
        "Lookup error (probably an invalid field name or unsupported nested field)",
    ),
    "invalid_task_id": (400, 101, "Invalid task id"),
    "invalid_task_status": (400, 110, "Invalid task status"),
    "missing_task_fields": (400, 122, "Task is missing expected fields"),
    "task_cannot_be_deleted": (400, 123, "Task cannot be deleted"),
    "events_not_added": (400, 131, "Events not added"),
    "invalid_model_id": (400, 201, "Invalid model id"),
    "invalid_user": (400, 300, "Invalid user"),
    "invalid_user_id": (400, 301, "Invalid user id"),
    "invalid_project_id": (400, 401, "Invalid project id"),
    "project_has_tasks": (400, 402, "Project has associated tasks"),
    "invalid_queue_id": (400, 701, "Invalid queue id"),
    "queue_not_empty": (400, 702, "Queue is not empty"),
    "invalid_queue_or_task_not_queued": (400, 703, "Invalid queue id or task not in queue"),
    "task_already_queued": (400, 706, "Failed adding task to queue since task is already queued"),
    "no_default_queue": (400, 707, "No queue is tagged as the default queue for this company"),
    "data_validation_error": (400, 800, "Data validation error"),
    "expected_unique_data": (
        400,
        801,
        "Value combination already exists (unique field already contains this value)",
    ),
    "invalid_worker_id": (400, 1001, "Invalid worker id"),
    "worker_registration_failed": (400, 1002, "Worker registration failed"),
    "not_authorized": (401, 1, "Unauthorized (not authorized for endpoint)"),
    "bad_auth_type": (401, 10, "Unauthorized (bad authentication header type)"),
    "no_credentials": (401, 20, "Unauthorized (missing credentials)"),
    "bad_credentials": (401, 21, "Unauthorized (malformed credentials)"),
    "invalid_credentials": (401, 22, "Unauthorized (invalid credentials)"),
    "invalid_token": (401, 30, "Invalid token"),
    "role_not_allowed": (403, 20, "Forbidden (not allowed for role)"),
    "endpoint_not_found": (404, 0, ""),
    "general_error": (500, 0, "General server error"),
}


def _format_value(value) -> str:
    if isinstance(value, list | tuple | set | frozenset):
        return "(" + ", ".join(str(v) for v in value) + ")"
    return str(value)


class ApiError(Exception):
    """An error envelope: `ApiError.of("invalid_task_id", ids=[...])` renders the server's
    message format, "<Description> (<extra>): key=value, ...", e.g. "Invalid task id: ids=(x)"."""

    def __init__(self, code: int, subcode: int, msg: str):
        super().__init__(msg)
        self.code, self.subcode, self.msg = code, subcode, msg

    @classmethod
    def of(cls, error: str, extra: str | None = None, /, **params) -> ApiError:
        code, subcode, description = ERRORS[error]
        msg = description
        if extra:
            msg = f"{msg} ({extra})"
        if params:
            msg += ": " + ", ".join(f"{key}={_format_value(value)}" for key, value in params.items())
        return cls(code, subcode, msg)


def required(data: dict, *fields: str):
    """The request-schema check that runs before an endpoint: a missing field is 400/12."""
    for field in fields:
        if data.get(field) in (None, ""):
            raise ApiError.of("validation_error", f"error for field '{field}'. field is required!")


def string_field(data: dict, field: str, *, min_length: int = 0) -> str:
    value = data.get(field)
    if not isinstance(value, str):
        raise ApiError.of("validation_error", f"error for field '{field}'. expected a string")
    if len(value.strip()) < min_length:
        raise ApiError.of("data_validation_error", **{field: "String value is too short"})
    return value


# --- identities -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    user: str
    company: str
    role: str
    user_name: str
    company_name: str

    def as_claim(self) -> dict:
        return {
            "user": self.user,
            "company": self.company,
            "role": self.role,
            "user_name": self.user_name,
            "company_name": self.company_name,
        }


# --- time and ids --------------------------------------------------------------------------------


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """Stored timestamps: milliseconds, as MongoDB keeps them."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000).isoformat()


def iso_exact(moment: datetime) -> str:
    """Timestamps echoed in `fields` of an update response keep microseconds, as the server's do."""
    return moment.isoformat()


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value)


def new_id() -> str:
    return uuid.uuid4().hex


def new_access_key() -> str:
    return "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(30))


def new_secret_key() -> str:
    return secrets.token_urlsafe(48)[:64]


def drop_none(doc: dict) -> dict:
    """What is stored: None means the field is unset, and unset fields are not returned."""
    return {key: value for key, value in doc.items() if value is not None}


# --- the state -------------------------------------------------------------------------------------


class State:
    """Everything the stand-in remembers. All access goes through `lock` (the HTTP handlers take it
    for each call; tests may take it too while reading)."""

    def __init__(self):
        self.lock = threading.RLock()
        self.companies: dict[str, dict] = {}
        self.users: dict[str, dict] = {}  # auth users (the system user included)
        self.credentials: dict[str, dict] = {}  # access_key -> {secret, user, company, label, ...}
        self.projects: dict[str, dict] = {}
        self.tasks: dict[str, dict] = {}
        self.models: dict[str, dict] = {}
        self.queues: dict[str, dict] = {}
        self.workers: dict[tuple[str, str, str], dict] = {}  # (company, user, worker id) -> entry
        self.events: list[dict] = []
        self._preset_ids: dict[str, list[str]] = defaultdict(list)

    # ids ------------------------------------------------------------------------------------
    def preset_ids(self, kind: str, ids) -> None:
        """The next objects of KIND ("user", "project", "task", "model", "queue") get these ids, in
        order: a replayed recording then sees the very ids it recorded."""
        with self.lock:
            self._preset_ids[kind].extend(ids)

    def next_id(self, kind: str) -> str:
        with self.lock:
            presets = self._preset_ids.get(kind)
            return presets.pop(0) if presets else new_id()

    # lookups, always company-scoped ----------------------------------------------------------
    @staticmethod
    def scoped(collection: dict, company: str) -> list[dict]:
        return [doc for doc in collection.values() if doc.get("company") == company]

    @staticmethod
    def get_scoped(collection: dict, object_id, company: str) -> dict | None:
        doc = collection.get(object_id) if isinstance(object_id, str) else None
        return doc if doc is not None and doc.get("company") == company else None

    def company_name(self, company: str) -> str:
        record = self.companies.get(company)
        return record["name"] if record else ""

    def backend_user(self, user_id: str, company: str) -> dict | None:
        user = self.users.get(user_id)
        if user and user["company"] == company and user.get("backend", True):
            return user
        return None

    def snapshot(self) -> dict:
        """A deep copy of the whole state, for assertions that must not race with requests."""
        with self.lock:
            return copy.deepcopy(
                {
                    "companies": self.companies,
                    "users": self.users,
                    "projects": self.projects,
                    "tasks": self.tasks,
                    "models": self.models,
                    "queues": self.queues,
                    "workers": {"/".join(key): value for key, value in self.workers.items()},
                    "events": self.events,
                }
            )


# --- listings: filters, projection, order, paging ------------------------------------------------

# Keys of a get_all body that are not filters.
_NON_FILTER_KEYS = {
    "only_fields",
    "order_by",
    "page",
    "page_size",
    "size",
    "scroll_id",
    "refresh_scroll",
    "search_hidden",
    "shallow_search",
    "include_subprojects",
    "allow_public",
    "method",
    "max_task_entries",
    "include_stats",
    "stats_with_children",
    "stats_for_state",
    "include_stats_filter",
    "children_type",
    "children_tags",
    "children_tags_filter",
    "include_dataset_stats",
    "check_own_contents",
    "search_text",
    "active_users",
    "_any_",
    "_all_",
}
_PATTERN_FIELDS = {"name", "comment", "basename"}


def _get_path(doc, path: str):
    value = doc
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _regex(pattern: str) -> re.Pattern:
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error:
        return re.compile(re.escape(pattern), re.IGNORECASE)


def compiled_filter(data: dict, filter_fields: set[str]):
    """The get_all filters of DATA as one test of a document, built once per listing. List values
    are read as the server reads them (operators, legacy "-", None: standin_filters);
    `filters: {field: {...}}` replaces the top-level FIELD, as on the server."""
    filters = data.get("filters") if isinstance(data.get("filters"), dict) else {}
    tests = []  # (field, test of the field's value)
    for key, wanted in data.items():
        if key in _NON_FILTER_KEYS or key == "filters" or wanted is None:
            continue
        if key in filters and filters[key] is not None:
            continue  # the server pops the top-level field
        field = key.replace("__", ".")
        if (
            key not in ("tags", "system_tags")
            and field not in filter_fields
            and field.split(".")[0] not in filter_fields
        ):
            continue
        if key in _PATTERN_FIELDS and isinstance(wanted, str):
            regex = _regex(wanted)
            tests.append((field, lambda value, r=regex: isinstance(value, str) and bool(r.search(value))))
        elif isinstance(wanted, list):
            if wanted:
                tests.append((field, parsed_list_filter(wanted).matches))
        else:
            tests.append((field, lambda value, w=wanted: value == w))
    for key, entry in filters.items():
        if entry is not None:
            tests.append((key.replace("__", "."), parse_filters_entry(key, entry).matches))
    any_of = data.get("_any_")
    if isinstance(any_of, dict) and any_of.get("pattern") and any_of.get("fields"):
        pattern, fields = _regex(str(any_of["pattern"])), list(any_of["fields"])

        def any_field(doc) -> bool:
            return any(
                isinstance(_get_path(doc, f), str) and pattern.search(_get_path(doc, f)) for f in fields
            )
    else:
        any_field = None

    def test(doc: dict) -> bool:
        for field, passes in tests:
            if not passes(doc.get(field) if "." not in field else _get_path(doc, field)):
                return False
        return any_field is None or any_field(doc)

    return test


def matches(doc: dict, data: dict, filter_fields: set[str]) -> bool:
    """Does DOC pass the get_all filters of DATA?"""
    return compiled_filter(data, filter_fields)(doc)


def project(doc: dict, only_fields, allowed_fields: set[str] | None = None) -> dict:
    """MongoDB-like projection: "a.b" keeps a -> b, and keeps a as {} when a exists without b."""
    if not only_fields:
        return doc
    if isinstance(only_fields, str):
        only_fields = [only_fields]
    if not isinstance(only_fields, list) or not all(isinstance(f, str) for f in only_fields):
        raise ApiError.of("validation_error", "error for field 'only_fields'. expected a list of strings")
    result: dict = {}
    for path in only_fields:
        parts = path.split(".")
        if allowed_fields is not None and parts[0] not in allowed_fields:
            raise ApiError.of("invalid_fields", err=f'Cannot resolve field "{parts[0]}"')
        source, target = doc, result
        for index, part in enumerate(parts):
            if not isinstance(source, dict) or part not in source:
                break
            if index == len(parts) - 1:
                target[part] = copy.deepcopy(source[part])
            else:
                if not isinstance(source[part], dict):
                    target[part] = copy.deepcopy(source[part])
                    break
                target = target.setdefault(part, {})
                source = source[part]
    return result


def _sort_key(value):
    if value is None:
        return (0, "")
    if isinstance(value, bool | int | float):
        return (1, value)
    return (2, str(value))


MAX_PAGE_SIZE = 500  # the server's mongo max_page_size


def order_and_page(docs: list[dict], data: dict) -> list[dict]:
    order_by = data.get("order_by") or []
    if isinstance(order_by, str):
        order_by = [order_by]
    for field in reversed([f for f in order_by if isinstance(f, str) and f]):
        descending = field.startswith("-")
        name = field.lstrip("-+")
        docs = sorted(docs, key=lambda d, n=name: _sort_key(_get_path(d, n)), reverse=descending)
    if isinstance(data.get("size"), int) and data["size"] > 0 and "page_size" not in data:
        return docs[: data["size"]]
    # As the server: pages of at most MAX_PAGE_SIZE, which is also the default page size.
    page, page_size = data.get("page"), data.get("page_size")
    page = page if isinstance(page, int) and page >= 0 else 0
    page_size = (
        min(page_size, MAX_PAGE_SIZE) if isinstance(page_size, int) and page_size > 0 else MAX_PAGE_SIZE
    )
    return docs[page * page_size : (page + 1) * page_size]


def listing(
    docs: list[dict],
    data: dict,
    *,
    filter_fields: set[str],
    allowed_fields: set[str] | None = None,
    hidden_filter: bool = False,
    transform=None,
) -> list[dict]:
    """The body of a get_all: filter, hide `hidden` objects unless asked, order, page, project."""
    passes = compiled_filter(data, filter_fields)
    selected = [doc for doc in docs if passes(doc)]
    if hidden_filter and not data.get("search_hidden") and not data.get("id"):
        selected = [doc for doc in selected if "hidden" not in (doc.get("system_tags") or [])]
    selected = order_and_page(selected, data)
    out = []
    for doc in selected:
        doc = transform(doc) if transform else copy.deepcopy(doc)
        out.append(project(doc, data.get("only_fields"), allowed_fields))
    return out
