"""List-field filters as the apiserver reads them (`"id": ["__$not", "a", "__$not", "b"]`).

The apiserver's get_all list fields (id, project, user, status, tags, ...) take a list of values
with operators (GetMixin's list-field query): `__$not` excludes the value after it,
`__$all`/`__$and` and `__$any`/`__$or` switch the context in which the following values are
included (`all` / `in`), `__$nop` resets it; without operators a leading "-" excludes (older API
versions); a None also admits objects without a value. The values are bucketed into MongoDB
actions (`in`, `all`, `nin`), and the actions combined with the list's *first* operator (AND
when it starts with a value). Newer servers also take `filters: {field: {any: {include,
exclude}, all: {...}, op}}` and then ignore the top-level field. The gateway's Access Rules
narrow listings with these (access/list_filters.py); this module is the server's reading the
gateway is tested against.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

OPERATOR_PREFIX = "__$"
_parsed = threading.local()  # the lists parsed lately in this thread (a listing checks every document)


@dataclass
class ListFilter:
    """The MongoDB query a list filter becomes: ACTIONS combined by AND (or OR); EMPTY admits
    documents without a value."""

    actions: dict[str, set] = field(default_factory=dict)  # "in" / "all" / "nin" -> values
    global_and: bool = True
    allow_empty: bool = False

    fast: object = None  # for one action, the test of a string value (parse() sets it)

    def matches(self, value) -> bool:
        if self.fast is not None and value.__class__ in (str, list):
            return self.fast(value)
        if not self.actions:
            return True
        if self.global_and:
            kept = all(_action_matches(action, values, value) for action, values in self.actions.items())
        else:
            kept = any(_action_matches(action, values, value) for action, values in self.actions.items())
        return kept or (self.allow_empty and (value is None or value == []))


def _action_matches(action: str, wanted: set, value) -> bool:
    if isinstance(value, str):  # the common case (an id, a project): no set built
        if action == "in":
            return value in wanted
        if action == "all":
            return len(wanted) == 1 and value in wanted
        if action == "not_all":
            return not (len(wanted) == 1 and value in wanted)
        return value not in wanted
    values = set(value) if isinstance(value, list) else ({value} - {None})
    if action == "in":
        return bool(values & wanted)
    if action == "all":
        return bool(values) and wanted <= values
    if action == "not_all":
        return not (bool(values) and wanted <= values)
    return not (values & wanted)  # nin


def parsed_list_filter(wanted) -> ListFilter:
    """WANTED (a list, or one value) as the server reads it; cached per list; raises ApiError."""
    if not isinstance(wanted, list):
        return parse(wanted)
    seen = getattr(_parsed, "seen", None)
    if seen is None:
        seen = _parsed.seen = {}
    found = seen.get(id(wanted))
    if found is None or found[0] is not wanted:
        if len(seen) > 16:
            seen.clear()
        found = seen[id(wanted)] = (wanted, parse(wanted))
    return found[1]


def list_filter_matches(value, wanted) -> bool:
    """Does a document's VALUE (a scalar, a list, or None) pass the list filter WANTED?"""
    return parsed_list_filter(wanted).matches(value)


def _error(kind: str, why: str, **params):
    from .standin_model import ApiError  # (standin_model reads filters with this module)

    return ApiError.of(kind, why, **params)


def _bad(field_name: str, why: str, **params):
    return _error("fields_value_error", why, field=field_name, **params)


def parse(wanted, field_name: str = "") -> ListFilter:
    items = wanted if isinstance(wanted, list | tuple) else [wanted]
    excluded = _only_exclusions(items)
    if excluded is not None:  # ["__$not", a, "__$not", b, ...]: what the gateway sends most
        out = ListFilter(actions={"nin": excluded})
        out.fast = _fast_nin(excluded)
        return out
    out = ListFilter()
    global_op = None
    context_and = False
    legacy = True
    negate = False
    for item in items:
        if item is None:
            negate = False
            global_op = True if global_op is None else global_op
            out.allow_empty = True
            continue
        if not isinstance(item, str):
            raise _bad(field_name, "invalid value type, string expected", value=str(item))
        if item == "__$nop":
            negate = False
            global_op = True if global_op is None else global_op
            context_and, legacy = False, True
            continue
        if item.startswith(OPERATOR_PREFIX):
            if negate:
                raise _bad(field_name, "Value is expected after", operator="__$not")
            if item == "__$not":
                negate = True
                continue
            if item in ("__$all", "__$and"):
                context_and = True
            elif item in ("__$any", "__$or"):
                context_and = False
            else:
                raise _bad(field_name, "Unsupported operator", operator=item)
            legacy = False
            global_op = context_and if global_op is None else global_op
            continue
        global_op = True if global_op is None else global_op
        if not negate and legacy and item.startswith("-"):
            if len(item) == 1:
                raise _bad(field_name, "Missing value after the exclude prefix -", value=item)
            out.actions.setdefault("nin", set()).add(item[1:])
            continue
        action = "nin" if negate else ("all" if context_and else "in")
        negate = False
        out.actions.setdefault(action, set()).add(item)
    if negate:
        raise _bad(field_name, "Value is expected after", operator="__$not")
    out.global_and = global_op is not False
    if len(out.actions) == 1:  # (a listing tests every document: no set built, no loop)
        ((action, values),) = out.actions.items()
        if action == "in":
            out.fast = _fast_in(values, out.allow_empty)
        elif action == "nin":
            out.fast = _fast_nin(values)
    elif not out.actions:
        out.fast = lambda value: True
    return out


MODIFIERS = {(False, True): "in", (False, False): "not_all", (True, True): "all", (True, False): "nin"}


def _only_exclusions(items) -> set | None:
    """The values of a list made only of `"__$not", value` pairs (None: it is not one)."""
    if not items or len(items) % 2 or any(op != "__$not" for op in items[0::2]):
        return None
    values = items[1::2]
    if not all(isinstance(v, str) and not v.startswith(OPERATOR_PREFIX) for v in values):
        return None
    return set(values)


def _fast_in(values: set, allow_empty: bool):
    def test(value) -> bool:
        if value.__class__ is str:
            return value in values
        return not values.isdisjoint(value) or (allow_empty and not value)

    return test


def _fast_nin(values: set):
    def test(value) -> bool:
        return value not in values if value.__class__ is str else values.isdisjoint(value)

    return test


def parse_filters_entry(field_name: str, data) -> _Combined:
    """`filters: {FIELD: DATA}` as a function of a document's value."""
    if not isinstance(data, dict) or set(data) - {"any", "all", "op"}:
        raise _error("validation_error", "invalid filter for field, dictionary expected", field=field_name)
    op = data.get("op", "and")
    if op not in ("and", "or"):
        raise _error("validation_error", f"Invalid list query filter operator: {op}", field=field_name)
    parts = []
    for name, combine_and in (("any", False), ("all", True)):
        part = data.get(name)
        if not part:
            continue
        actions = {}
        for key, include in (("include", True), ("exclude", False)):
            values = set(part.get(key) or []) - {None}  # (None: a $size test; not modelled)
            if values:
                actions[MODIFIERS[(combine_and, include)]] = values
        if actions:
            parts.append(ListFilter(actions=actions, global_and=combine_and))
    return _Combined(parts, op == "and")


@dataclass
class _Combined:
    parts: list
    conjunction: bool

    def matches(self, value) -> bool:
        if not self.parts:
            return True
        results = (p.matches(value) for p in self.parts)
        return all(results) if self.conjunction else any(results)
