"""The ClearML server's list filters over a one-valued field (`id`, `project`), read the way the
server reads them, so that Access Rules can narrow a listing without changing what the caller
asked for (access/gateway.py).

A get_all's `"id": [...]` is not a plain list of ids: the server (GetMixin's list-field query)
reads operators in it. `__$not` excludes the value after it; `__$any`/`__$or` and
`__$all`/`__$and` switch the context in which the following values are included (`in` / `all`);
`__$nop` resets the context; without operators a leading "-" excludes (older API versions);
a `None` also admits objects without a value. The conditions are combined with the *first*
operator of the list (AND when the list starts with a value). Newer servers also take
`"filters": {"id": {"any": {"include": [...], "exclude": [...]}, "all": {...}, "op": "and"}}`,
and then ignore the top-level `id`.

So appending `"__$not", hidden` to a caller's list is only right when the list's global operator
is AND; after `["__$or", ...]` it would *widen* the listing. Instead every filter on a one-valued
field is reduced to what it keeps, a `Keep` (these ids, or all but those), intersected with what
the caller may read, and written back as a plain list the server cannot misread. A list the
server would refuse is refused here with the same kind of 400.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from settings_portal.api import errors

NOTHING = "__no_object_matches__"  # an id no object has: a filter that keeps nothing
OPERATOR_PREFIX = "__$"
NOT = "__$not"
RESET = "__$nop"
AND_OPERATORS = {"__$all", "__$and"}
OR_OPERATORS = {"__$any", "__$or"}
MAX_TERMS = 100_000  # a list longer than this is refused (parsing has a budget)


class InvalidFilter(errors.BadRequest):
    subcode, message = 16, "Invalid value for fields"


@dataclass(frozen=True)
class Keep:
    """What a filter over a one-valued field keeps: the objects whose value is in ONLY (when not
    None) and not in WITHOUT; objects with no value when EMPTY (always, when ONLY is None: the
    server's `$nin` admits them)."""

    only: frozenset[str] | None = None
    without: frozenset[str] = frozenset()
    empty: bool = False

    @classmethod
    def ids(cls, values: Iterable[str]) -> Keep:
        return cls(only=frozenset(values))

    @classmethod
    def all_but(cls, values: Iterable[str]) -> Keep:
        return cls(without=frozenset(values))

    @property
    def admits_empty(self) -> bool:
        return self.only is None or self.empty

    def normal(self) -> Keep:
        if self.only is not None:
            return Keep(only=self.only - self.without, empty=self.empty)
        return Keep(without=self.without)

    def __and__(self, other: Keep) -> Keep:
        a, b = self.normal(), other.normal()
        if a.only is None and b.only is None:
            return Keep(without=a.without | b.without)
        if a.only is None:
            only = b.only
        elif b.only is None:
            only = a.only
        else:
            only = a.only & b.only
        return Keep(only=only - a.without - b.without, empty=a.admits_empty and b.admits_empty)

    def __or__(self, other: Keep) -> Keep:
        a, b = self.normal(), other.normal()
        if a.only is not None and b.only is not None:
            return Keep(only=a.only | b.only, empty=a.admits_empty or b.admits_empty)
        if a.only is None and b.only is None:
            return Keep(without=a.without & b.without)
        excluded, included = (a, b) if a.only is None else (b, a)
        return Keep(without=excluded.without - included.only)

    def widened(self, expand) -> Keep:
        """The same filter with each value replaced by EXPAND(values) (a project and its
        sub-projects, for `include_subprojects`)."""
        a = self.normal()
        if a.only is not None:
            return Keep(only=frozenset(expand(a.only)), empty=a.empty)
        return Keep(without=frozenset(expand(a.without)))

    def as_list(self) -> list | None:
        """The filter as a list the server reads the same way; None: no filter at all."""
        a = self.normal()
        if a.only is not None:
            values: list = sorted(a.only) or [NOTHING]
            if any(v.startswith("-") for v in values):  # not to be read as old-style exclusions
                values = ["__$or", *values]
            return [None, *values] if a.empty else values
        if not a.without:
            return None
        out: list = []
        for value in sorted(a.without):
            out += [NOT, value]
        return out


EVERYTHING = Keep()
NONE_KEPT = Keep(only=frozenset())


def _invalid(field: str, why: str, value=None) -> InvalidFilter:
    shown = f" ({str(value)[:80]})" if value is not None else ""
    return InvalidFilter(f"{why}: field={field}{shown}")


def parse_list(field: str, value) -> Keep:
    """What the server keeps for FIELD: VALUE (a top-level list field of a get_all)."""
    items = value if isinstance(value, list | tuple) else [value]
    if len(items) > MAX_TERMS:
        raise _invalid(field, f"more than {MAX_TERMS} values")
    actions: dict[str, set[str]] = {}
    allow_empty = False
    global_and: bool | None = None
    context_and = False
    legacy = True
    negate = False
    for item in items:
        if item is None:
            negate = False
            if global_and is None:
                global_and = True
            allow_empty = True
            continue
        if not isinstance(item, str):
            raise _invalid(field, "invalid value type, string expected", item)
        if item == RESET:
            negate = False
            if global_and is None:
                global_and = True
            context_and, legacy = False, True
            continue
        if item.startswith(OPERATOR_PREFIX):
            if negate:
                raise _invalid(field, "Value is expected after", NOT)
            if item == NOT:
                negate = True
                continue
            if item not in AND_OPERATORS and item not in OR_OPERATORS:
                raise _invalid(field, "Unsupported operator", item)
            context_and, legacy = item in AND_OPERATORS, False
            if global_and is None:
                global_and = context_and
            continue
        if global_and is None:
            global_and = True
        if not negate and legacy and item.startswith("-"):
            if len(item) == 1:
                raise _invalid(field, "Missing value after the exclude prefix -", item)
            actions.setdefault("nin", set()).add(item[1:])
            continue
        if negate:
            actions.setdefault("nin", set()).add(item)
            negate = False
        else:
            actions.setdefault("all" if context_and else "in", set()).add(item)
    if negate:
        raise _invalid(field, "Value is expected after", NOT)
    parts = [_action(action, values) for action, values in actions.items()]
    if not parts:
        return EVERYTHING  # no condition (a lone None included): the server keeps everything
    kept = parts[0]
    for part in parts[1:]:
        kept = (kept & part) if global_and in (None, True) else (kept | part)
    return _with_empty(kept, allow_empty)


def _action(action: str, values: set[str]) -> Keep:
    if action == "in":
        return Keep(only=frozenset(values))
    if action == "all":  # every value at once: one-valued fields hold at most one
        return Keep(only=frozenset(values)) if len(values) == 1 else NONE_KEPT
    return Keep(without=frozenset(values))  # nin / not all (of one value)


def _with_empty(kept: Keep, allow_empty: bool) -> Keep:
    if not allow_empty:
        return kept.normal()
    return (kept | Keep(only=frozenset(), empty=True)).normal()


def parse_filters_entry(field: str, value) -> Keep:
    """What the server keeps for `filters: {FIELD: VALUE}` (any / all parts, op)."""
    if not isinstance(value, dict) or set(value) - {"any", "all", "op"}:
        raise _invalid(field, "invalid filter for field, dictionary expected", value)
    op = value.get("op", "and")
    if op not in ("and", "or"):
        raise _invalid(field, "Invalid list query filter operator", op)
    parts = []
    for name in ("any", "all"):
        part = value.get(name)
        if part is None:
            continue
        if not isinstance(part, dict) or set(part) - {"include", "exclude"}:
            raise _invalid(field, "invalid filter part", part)
        conditions = []
        for key, include in (("include", True), ("exclude", False)):
            values = part.get(key) or []
            if not isinstance(values, list) or len(values) > MAX_TERMS:
                raise _invalid(field, f"{name}.{key} must be a list", values)
            present = {v for v in values if v is not None}
            if any(not isinstance(v, str) for v in present):
                raise _invalid(field, "invalid value type, string expected", values)
            if not present:
                continue  # only None: a size test no one-valued field passes or fails usefully
            if include:
                conditions.append(_action("in" if name == "any" else "all", present))
            elif name == "any":  # not all of the values: of two different ones, always true
                conditions.append(Keep(without=frozenset(present)) if len(present) == 1 else EVERYTHING)
            else:
                conditions.append(Keep(without=frozenset(present)))
        if not conditions:
            continue
        kept = conditions[0]
        for condition in conditions[1:]:
            kept = (kept | condition) if name == "any" else (kept & condition)
        parts.append(kept)
    if not parts:
        return EVERYTHING
    kept = parts[0]
    for part in parts[1:]:
        kept = (kept & part) if op == "and" else (kept | part)
    return kept.normal()


def take(body: dict, field: str) -> Keep | None:
    """The caller's filter on FIELD in BODY (None: none), taken out of `filters` if it was there
    (the server would then have ignored the top-level FIELD)."""
    filters = body.get("filters")
    if isinstance(filters, dict) and field in filters:
        entry = filters.pop(field)
        if entry is not None:  # (a None entry is dropped by the server, the top-level kept)
            body.pop(field, None)
            return parse_filters_entry(field, entry)
    if body.get(field) is None:
        return None
    return parse_list(field, body[field])


def put(body: dict, field: str, kept: Keep) -> None:
    """Write KEPT as BODY's FIELD (or no filter at all)."""
    value = kept.as_list()
    if value is None:
        body.pop(field, None)
    else:
        body[field] = value


def narrow(body: dict, field: str, allowed: Keep, *, expand=None) -> Keep | None:
    """Keep only ALLOWED in BODY's FIELD filter, whatever operators the caller used; EXPAND
    (for `include_subprojects`) widens the caller's own filter first. Returns the caller's
    filter (None: they had none)."""
    asked = take(body, field)
    if asked is not None and expand is not None:
        asked = asked.widened(expand)
    put(body, field, allowed if asked is None else asked & allowed)
    return asked
