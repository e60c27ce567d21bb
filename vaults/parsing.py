"""Parse and check vault text: HOCON, JSON or YAML in, a plain tree and the text clients get out.

The clients (clearml SDK and agent) parse every vault's `data` with their HOCON parser,
whatever its `format`. HOCON text is served as written (comments and substitutions
such as `${HOME}` are for the client to resolve); JSON and YAML are served as JSON
text made from the parsed values, because nested YAML is not HOCON and JSON escapes
(`\\u00e9`) are not all understood by pyhocon.

Vault text is untrusted and parsing it has a budget (docs/security.md): whatever a
vault of at most PORTAL_VAULT_MAX_BYTES holds, parsing it takes a bounded amount of
CPU and memory, and what would expand past the budget is refused with an error that
names the cause:
- HOCON is read by vaults/hocon.py, not pyhocon: pyhocon's grammar costs seconds of
  CPU for a 64 KiB text and expands substitutions before anything can count them. The
  reader counts the size of every substitution before building it, never reads the
  server's environment (`${NAME}` it can't resolve stays the text `${NAME}`, which the
  client resolves from its own environment) and refuses `include`.
- JSON and YAML trees are walked with the same budget (values, characters of text,
  nesting): a YAML alias repeated thousands of times is refused, not expanded.
- The read paths (the vault box, the effective configuration, `users.get_vaults`)
  check what is stored the same way, so a vault saved before a check existed can't
  blow them up either (`stored_tree`, `servable`).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml
from django.conf import settings
from django.core.exceptions import ValidationError

from . import hocon

HOCON, JSON, YAML = "hocon", "json", "yaml"
FORMATS = (HOCON, JSON, YAML)

# Machine- or agent-specific settings that can't be set in a vault (the spec's list).
FORBIDDEN_KEYS = (
    "agent.cuda_version",
    "agent.cudnn_version",
    "agent.default_python",
    "agent.worker_id",
    "agent.worker_name",
    "agent.debug",
)

# The budget of a parsed vault, expanded (substitutions and YAML aliases counted at every use).
MAX_NODES = 20_000  # values: each object, list and scalar counts one
MAX_TEXT = 1_000_000  # characters of keys and strings
MAX_DEPTH = 64  # levels of nesting
BUDGET = hocon.Budget(max_nodes=MAX_NODES, max_chars=MAX_TEXT, max_depth=MAX_DEPTH)

# libyaml's parser when PyYAML has it (the wheels do): pure-Python PyYAML takes a second
# of CPU to reach its recursion limit on 10,000 nested brackets.
_YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def max_content_bytes() -> int:
    return int(getattr(settings, "PORTAL_VAULT_MAX_BYTES", 64 * 1024))


def max_served_bytes() -> int:
    """The largest `data` served for one vault (JSON made from YAML can be larger than its text)."""
    return 8 * max_content_bytes()


@dataclass(frozen=True)
class ParsedVault:
    tree: dict[str, Any]  # plain dicts/lists/scalars, keys in text order
    data: str  # the text served to the clients in `users.get_vaults`

    def leaves(self) -> dict[str, Any]:
        return leaf_paths(self.tree)


class VaultSyntaxError(ValidationError):
    """A parse error; LINE and COLUMN are 1-based (None when the parser gave none)."""

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None):
        self.line, self.column = line, column
        where = f"Line {line}, column {column}: " if line else ""
        super().__init__(f"{where}{message}", code="syntax")


# -- parsing -------------------------------------------------------------------------


def _short(message: str, limit: int = 160) -> str:
    message = " ".join(str(message).split())
    return message if len(message) <= limit else message[: limit - 1] + "…"


def _too_large() -> ValidationError:
    return ValidationError(
        f"The vault is too large once parsed (more than {MAX_NODES} values or {MAX_TEXT} characters "
        "of text, counting every use of a YAML alias or substitution).",
        code="too_large",
    )


def checked_text(text: str) -> str:
    """TEXT, with UTF-16 surrogate pairs (as JSON and YAML escapes give them) made characters.

    A lone surrogate (`"\\ud800"`) is not a character: it can't be stored or served as
    UTF-8, so it is refused with a clear error.
    """
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        joined = text.encode("utf-16", "surrogatepass").decode("utf-16")
        joined.encode("utf-8")
        return joined
    except UnicodeError:
        lone = next(ch for ch in text if 0xD800 <= ord(ch) <= 0xDFFF)
        raise ValidationError(
            f"The vault holds a lone surrogate escape (\\u{ord(lone):04x}), which is not a character: "
            "remove it or write the character itself.",
            code="surrogate",
        ) from None


def _plain(value: Any, budget: list[int], depth: int = 0) -> Any:
    """VALUE as plain dicts/lists/scalars with string keys; bounded in size, text and depth.

    BUDGET is [values left, characters left]: shared objects (YAML aliases, HOCON
    substitutions) count at every place they appear, as they do once served.
    """
    budget[0] -= 1
    if budget[0] < 0:
        raise _too_large()
    if depth > MAX_DEPTH:
        raise ValidationError(
            f"The vault is nested too deeply (more than {MAX_DEPTH} levels).", code="too_deep"
        )
    if isinstance(value, dict):
        out = {}
        for key, child in value.items():
            text = checked_text(_key_text(key))
            budget[1] -= len(text)
            out[text] = _plain(child, budget, depth + 1)
        if budget[1] < 0:
            raise _too_large()
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(child, budget, depth + 1) for child in value]
    if isinstance(value, str):
        budget[1] -= len(value)
        if budget[1] < 0:
            raise _too_large()
        return checked_text(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    # YAML dates and the like: their text, as the client would read them from JSON.
    return _plain(str(value), budget, depth)


def _key_text(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    key = "null" if key is None else str(key)
    # pyhocon keeps the quotes of a quoted key that holds a dot: "a.b" is one key.
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    return key


def _hocon_tree(content: str) -> Any:
    try:
        return hocon.loads(content, BUDGET)
    except hocon.IncludeRefused:
        raise VaultSyntaxError(
            "include is not supported in a vault: paste the included settings instead"
        ) from None
    except hocon.BudgetError as exc:
        where = f" (line {exc.line}, column {exc.column})" if exc.line else ""
        raise ValidationError(f"{exc.message}{where}", code=exc.code) from None
    except hocon.HoconError as exc:
        raise VaultSyntaxError(_short(exc.message), line=exc.line, column=exc.column) from None
    except RecursionError:  # not expected: the reader bounds its depth
        raise VaultSyntaxError("the text is nested too deeply") from None


def _json_tree(content: str) -> Any:
    try:
        return json.loads(content)
    except json.JSONDecodeError as exc:
        raise VaultSyntaxError(exc.msg, line=exc.lineno, column=exc.colno) from None
    except RecursionError:
        raise VaultSyntaxError("the text is nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise VaultSyntaxError(_short(str(exc))) from None


def _yaml_tree(content: str) -> Any:
    try:
        return yaml.load(content, Loader=_YamlLoader)  # noqa: S506 (a safe loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = exc.problem or exc.context or "syntax error"
        if mark is not None:
            raise VaultSyntaxError(_short(message), line=mark.line + 1, column=mark.column + 1) from None
        raise VaultSyntaxError(_short(message)) from None
    except yaml.YAMLError as exc:
        raise VaultSyntaxError(_short(str(exc))) from None
    except RecursionError:
        raise VaultSyntaxError("the text is nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise VaultSyntaxError(_short(str(exc))) from None


def check_text_size(content: str, limit: int | None = None) -> None:
    """Refuse CONTENT over LIMIT bytes (default PORTAL_VAULT_MAX_BYTES), before any parsing."""
    limit = max_content_bytes() if limit is None else limit
    # Counting UTF-8 bytes costs a copy; no character is more than 4 bytes.
    if len(content) * 4 <= limit:
        return
    size = len(content.encode("utf-8", "surrogatepass"))
    if size > limit:
        raise ValidationError(
            f"The vault text is {_kib(size)}; a vault holds at most {_kib(limit)}.", code="too_large"
        )


def _kib(size: int) -> str:
    return f"{size / 1024:.0f} KiB" if size >= 1024 else f"{size} bytes"


def parse_tree(fmt: str, content: str, *, max_bytes: int | None = None) -> dict[str, Any]:
    """CONTENT parsed as FMT into plain values, within the budget; raises VaultSyntaxError/ValidationError.

    MAX_BYTES (default PORTAL_VAULT_MAX_BYTES) bounds the text before parsing starts.
    """
    if fmt not in FORMATS:
        raise ValidationError(f"Unknown format {fmt!r}: use HOCON, JSON or YAML.", code="format")
    check_text_size(content, max_bytes)
    if not content.strip():
        return {}
    raw = {HOCON: _hocon_tree, JSON: _json_tree, YAML: _yaml_tree}[fmt](content)
    if raw is None:  # a YAML document of only comments
        return {}
    if not isinstance(raw, dict):
        raise ValidationError(
            "A vault holds settings by name: its top level must be an object (key: value pairs), "
            f"not a {type(raw).__name__ if not isinstance(raw, list) else 'list'}.",
            code="not_object",
        )
    return _plain(raw, [MAX_NODES, MAX_TEXT])


def leaf_paths(tree: Any, prefix: str = "") -> dict[str, Any]:
    """{"sdk.aws.s3.key": value, ...}: every leaf with its dotted path (lists are leaves)."""
    out: dict[str, Any] = {}
    if isinstance(tree, dict):
        if not tree and prefix:
            out[prefix] = {}
        for key, value in tree.items():
            path = f"{prefix}.{key}" if prefix else key
            if isinstance(value, dict):
                out.update(leaf_paths(value, path))
            else:
                out[path] = value
    return out


def forbidden_key_in(tree: dict[str, Any]) -> str | None:
    """The first machine/agent-specific key set by TREE, whatever the nesting or dotting."""
    for path in _all_paths(tree):
        normalized = ".".join(part.strip() for part in path.split("."))
        if normalized in FORBIDDEN_KEYS:
            return normalized
    return None


def _all_paths(tree: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(tree, dict):
        for key, value in tree.items():
            path = f"{prefix}.{key}" if prefix else key
            yield path
            yield from _all_paths(value, path)


def served_text(fmt: str, content: str, tree: dict[str, Any]) -> str:
    """What `users.get_vaults` hands the clients for this vault (see the module docstring)."""
    if not tree:
        return ""
    if fmt == HOCON:
        return content
    data = json.dumps(tree, ensure_ascii=False, indent=2)
    if len(data) > max_served_bytes() // 4:
        check_text_size(data, max_served_bytes())
    return data


def vault_parse(*, fmt: str, content: str, check_forbidden: bool = True) -> ParsedVault:
    """Parse CONTENT; refuse the machine/agent-specific keys. Raises ValidationError."""
    tree = parse_tree(fmt, content)
    if check_forbidden:
        key = forbidden_key_in(tree)
        if key:
            raise ValidationError(
                f"{key} is machine/agent specific and can't be set in a vault: remove it.",
                code="forbidden_key",
            )
    return ParsedVault(tree=tree, data=served_text(fmt, content, tree))


def served_format(fmt: str) -> str:
    """The format of a vault's served `data`: HOCON as written, JSON for JSON and YAML."""
    return HOCON if fmt == HOCON else JSON


