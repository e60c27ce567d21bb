"""Parsing of what clients send, so that no input can raise past a view (no 5xx).

- `parse_id`: a database id typed by a client. `str.isdigit()` is true for "²" and
  "١٢", which `int()` then refuses (or reads as Arabic digits); only ASCII digits
  that fit a 64-bit key are ids here.
- `unsafe_text`: the first string in a value that the database cannot store: a NUL
  (PostgreSQL refuses it in text) or a lone UTF-16 surrogate such as "\\ud800" (JSON
  allows it, UTF-8 cannot encode it).
- `loads_json`: `json.loads` with a budget: nesting deeper than MAX_JSON_DEPTH is
  refused before the parser recurses (Python's parser raises RecursionError near
  1,000 levels), and NaN/Infinity (also "1e400", which overflows to inf) are refused.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_JSON_DEPTH = 100
# Up to 18 digits always fits a signed 64-bit primary key (max 9,223,372,036,854,775,807).
_ID = re.compile(r"[0-9]{1,18}")
_UNSAFE = re.compile("[\x00\ud800-\udfff]")


def parse_id(value: Any) -> int | None:
    """VALUE as a positive-or-zero integer id when it is one (ASCII digits only), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value < 2**63 else None
    text = str(value).strip() if value is not None else ""
    return int(text) if _ID.fullmatch(text) else None


def unsafe_text(value: Any) -> str | None:
    """The first string inside VALUE (nested lists/dicts, keys included) holding a NUL or a
    lone surrogate, or None. Iterative, so a deep value cannot exhaust the stack."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _UNSAFE.search(item):
                return item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return None


def describe_unsafe(text: str) -> str:
    """Why TEXT (as found by `unsafe_text`) is refused, for an error message."""
    return "a NUL character" if "\x00" in text else "an unpaired UTF-16 surrogate (e.g. \\ud800)"


class JSONRejected(ValueError):
    """The document is not JSON, or is outside the budget; the message says which."""


def json_depth_exceeds(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when TEXT nests arrays/objects deeper than LIMIT (brackets inside strings don't count).

    A linear scan without recursion, run before the parser so that a 100,000-deep array
    costs one pass over the bytes instead of a RecursionError."""
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise JSONRejected(f"the number {text[:40]} is out of range")
    return number


def _no_constant(name: str):
    raise JSONRejected(f"{name} is not a JSON number")


def loads_json(raw: bytes | str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse RAW as JSON within the budget; raises JSONRejected (a ValueError) otherwise."""
    try:
        # As json.loads(bytes) does: UTF-8 (with or without a BOM), UTF-16 or UTF-32.
        text = raw.decode(json.detect_encoding(raw)) if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise JSONRejected(f"the body is not valid {exc.encoding} ({exc.reason})") from None
    if json_depth_exceeds(text, max_depth):
        raise JSONRejected(f"nested deeper than {max_depth} levels")
    try:
        return json.loads(text, parse_float=_finite_float, parse_constant=_no_constant)
    except JSONRejected:
        raise
    except (ValueError, RecursionError) as exc:
        raise JSONRejected(str(exc)) from None
