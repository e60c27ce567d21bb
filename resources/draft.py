"""The editor's draft of the resource configuration: a JSON document and pure edits on it.

    {"pools":    [{"key", "name", "capacity", "description"}],
     "profiles": [{"key", "name", "allotment"}],
     "links":    [{"key", "name", "profile", "pool", "precedence", "execution_priority"}],
     "policy_priority": {"<profile key>": [queue ids, first served first]}}

Keys of provisioned objects are "p<pk>", "f<pk>", "l<pk>"; objects created in the
editor get "new-..." keys until provisioning creates their rows. Amounts are decimal
strings. Every edit validates its input and raises ValidationError (field -> message)
without touching the draft; `validate` checks a whole draft before it is provisioned.
"""

from __future__ import annotations

import copy
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError

from settings_portal.names import name_key

from .models import AMOUNT_MAX

Draft = dict[str, Any]
NAME_MAX = 100
DESCRIPTION_MAX = 500


def empty() -> Draft:
    return {"pools": [], "profiles": [], "links": [], "policy_priority": {}}


def new_key(kind: str) -> str:
    return f"new-{kind}-{uuid.uuid4().hex[:10]}"


def pool_key(pk: int) -> str:
    """The key of the provisioned pool PK in a draft."""
    return f"p{pk}"


def profile_key(pk: int) -> str:
    return f"f{pk}"


def link_key(pk: int) -> str:
    return f"l{pk}"


# --- input cleaning ---------------------------------------------------------


def clean_name(value: Any, field: str = "name", what: str = "name") -> str:
    name = str(value if value is not None else "").strip()
    if not name:
        raise ValidationError({field: f"Enter a {what}."})
    if len(name) > NAME_MAX:
        raise ValidationError({field: f"Use at most {NAME_MAX} characters."})
    if any(ch in name for ch in "\r\n\x00"):
        raise ValidationError({field: "Use a single line of text."})
    return name


def clean_amount(value: Any, field: str, *, positive: bool = False, label: str = "a number") -> Decimal:
    """VALUE as a Decimal with at most three decimal places, >= 0 (> 0 when POSITIVE)."""
    if isinstance(value, float):
        value = repr(value)
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationError({field: f"Enter {label}."}) from None
    if not amount.is_finite():
        raise ValidationError({field: f"Enter {label}."})
    if abs(amount) > AMOUNT_MAX:
        # Before quantize(), which cannot represent 1e309 to three places (InvalidOperation).
        raise ValidationError({field: "Must not be negative." if amount < 0 else "Too large."})
    if amount != amount.quantize(Decimal("0.001")):
        raise ValidationError({field: "Use at most three decimal places (e.g. 0.125)."})
    if positive and amount <= 0:
        raise ValidationError({field: "Must be greater than 0."})
    if amount < 0:
        raise ValidationError({field: "Must not be negative."})
    if amount > AMOUNT_MAX:
        raise ValidationError({field: "Too large."})
    return amount.quantize(Decimal("0.001"))


