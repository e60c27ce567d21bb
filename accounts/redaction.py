"""`redact()`: hide the values of the user's hidden container arguments.

Used wherever the portal shows environment or configuration text (vault previews,
effective configuration, job environments). Handles the shapes such text comes in:
shell and docker (`NAME=value`, `-e NAME=value`, `--env=NAME=value`, `"NAME=value"`
inside a JSON/YAML list), YAML (`NAME: value`), JSON and Python reprs
(`"NAME": "value"`, `'NAME': 'value'`) and HOCON (`NAME = value`, `NAME: value`).
Names are matched exactly (environment variables are case-sensitive) and whole
(`MY_NAME` or `NAME_ID` are other variables).
"""

import re
from collections.abc import Iterable
from functools import lru_cache

from .models import DEFAULT_HIDDEN_CONTAINER_ARGS

MASK = "********"


@lru_cache(maxsize=256)
def _patterns(names: tuple[str, ...]) -> tuple[re.Pattern, re.Pattern] | None:
    names = tuple(re.escape(name) for name in names if name)
    if not names:
        return None
    alternatives = "|".join(sorted(names, key=len, reverse=True))
    # "NAME=value" as one quoted string (docker inspect's Env list, a YAML/JSON argv):
    # the value runs to the closing quote, commas and spaces included.
    whole = re.compile(
        r"(?P<open>[\"'])(?P<name>(?<![\w.])(?:" + alternatives + r"))(?P<sep>=)"
        r"(?P<value>(?:\\.|(?!(?P=open))[^\\\n])*)(?=(?P=open))"
    )
    # NAME, an optional closing quote (JSON/Python key), = or : on the same line, then a
    # quoted value or a bare one up to whitespace, a comma or a closing brace/bracket.
    assignment = re.compile(
        r"(?P<name>(?<![\w.])(?:" + alternatives + r"))(?P<sep>[\"']?[ \t]*[=:][ \t]*)"
        r"(?P<value>\"(?:\\.|[^\"\\])*\"|'(?:\\.|[^'\\])*'|[^\s,}\]\"']+)"
    )
    return whole, assignment


def _mask_value(match: re.Match) -> str:
    value = match.group("value")
    quote = value[0] if value[:1] in {'"', "'"} and len(value) > 1 and value[-1] == value[0] else ""
    return f"{match.group('name')}{match.group('sep')}{quote}{MASK}{quote}"


def _mask_whole(match: re.Match) -> str:
    return f"{match.group('open')}{match.group('name')}{match.group('sep')}{MASK}"


def redact(text: str, hidden: Iterable[str] | None = None) -> str:
    """TEXT with the value of every variable in HIDDEN (default: the spec's four) replaced by ********."""
    names = DEFAULT_HIDDEN_CONTAINER_ARGS if hidden is None else hidden
    patterns = _patterns(tuple(names))
    if patterns is None or not text:
        return text
    whole, assignment = patterns
    return assignment.sub(_mask_value, whole.sub(_mask_whole, text))


def redact_for(user, text: str) -> str:
    """TEXT redacted with USER's list of hidden container arguments (the defaults without one)."""
    prefs = getattr(user, "preferences", None) if getattr(user, "is_authenticated", False) else None
    hidden = prefs.hidden_container_args if prefs is not None else None
    return redact(text, hidden)