def stored_tree(fmt: str, data: str) -> dict[str, Any]:
    """A stored vault's served DATA parsed within the budget (a vault saved before a check existed
    included); raises ValidationError when it is too large, too deep or can't be parsed."""
    try:
        return parse_tree(served_format(fmt), data, max_bytes=max_served_bytes())
    except ValidationError as exc:
        if exc.code == "too_large" and "a vault holds at most" in exc.messages[0]:
            raise ValidationError(
                "The vault is larger than this portal serves (PORTAL_VAULT_MAX_BYTES).", code="too_large"
            ) from None
        raise


# Verdicts of `servable`, by digest of the served text: users.get_vaults answers every
# client session start, and the same few vaults are checked again and again.
_VERDICTS: OrderedDict[tuple, str | None] = OrderedDict()
_VERDICTS_LOCK = threading.Lock()
_VERDICTS_SIZE = 512


def servable(fmt: str, data: str) -> str | None:
    """None when the stored DATA may be served to the clients; else why not (its error)."""
    key = (fmt, max_served_bytes(), hashlib.sha256(data.encode("utf-8", "surrogatepass")).digest())
    with _VERDICTS_LOCK:
        if key in _VERDICTS:
            _VERDICTS.move_to_end(key)
            return _VERDICTS[key]
    try:
        stored_tree(fmt, data)
        verdict = None
    except ValidationError as exc:
        verdict = exc.messages[0]
    with _VERDICTS_LOCK:
        _VERDICTS[key] = verdict
        while len(_VERDICTS) > _VERDICTS_SIZE:
            _VERDICTS.popitem(last=False)
    return verdict


def summary(tree: dict[str, Any], limit: int = 3) -> tuple[list[str], int]:
    """The first LIMIT leaf paths of TREE and how many more there are (the table's content summary)."""
    paths = list(leaf_paths(tree))
    return paths[:limit], max(len(paths) - limit, 0)


def keys_diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, list[str]]:
    """Which leaf paths were added, removed or changed: paths only, never values (for the audit log)."""
    before, after = leaf_paths(old), leaf_paths(new)
    return {
        "added": sorted(set(after) - set(before)),
        "removed": sorted(set(before) - set(after)),
        "changed": sorted(key for key in set(before) & set(after) if before[key] != after[key]),
    }


def guess_format(filename: str) -> str | None:
    """The format a file's name says (.conf/.hocon, .json, .yaml/.yml), else None."""
    name = filename.lower()
    if name.endswith(".json"):
        return JSON
    if name.endswith((".yaml", ".yml")):
        return YAML
    if name.endswith((".conf", ".hocon")):
        return HOCON
    return None
