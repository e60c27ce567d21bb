"""What of a vault's values a page may show: one rule for every place a vault is shown.

The vault box (a member's own vault, on the vault and Workspace pages) and the
effective configuration both show a vault as its settings, leaf by leaf, through
`shown_leaves` / `shown_leaf`; the editor alone shows the text as written, to the one
who may change it. A value is masked as `********`:
- whole, when its key name looks secret (`secret`, `password`, `token`...) or is one of
  the viewer's hidden container arguments, or when the caller hides every value (an
  administrator looking at a member's own vault);
- in part, inside a list or object: the values of secret-looking keys in it, and any
  `NAME=value` of a hidden container argument (accounts.redaction).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from accounts.redaction import MASK, redact

from .parsing import leaf_paths

# A key whose name holds one of these (any case) has its value masked.
SECRET_WORDS = ("secret", "pass", "token", "private_key", "account_key", "api_key", "apikey")


def is_secret_name(name: str, hidden: Iterable[str] = ()) -> bool:
    """Whether the value of a key named NAME is masked (a secret-looking name, or a hidden argument)."""
    if name in hidden:
        return True
    lowered = name.lower()
    return any(word in lowered for word in SECRET_WORDS)


def _masked_inside(value: Any, hidden: set[str]) -> Any:
    if isinstance(value, dict):
        return {
            key: MASK if is_secret_name(key, hidden) else _masked_inside(child, hidden)
            for key, child in value.items()
        }
    if isinstance(value, list):
        return [_masked_inside(child, hidden) for child in value]
    if isinstance(value, str):
        return redact(value, hidden)
    return value


@dataclass(frozen=True)
class ShownLeaf:
    path: str  # the dotted key path
    value: Any  # what may be shown: secrets inside replaced by ********; None when masked whole
    masked: bool  # the whole value is hidden

    @property
    def text(self) -> str:
        """The value as the effective configuration shows it (strings bare, the rest as JSON)."""
        if self.masked:
            return MASK
        return self.value if isinstance(self.value, str) else json.dumps(self.value, ensure_ascii=False)


def shown_leaf(path: str, value: Any, *, hidden: set[str], hide_all: bool = False) -> ShownLeaf:
    """The leaf PATH = VALUE as a page may show it to a viewer whose hidden arguments are HIDDEN."""
    if hide_all or is_secret_name(path.rsplit(".", 1)[-1], hidden):
        return ShownLeaf(path=path, value=None, masked=True)
    shown = _masked_inside(value, hidden)
    if not isinstance(shown, str):
        # A hidden argument can also sit in a list as two items (`-e`, `NAME=value`) or in JSON text.
        text = json.dumps(shown, ensure_ascii=False)
        if redact(text, hidden) != text:
            return ShownLeaf(path=path, value=None, masked=True)
    return ShownLeaf(path=path, value=shown, masked=False)


def shown_leaves(tree: dict[str, Any], *, hidden: set[str], hide_all: bool = False) -> list[ShownLeaf]:
    """Every leaf of TREE (lists are leaves), in text order, as a page may show it."""
    return [
        shown_leaf(path, value, hidden=hidden, hide_all=hide_all) for path, value in leaf_paths(tree).items()
    ]


# -- the vault box: the settings as HOCON lines --------------------------------------------

_BARE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
_BARE_VALUE = _BARE | frozenset("./:@")


def _hocon_key(part: str) -> str:
    return part if part and set(part) <= _BARE else json.dumps(part, ensure_ascii=False)


def hocon_line(leaf: ShownLeaf) -> str:
    """LEAF as one line of HOCON (`sdk.aws.s3.region: eu-west-1`), masked values as ********."""
    key = ".".join(_hocon_key(part) for part in leaf.path.split("."))
    if leaf.masked:
        return f"{key}: {MASK}"
    value = leaf.value
    if isinstance(value, str):
        plain = value and set(value) <= _BARE_VALUE and value.lower() not in {"true", "false", "null"}
        if plain and not value[0].isdigit() and not value.startswith(("-", ".", "//")) and "//" not in value:
            return f"{key}: {value}"
        return f"{key}: {json.dumps(value, ensure_ascii=False)}"
    return f"{key}: {json.dumps(value, ensure_ascii=False)}"
