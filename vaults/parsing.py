"""Parse and check vault text: HOCON, JSON or YAML in, a plain tree and the text clients get out.

The clients (clearml SDK and agent) parse every vault's `data` with their HOCON parser,
whatever its `format`. HOCON text is served as written (comments and substitutions
such as `${HOME}` are for the client to resolve); JSON and YAML are served as JSON
text made from the parsed values, because nested YAML is not HOCON and JSON escapes
(`\\u00e9`) are not all understood by pyhocon.

Parsing untrusted HOCON on the server needs care, because pyhocon does things at
parse time: `include file(...)`/`url(...)`/`package(...)` read files, fetch URLs or
import modules on the server, and substitutions it cannot resolve inside the text
fall back to the server's environment (`${SECRET_KEY}` would show the portal's
secret in the effective configuration). `_guarded()` switches both off for the
parses this module makes (a context variable, so other pyhocon users in the
process, if any, are untouched): includes are refused with an error, and every
environment lookup answers `${NAME}` itself, which is how the portal shows a value
that the client resolves from its own environment.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml
from django.core.exceptions import ValidationError
from pyhocon import ConfigFactory
from pyhocon import config_parser as _hocon_parser
from pyhocon.exceptions import ConfigException
from pyparsing import ParseBaseException

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

# A YAML alias can make a small text expand enormously: bound the parsed tree.
MAX_NODES = 20_000
MAX_DEPTH = 64


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


# -- the pyhocon guard ---------------------------------------------------------------

_guard = contextvars.ContextVar("vault_hocon_guard", default=False)


class _IncludeRefused(ConfigException):
    pass


class _PlaceholderEnviron(dict):
    """What pyhocon sees as os.environ while guarded: every variable is its own `${NAME}`."""

    def get(self, key, default=None):
        return "${" + str(key) + "}"

    def __getitem__(self, key):
        return "${" + str(key) + "}"

    def __contains__(self, key) -> bool:
        return True


class _GuardedOs:
    """Stands for the `os` module inside pyhocon.config_parser (only `environ` differs, and only when guarded)."""

    _placeholder = _PlaceholderEnviron()

    def __getattr__(self, name: str):
        if name == "environ" and _guard.get():
            return self._placeholder
        return getattr(os, name)


def _refuse_when_guarded(original):
    def wrapper(*args, **kwargs):
        if _guard.get():
            raise _IncludeRefused("include is not supported in a vault")
        return original(*args, **kwargs)

    wrapper.__wrapped__ = original
    return wrapper


def _install_guards() -> None:
    if getattr(_hocon_parser, "_vault_guards_installed", False):
        return
    factory = _hocon_parser.ConfigFactory
    factory.parse_file = _refuse_when_guarded(factory.parse_file)
    factory.parse_URL = _refuse_when_guarded(factory.parse_URL)
    parser = _hocon_parser.ConfigParser
    parser.resolve_package_path = _refuse_when_guarded(parser.resolve_package_path)
    _hocon_parser.glob = _refuse_when_guarded(_hocon_parser.glob)
    _hocon_parser.os = _GuardedOs()
    _hocon_parser._vault_guards_installed = True


_install_guards()


@contextlib.contextmanager
def _guarded() -> Iterator[None]:
    token = _guard.set(True)
    try:
        yield
    finally:
        _guard.reset(token)


# -- parsing -------------------------------------------------------------------------


def _short(message: str, limit: int = 120) -> str:
    message = " ".join(str(message).split())
    return message if len(message) <= limit else message[: limit - 1] + "…"


def _hocon_error(exc: ParseBaseException) -> VaultSyntaxError:
    message = str(getattr(exc, "msg", "") or "syntax error")
    if len(message) > 80:  # pyparsing lists its whole grammar: say where instead
        found = (exc.line or "")[max(exc.col - 1, 0) :].strip()[:30]
        message = f"unexpected {found!r}" if found else "unexpected end of text"
    return VaultSyntaxError(_short(message), line=exc.lineno, column=exc.col)


def _plain(value: Any, budget: list[int], depth: int = 0) -> Any:
    """VALUE as plain dicts/lists/scalars with string keys; bounded in size and depth."""
    budget[0] -= 1
    if budget[0] < 0:
        raise ValidationError(
            f"The vault is too large once parsed (more than {MAX_NODES} values).", code="too_large"
        )
    if depth > MAX_DEPTH:
        raise ValidationError(
            f"The vault is nested too deeply (more than {MAX_DEPTH} levels).", code="too_deep"
        )
    if isinstance(value, dict):
        out = {}
        for key, child in value.items():
            out[_key_text(key)] = _plain(child, budget, depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(child, budget, depth + 1) for child in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    # YAML dates and the like: their text, as the client would read them from JSON.
    return str(value)


def _key_text(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    key = "null" if key is None else str(key)
    # pyhocon keeps the quotes of a quoted key that holds a dot: "a.b" is one key.
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    return key


def _hocon_tree(content: str) -> Any:
    with _guarded():
        try:
            return ConfigFactory.parse_string(content, resolve=True)
        except ParseBaseException as exc:
            raise _hocon_error(exc) from None
        except _IncludeRefused:
            raise VaultSyntaxError(
                "include is not supported in a vault: paste the included settings instead"
            ) from None
        except ConfigException as exc:
            raise VaultSyntaxError(_short(str(exc))) from None
        except RecursionError:
            raise VaultSyntaxError("the text is nested too deeply") from None
        except Exception as exc:  # pyhocon raises a few bare errors on odd input
            raise VaultSyntaxError(_short(f"cannot parse this HOCON ({exc.__class__.__name__})")) from None


def _json_tree(content: str) -> Any:
    try:
        return json.loads(content)
    except json.JSONDecodeError as exc:
        raise VaultSyntaxError(exc.msg, line=exc.lineno, column=exc.colno) from None
    except RecursionError:
        raise VaultSyntaxError("the text is nested too deeply") from None


def _yaml_tree(content: str) -> Any:
    try:
        return yaml.safe_load(content)
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


def parse_tree(fmt: str, content: str) -> dict[str, Any]:
    """CONTENT parsed as FMT into plain values; raises VaultSyntaxError/ValidationError."""
    if fmt not in FORMATS:
        raise ValidationError(f"Unknown format {fmt!r}: use HOCON, JSON or YAML.", code="format")
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
    return _plain(raw, [MAX_NODES])


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
    return json.dumps(tree, ensure_ascii=False, indent=2)


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


def hocon_data_tree(data: str) -> dict[str, Any]:
    """A served `data` text parsed the way the clients do (guarded), as plain values."""
    return parse_tree(HOCON, data)


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
