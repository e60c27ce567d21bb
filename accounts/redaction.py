"""`redact()`: hide the values of the user's hidden container arguments.

Used wherever the portal shows environment or configuration text (vault previews,
effective configuration, job environments). Handles `NAME=value`, `NAME: value`,
`NAME = "value"`, `-e NAME=value` and `--env NAME=value` shapes.
"""

import re
from collections.abc import Iterable

from .models import DEFAULT_HIDDEN_CONTAINER_ARGS

MASK = "********"


def _pattern(names: Iterable[str]) -> re.Pattern | None:
    names = [re.escape(name) for name in names if name]
    if not names:
        return None
    # NAME, then = or :, then a quoted or bare value up to whitespace/comma/brace.
    return re.compile(
        r"(?P<name>\b(?:" + "|".join(names) + r"))(?P<sep>\"?\s*[=:]\s*)"
        r"(?P<value>\"(?:[^\"\\]|\\.)*\"|'[^']*'|[^\s,}\]\"']+)"
    )


def redact(text: str, hidden: Iterable[str] | None = None) -> str:
    """TEXT with the value of every variable in HIDDEN replaced by ********."""
    pattern = _pattern(DEFAULT_HIDDEN_CONTAINER_ARGS if hidden is None else hidden)
    if pattern is None or not text:
        return text

    def mask(match: re.Match) -> str:
        value = match.group("value")
        quote = value[0] if value[:1] in {'"', "'"} else ""
        return f"{match.group('name')}{match.group('sep')}{quote}{MASK}{quote}"

    return pattern.sub(mask, text)


def redact_for(user, text: str) -> str:
    prefs = getattr(user, "preferences", None)
    hidden = prefs.hidden_container_args if prefs is not None else None
    return redact(text, hidden)