def amount_text(value: Decimal | str | int | float) -> str:
    """An amount as the shortest decimal text: 8, 0.5, 0.125."""
    amount = Decimal(str(value)).quantize(Decimal("0.001"))
    text = format(amount, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def _clean_description(value: Any) -> str:
    text = str(value or "").strip()
    if len(text) > DESCRIPTION_MAX:
        raise ValidationError({"description": f"Use at most {DESCRIPTION_MAX} characters."})
    return text


# --- lookups -----------------------------------------------------------------


def find(draft: Draft, kind: str, key: str) -> dict:
    for item in draft[kind]:
        if item["key"] == key:
            return item
    raise ValidationError(f"That {kind[:-1]} is not in the configuration any more.")


def _name_taken(draft: Draft, kind: str, name: str, except_key: str | None = None) -> bool:
    """By canonical key (settings_portal/names.py): look-alikes are the same name."""
    key = name_key(name)
    return any(name_key(item["name"]) == key and item["key"] != except_key for item in draft[kind])


def profile_links(draft: Draft, profile_key: str) -> list[dict]:
    """The profile's links in pool precedence order."""
    return sorted(
        (link for link in draft["links"] if link["profile"] == profile_key), key=lambda x: x["precedence"]
    )


def pool_links(draft: Draft, pool_key: str) -> list[dict]:
    """The pool's links in execution priority order."""
    return sorted(
        (link for link in draft["links"] if link["pool"] == pool_key), key=lambda x: x["execution_priority"]
    )


def _renumber(draft: Draft) -> None:
    """Make ranks 1..n within each profile (precedence) and each pool (execution priority)."""
    for profile in draft["profiles"]:
        for rank, link in enumerate(profile_links(draft, profile["key"]), start=1):
            link["precedence"] = rank
    for pool in draft["pools"]:
        for rank, link in enumerate(pool_links(draft, pool["key"]), start=1):
            link["execution_priority"] = rank


# --- edits (each returns a new draft) ------------------------------------------


def pool_add(
    draft: Draft, *, name: Any, capacity: Any, description: Any = "", key: str | None = None
) -> Draft:
    name = clean_name(name, what="pool name")
    capacity = clean_amount(capacity, "capacity", label="the number of resources")
    description = _clean_description(description)
    if _name_taken(draft, "pools", name):
        raise ValidationError({"name": f"A pool named “{name}” already exists."})
    new = copy.deepcopy(draft)
    new["pools"].append(
        {
            "key": key or new_key("pool"),
            "name": name,
            "capacity": amount_text(capacity),
            "description": description,
        }
    )
    return new


def pool_edit(draft: Draft, key: str, *, name: Any, capacity: Any, description: Any = "") -> Draft:
    find(draft, "pools", key)
    name = clean_name(name, what="pool name")
    capacity = clean_amount(capacity, "capacity", label="the number of resources")
    description = _clean_description(description)
    if _name_taken(draft, "pools", name, except_key=key):
        raise ValidationError({"name": f"A pool named “{name}” already exists."})
    new = copy.deepcopy(draft)
    pool = find(new, "pools", key)
    pool.update(name=name, capacity=amount_text(capacity), description=description)
    return new


def pool_delete(draft: Draft, key: str) -> Draft:
    find(draft, "pools", key)
    new = copy.deepcopy(draft)
    new["pools"] = [p for p in new["pools"] if p["key"] != key]
    new["links"] = [link for link in new["links"] if link["pool"] != key]
    _renumber(new)
    return new


def profile_add(draft: Draft, *, name: Any, allotment: Any, key: str | None = None) -> Draft:
    name = clean_name(name, what="profile name")
    allotment = clean_amount(allotment, "allotment", positive=True, label="the resources per job")
    if _name_taken(draft, "profiles", name):
        raise ValidationError({"name": f"A profile named “{name}” already exists."})
    new = copy.deepcopy(draft)
    new["profiles"].append(
        {"key": key or new_key("profile"), "name": name, "allotment": amount_text(allotment)}
    )
    return new


def profile_edit(draft: Draft, key: str, *, name: Any, allotment: Any) -> Draft:
    find(draft, "profiles", key)
    name = clean_name(name, what="profile name")
    allotment = clean_amount(allotment, "allotment", positive=True, label="the resources per job")
    if _name_taken(draft, "profiles", name, except_key=key):
        raise ValidationError({"name": f"A profile named “{name}” already exists."})
    new = copy.deepcopy(draft)
    find(new, "profiles", key).update(name=name, allotment=amount_text(allotment))
    return new


def profile_delete(draft: Draft, key: str, *, used_by: list[str] | None = None) -> Draft:
    """Remove a profile and its links. USED_BY: names of the policies that have a queue on it."""
    profile = find(draft, "profiles", key)
    if used_by:
        raise ValidationError(
            f"The profile “{profile['name']}” is used by the resource "
            f"{'policy' if len(used_by) == 1 else 'policies'} {', '.join(sorted(used_by))}: "
            "remove it from them on the Resource Policies page first."
        )
    new = copy.deepcopy(draft)
    new["profiles"] = [p for p in new["profiles"] if p["key"] != key]
    new["links"] = [link for link in new["links"] if link["profile"] != key]
    new["policy_priority"].pop(key, None)
    _renumber(new)
    return new


def link_add(draft: Draft, *, profile: str, pool: str, name: Any, key: str | None = None) -> Draft:
    profile_item = find(draft, "profiles", profile)
    pool_item = find(draft, "pools", pool)
    name = clean_name(name, what="connection name")
    if _name_taken(draft, "links", name):
        raise ValidationError({"name": f"A connection named “{name}” already exists."})
    if any(link["profile"] == profile and link["pool"] == pool for link in draft["links"]):
        raise ValidationError(f"“{profile_item['name']}” is already connected to “{pool_item['name']}”.")
    new = copy.deepcopy(draft)
    new["links"].append(
        {
            "key": key or new_key("link"),
            "name": name,
            "profile": profile,
            "pool": pool,
            "precedence": len(profile_links(draft, profile)) + 1,
            "execution_priority": len(pool_links(draft, pool)) + 1,
        }
    )
    return new


def link_rename(draft: Draft, key: str, *, name: Any) -> Draft:
    find(draft, "links", key)
    name = clean_name(name, what="connection name")
    if _name_taken(draft, "links", name, except_key=key):
        raise ValidationError({"name": f"A connection named “{name}” already exists."})
    new = copy.deepcopy(draft)
    find(new, "links", key)["name"] = name
    return new


def link_delete(draft: Draft, key: str) -> Draft:
    find(draft, "links", key)
    new = copy.deepcopy(draft)
    new["links"] = [link for link in new["links"] if link["key"] != key]
    _renumber(new)
    return new


def _check_order(current: list[Any], order: list[Any]) -> None:
    if sorted(map(str, order)) != sorted(map(str, current)) or len(set(map(str, order))) != len(order):
        raise ValidationError("The order must list each item exactly once; reload the page and try again.")


def precedence_set(draft: Draft, profile: str, order: list[str]) -> Draft:
    """Set the profile's pool precedence: ORDER lists its link keys, first tried first."""
    find(draft, "profiles", profile)
    _check_order([link["key"] for link in profile_links(draft, profile)], order)
    new = copy.deepcopy(draft)
    ranks = {key: rank for rank, key in enumerate(order, start=1)}
    for link in new["links"]:
        if link["profile"] == profile:
            link["precedence"] = ranks[link["key"]]
    return new


def execution_set(draft: Draft, pool: str, order: list[str]) -> Draft:
    """Set the pool's execution priority: ORDER lists its link keys, first served first."""
    find(draft, "pools", pool)
    _check_order([link["key"] for link in pool_links(draft, pool)], order)
    new = copy.deepcopy(draft)
    ranks = {key: rank for rank, key in enumerate(order, start=1)}
    for link in new["links"]:
        if link["pool"] == pool:
            link["execution_priority"] = ranks[link["key"]]
    return new


def policy_priority_set(draft: Draft, profile: str, order: list[int], current: list[int]) -> Draft:
    """Set the profile's policy priority: ORDER lists the ids of its queues (CURRENT), first served first."""
    find(draft, "profiles", profile)
    _check_order(current, order)
    new = copy.deepcopy(draft)
    new["policy_priority"][profile] = [int(q) for q in order]
    return new


def moved(order: list[Any], item: Any, direction: str) -> list[Any]:
    """ORDER with ITEM moved one place "up" (earlier) or "down" (later)."""
    order = list(order)
    if item not in order:
        raise ValidationError("That item is not in this list any more; reload the page.")
    i = order.index(item)
    j = i - 1 if direction == "up" else i + 1
    if 0 <= j < len(order):
        order[i], order[j] = order[j], order[i]
    return order


# --- whole-draft checks ------------------------------------------------------------


def validate(draft: Draft) -> list[str]:
    """Everything wrong with DRAFT (an imported file, say), as messages; [] when it can be provisioned."""
    if not isinstance(draft, dict):
        return ["The configuration must be a mapping with pools, profiles and links."]
    errors = [
        f"“{kind}” must be a list."
        for kind in ("pools", "profiles", "links")
        if not isinstance(draft.get(kind), list)
    ]
    if not isinstance(draft.get("policy_priority", {}), dict):
        errors.append("“policy_priority” must be a mapping.")
    if errors:
        return errors
    checked = empty()
    for kind in ("pools", "profiles", "links"):
        for item in draft[kind]:
            label = item.get("name", "?") if isinstance(item, dict) else repr(item)
            try:
                if not isinstance(item, dict) or not isinstance(item.get("key"), str):
                    raise ValidationError("malformed entry")
                if kind == "pools":
                    checked = pool_add(
                        checked,
                        name=item.get("name"),
                        capacity=item.get("capacity"),
                        description=item.get("description", ""),
                        key=item["key"],
                    )
                elif kind == "profiles":
                    checked = profile_add(
                        checked, name=item.get("name"), allotment=item.get("allotment"), key=item["key"]
                    )
                else:
                    for end, ends in (("profile", "profiles"), ("pool", "pools")):
                        ref = item.get(end)
                        if not any(x["key"] == ref for x in checked[ends]):
                            if any(isinstance(x, dict) and x.get("key") == ref for x in draft[ends]):
                                raise _Skip  # that end is reported already
                            shown = str(ref).removeprefix("missing:")
                            raise ValidationError(f"refers to an unknown {end} “{shown}”.")
                    for rank in ("precedence", "execution_priority"):
                        if (
                            not isinstance(item.get(rank), int)
                            or isinstance(item.get(rank), bool)
                            or item[rank] < 1
                        ):
                            raise ValidationError(f"“{rank}” must be a whole number from 1.")
                    checked = link_add(
                        checked,
                        profile=item.get("profile"),
                        pool=item.get("pool"),
                        name=item.get("name"),
                        key=item["key"],
                    )
            except _Skip:
                continue
            except ValidationError as exc:
                errors.append(f"{_KIND_LABEL[kind]} {label}: {_text(exc)}")
    keys = [item["key"] for kind in ("pools", "profiles", "links") for item in checked[kind]]
    if len(set(keys)) != len(keys):
        errors.append("Two entries share a key.")
    return errors


_KIND_LABEL = {"pools": "Pool", "profiles": "Profile", "links": "Connection"}


class _Skip(Exception):
    pass


def _text(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        if hasattr(exc, "message_dict"):
            return " ".join(m for msgs in exc.message_dict.values() for m in msgs)
        return " ".join(exc.messages)
    return "malformed entry"


def normalized(draft: Draft) -> Draft:
    """DRAFT with ranks made dense (1..n) and lists in a stable order, for comparing drafts."""
    new = copy.deepcopy(draft)
    new.setdefault("policy_priority", {})
    _renumber(new)
    return new


def equivalent(a: Draft, b: Draft) -> bool:
    """Whether drafts A and B describe the same configuration (ranks and list order aside)."""

    def canon(d: Draft) -> dict:
        n = normalized(d)
        return {
            "pools": sorted(
                (p["key"], p["name"], p["capacity"], p.get("description", "")) for p in n["pools"]
            ),
            "profiles": sorted((p["key"], p["name"], p["allotment"]) for p in n["profiles"]),
            "links": sorted(
                (x["key"], x["name"], x["profile"], x["pool"], x["precedence"], x["execution_priority"])
                for x in n["links"]
            ),
            "policy_priority": {k: list(v) for k, v in n["policy_priority"].items() if v},
        }

    return canon(a) == canon(b)
