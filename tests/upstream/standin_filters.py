"""List-field filters with operators, as the apiserver reads them (`"id": ["__$not", "a", "__$not", "b"]`).

The apiserver's get_all list fields (id, project, user, status, ...) take a list of values with
operators: `__$not` excludes the value after it, `__$all`/`__$and` and `__$any`/`__$or` switch
the context (include all / any of the values that follow), `__$nop` resets it; without any
operator a leading "-" excludes a value (older API versions). The gateway's Access Rules narrow
listings with these (access/gateway.py).
"""

from __future__ import annotations

OPERATOR_PREFIX = "__$"


def has_operators(wanted: list) -> bool:
    return any(isinstance(v, str) and v.startswith(OPERATOR_PREFIX) for v in wanted)


def list_filter_matches(value, wanted: list) -> bool:
    """Does a document's VALUE (a scalar, a list, or None) pass the list filter WANTED?"""
    include_any: list = []
    include_all: list = []
    exclude: list = []
    context_all = False
    negate = False
    legacy = True  # "-value" excludes until the first operator
    for item in wanted:
        if isinstance(item, str) and item.startswith(OPERATOR_PREFIX):
            legacy = False
        if item == "__$not":
            negate = True
            continue
        if item in ("__$all", "__$and"):
            context_all = True
            continue
        if item in ("__$any", "__$or"):
            context_all = False
            continue
        if item == "__$nop":
            context_all = False
            continue
        if legacy and isinstance(item, str) and item.startswith("-") and len(item) > 1:
            exclude.append(item[1:])
        elif negate:
            exclude.append(item)
            negate = False
        elif context_all:
            include_all.append(item)
        else:
            include_any.append(item)
    values = set(value) if isinstance(value, list) else ({value} if value is not None else set())
    if include_any and not (values & set(include_any) or (None in include_any and not values)):
        return False
    if include_all and not set(include_all) <= values:
        return False
    return not (values & set(exclude))
