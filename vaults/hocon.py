"""A bounded HOCON reader for vault text: what pyhocon reads, in linear time and within a budget.

Why not pyhocon itself: its pyparsing grammar needs about 80 µs of CPU per byte (5 s
for a 64 KiB vault), recurses once per nesting level, and expands substitutions
before anything can count them (a 416-byte vault of `a1 = ${a0} ${a0} ...` chains
takes minutes and hundreds of MB). The clients still read vaults with pyhocon: this
module follows pyhocon's grammar and merge rules (its token patterns are reused
below; pyhocon is Apache-2.0 like this project), so that what it accepts the clients
read the same way, and it refuses instead of guessing where pyhocon would fail.
tests/vaults/test_budget.py checks the agreement against the SDK's own copy of pyhocon.
Known differences, all in odd corners: durations (`10 seconds`) stay text, a
substitution the vault can't resolve stays `${NAME}`, and some of pyhocon's own
failures (nested self-references) resolve here as the HOCON specification says.

What is bounded, and where (see `Budget`):
- parsing is one pass over the text with compiled patterns; objects and lists nest at
  most `max_depth` levels, checked at the opening bracket (no RecursionError);
- substitutions are resolved lazily, each once (memoized), with cycle detection;
  the size of every value is known before it is built, so a concatenation that would
  pass `max_nodes` values or `max_chars` characters of text is refused before it is
  made, and the copying done along the way is capped by `max_work`;
- what the server cannot know is left to the clients: a substitution that names
  nothing in the vault becomes the text `${NAME}` (the client resolves it from its
  own environment); the server's environment is never read, and `include` is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Budget", "BudgetError", "HoconError", "IncludeRefused", "loads"]


@dataclass(frozen=True)
class Budget:
    max_nodes: int = 20_000  # values in the expanded tree (a container and each scalar count one)
    max_chars: int = 1_000_000  # characters of text (keys and strings) in the expanded tree
    max_depth: int = 64  # nesting of objects and lists, literal or through substitutions
    max_hops: int = 128  # substitutions and containers resolved inside one another
    max_work: int = 200_000  # values copied while resolving (concatenations, merges)
    max_work_chars: int = 4_000_000  # characters copied while resolving


class HoconError(Exception):
    """A syntax or resolution error; LINE and COLUMN are 1-based when known."""

    code = "syntax"

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.message, self.line, self.column = message, line, column


class IncludeRefused(HoconError):
    pass


class BudgetError(HoconError):
    """The text would expand (or nest) past the budget; CODE says which limit."""

    def __init__(self, message: str, *, code: str, line: int | None = None, column: int | None = None):
        super().__init__(message, line=line, column=column)
        self.code = code


# -- the token patterns (pyhocon 0.3.6x's, see pyhocon/config_parser.py) -------------------

_BLANK = re.compile(r"[ \t]*")
_NEWLINES = re.compile(r"[\n\r]+")
_SEPARATORS = re.compile(r"[\n\r,]+")
# Blanks, comments and separators in one step: newlines only, or newlines and commas.
_FILLER_NEWLINES = re.compile(r"(?:[ \t]+|[\n\r]+|(?:#|//)[^\n\r]*)*")
_FILLER_SEPARATORS = re.compile(r"(?:[ \t]+|[\n\r,]+|(?:#|//)[^\n\r]*)*")
# Word(alphanums + alphas8bit + '._- /'): ASCII letters and digits, Latin-1 letters.
_KEY = re.compile(r"[A-Za-z0-9\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u00ff._\- /]+")
_QUOTED_KEY = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_INCLUDE = re.compile(
    r"(?i:include)(?![A-Za-z0-9_$])[ \t]*(?:\"|(?:url|file|package|classpath|required)[ \t]*\()"
)
_SUBSTITUTION = re.compile(r"\$\{(\?)?([^}]+)\}([ \t]*)")
_MULTILINE = re.compile(r'""".*?"*"""', re.DOTALL)
_QUOTED = re.compile(r'"((?:[^"\\\n]|\\.)*)"([ \t]*)')
_UNQUOTED = re.compile(r"(?:[^^`+?!@*&\"\[\{\s\]\}#,=\$\\]|\\.)+[ \t]*")
_NUMBER = re.compile(r"[+-]?(\d*\.\d+|\d+(\.\d+)?)([eE][+\-]?\d+)?(?=$|[ \t]*([\$\}\],#\n\r]|//))", re.DOTALL)
_KEYWORD = re.compile(r"(?i:true|false|null)(?![A-Za-z0-9_$])")
_PERIOD_UNITS = [
    "ns",
    "nano",
    "nanos",
    "nanosecond",
    "nanoseconds",
    "us",
    "micro",
    "micros",
    "microsecond",
    "microseconds",
    "ms",
    "milli",
    "millis",
    "millisecond",
    "milliseconds",
    "s",
    "second",
    "seconds",
    "m",
    "minute",
    "minutes",
    "h",
    "hour",
    "hours",
    "w",
    "week",
    "weeks",
    "d",
    "day",
    "days",
    "mo",
    "month",
    "months",
    "y",
    "year",
    "years",
]
_PERIOD = re.compile(
    r"\d+ *(?:" + "|".join(sorted(_PERIOD_UNITS, key=len, reverse=True)) + r")(?![A-Za-z0-9])"
)
_ESCAPE = re.compile(r"\\.")
_ESCAPES = {
    "\\\\": "\\",
    "\\n": "\n",
    "\\r": "\r",
    "\\t": "\t",
    "\\=": "=",
    "\\#": "#",
    "\\!": "!",
    '\\"': '"',
}
# pyhocon's ConfigTree.parse_key: a path splits on dots, quoted parts with a special character keep their quotes.
_SPECIAL = "$}[]:=+#`^?!@*&."
_KEY_PART = re.compile(r'"[^"]+"|[^' + re.escape(_SPECIAL) + r"]+")


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    return _ESCAPE.sub(lambda match: _ESCAPES.get(match.group(0), match.group(0)), text)


def split_path(key: str) -> tuple[str, ...]:
    """KEY as pyhocon splits it into path elements (a quoted element holding a dot keeps its quotes)."""
    if key.isalnum() or key.replace("_", "").replace("-", "").isalnum():
        return (key,)
    parts = _KEY_PART.findall(key)
    return tuple(part if any(ch in _SPECIAL for ch in part) else part.strip('"') for part in parts)


def path_text(path: tuple[str, ...]) -> str:
    return ".".join(part[1:-1] if len(part) > 1 and part[0] == part[-1] == '"' else part for part in path)


# -- what the parser builds ---------------------------------------------------------------

MISSING = object()  # no value was there before an assignment


class Text:
    """A string token of a concatenation: KIND is "unquoted", "quoted" or "multiline"."""

    __slots__ = ("kind", "value", "ws")

    def __init__(self, kind: str, value: str, ws: str = ""):
        self.kind, self.value, self.ws = kind, value, ws


class Scalar:
    """A number, boolean, null or duration token of a concatenation."""

    __slots__ = ("text", "value")

    def __init__(self, value, text: str):
        self.value, self.text = value, text


class Substitution:
    __slots__ = ("optional", "path", "pos", "variable", "ws")

    def __init__(self, variable: str, optional: bool, ws: str, pos: int):
        self.variable, self.optional, self.ws, self.pos = variable, optional, ws, pos
        self.path = split_path(variable)


class Obj:
    """An object before resolution: key -> node (a value, Obj, Arr or Pending)."""

    __slots__ = ("items", "pos", "resolved", "state")

    def __init__(self, pos: int):
        self.items: dict[str, object] = {}
        self.pos = pos
        self.state = 0  # 0 unresolved, 1 resolving, 2 resolved
        self.resolved = None


class Arr:
    __slots__ = ("items", "pos", "resolved", "state")

    def __init__(self, items: list, pos: int):
        self.items, self.pos = items, pos
        self.state = 0
        self.resolved = None


class Pending:
    """A value to compute: a concatenation with substitutions, or an object merged onto one.

    PATH is the field it was assigned to and PRIOR what that field held before (for
    self-references such as `a = ${a} [2]`, and for merging an object onto an object).
    """

    __slots__ = ("parts", "path", "pos", "prior", "resolved", "state")

    def __init__(self, parts: list, pos: int, path: tuple[str, ...] | None = None):
        self.parts, self.pos, self.path = parts, pos, path
        self.prior = MISSING
        self.state = 0
        self.resolved = None


_CONTAINERS = (Obj, Arr, Pending)


# -- the parser ---------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str, budget: Budget):
        self.text = text
        self.end = len(text)
        self.budget = budget

    # positions and errors

    def where(self, pos: int) -> tuple[int, int]:
        line = self.text.count("\n", 0, pos) + 1
        return line, pos - (self.text.rfind("\n", 0, pos) + 1) + 1

    def error(self, pos: int, message: str | None = None) -> HoconError:
        line, column = self.where(pos)
        if message is None:
            found = self.text[pos : pos + 20].split("\n", 1)[0].strip()
            message = f"unexpected {found!r}" if found else "unexpected end of line"
            if pos >= self.end:
                message = "unexpected end of text"
        return HoconError(message, line=line, column=column)

    def too_deep(self, pos: int) -> BudgetError:
        line, column = self.where(pos)
        return BudgetError(
            f"The vault is nested too deeply (more than {self.budget.max_depth} levels).",
            code="too_deep",
            line=line,
            column=column,
        )

    # small steps

    def blank(self, pos: int) -> int:
        return _BLANK.match(self.text, pos).end()

    def skip_filler(self, pos: int, separators: re.Pattern) -> int:
        """Past blanks, comments and SEPARATORS (newlines, and commas where allowed)."""
        filler = _FILLER_SEPARATORS if separators is _SEPARATORS else _FILLER_NEWLINES
        return filler.match(self.text, pos).end()

    # the document

    def document(self):
        pos = self.skip_filler(0, _NEWLINES)
        if self.text.startswith("[", pos):
            value, pos = self.array(pos, (), 1)
            root = value
        elif self.text.startswith("{", pos):
            root = Obj(pos)
            pos = self.fields(root, pos + 1, (), 1, closing="}")
        else:
            root = Obj(pos)
            pos = self.fields(root, pos, (), 0, closing=None)
        pos = self.skip_filler(pos, _SEPARATORS)
        if pos < self.end:
            raise self.error(pos)
        return root

    def fields(
        self, obj: Obj, pos: int, prefix: tuple[str, ...] | None, depth: int, closing: str | None
    ) -> int:
        """The fields of OBJ up to CLOSING (None: the end of the text); the position after it.

        PREFIX is OBJ's path from the root, or None inside an array (no field path there).
        """
        text = self.text
        while True:
            pos = self.skip_filler(pos, _SEPARATORS)
            if pos >= self.end:
                if closing is None:
                    return pos
                raise self.error(pos, f"expected '{closing}' but the text ended")
            if closing is not None and text.startswith(closing, pos):
                return pos + 1
            if _INCLUDE.match(text, pos):
                line, column = self.where(pos)
                raise IncludeRefused("include is not supported in a vault", line=line, column=column)
            pos = self.field(obj, pos, prefix, depth)

    def field(self, obj: Obj, pos: int, prefix: tuple[str, ...] | None, depth: int) -> int:
        text = self.text
        key_pos = pos
        match = _QUOTED_KEY.match(text, pos) if text.startswith('"', pos) else _KEY.match(text, pos)
        if match is None:
            raise self.error(pos)
        path = split_path(match.group(0).strip())
        if not path or any(part == "" for part in path):
            raise self.error(key_pos, "a key can't be empty")
        if depth + len(path) > self.budget.max_depth:
            raise self.too_deep(key_pos)
        full = None if prefix is None else prefix + path
        pos = self.skip_filler(match.end(), _NEWLINES)
        if text.startswith("{", pos):
            child = Obj(pos)
            pos = self.fields(child, pos + 1, full, depth + len(path), closing="}")
            node, append = child, False
        else:
            if text.startswith("+=", pos):
                append, pos = True, pos + 2
            elif pos < self.end and text[pos] in "=:":
                append, pos = False, pos + 1
            else:
                raise self.error(pos, f"expected '=', ':' or '{{' after the key {path_text(path)!r}")
            pos = self.skip_filler(pos, _NEWLINES)
            parts, pos = self.concatenation(pos, full, depth + len(path) - 1)
            node = self.node_of(parts, key_pos, full)
            if append:
                node = self.appended(parts, node, key_pos, full)
        self.assign(obj, path, node, prefix, key_pos)
        return pos

    def appended(self, parts: list, node, pos: int, full: tuple[str, ...]):
        """`key += value`: pyhocon appends a list, or a string after a space; anything else is `=`."""
        if parts and all(isinstance(part, Arr) for part in parts):
            return _Append(Pending([_SelfRef(), *parts], pos, full), node)
        if parts and all(isinstance(part, Text) for part in parts) and isinstance(node, str):
            return _Append(Pending([_SelfRef(), Text("quoted", " " + node)], pos, full), node)
        return node

    def node_of(self, parts: list, pos: int, full: tuple[str, ...] | None):
        """The node for a concatenation: a plain value when nothing is left to compute."""
        if not parts:
            return ""
        if len(parts) == 1:
            part = parts[0]
            if isinstance(part, Text):
                return part.value.rstrip(" \t") if part.kind == "unquoted" else part.value
            if isinstance(part, Scalar):
                return part.value
            if isinstance(part, (Obj, Arr)):
                return part
        if all(isinstance(part, Text | Scalar) for part in parts):
            return _join_texts([(part, None) for part in parts])
        return Pending(parts, pos, full)

    def concatenation(self, pos: int, full: tuple[str, ...] | None, depth: int) -> tuple[list, int]:
        """The tokens of one value (up to a newline, comma, comment or closing bracket)."""
        text, parts = self.text, []
        while True:
            pos = self.blank(pos)
            if pos >= self.end:
                return parts, pos
            char = text[pos]
            if char in "\n\r,}]#" or text.startswith("//", pos):
                return parts, pos
            if char in "iI" and _INCLUDE.match(text, pos):
                line, column = self.where(pos)
                raise IncludeRefused("include is not supported in a vault", line=line, column=column)
            if char == "$":
                match = _SUBSTITUTION.match(text, pos)
                if match is None:
                    return parts, pos
                parts.append(Substitution(match.group(2), bool(match.group(1)), match.group(3), pos))
                pos = match.end()
            elif char == "{":
                if depth + 1 > self.budget.max_depth:
                    raise self.too_deep(pos)
                child = Obj(pos)
                pos = self.fields(child, pos + 1, full, depth + 1, closing="}")
                parts.append(child)
            elif char == "[":
                child, pos = self.array(pos, full, depth + 1)
                parts.append(child)
            elif char == "\\" and _NEWLINES.match(text, pos + 1):
                pos = _NEWLINES.match(text, pos + 1).end()  # a line continuation
            else:
                token, pos = self.simple_value(pos)
                if token is None:
                    return parts, pos
                parts.append(token)

    def simple_value(self, pos: int):
        text = self.text
        match = _PERIOD.match(text, pos)
        if match:
            return Scalar(match.group(0), match.group(0)), match.end()
        match = _NUMBER.match(text, pos)
        if match:
            number = match.group(0)
            try:
                value = int(number, 10)
            except ValueError:
                try:
                    value = float(number)
                except ValueError:  # too many digits for Python's int()/float()
                    raise self.error(pos, "this number is too long") from None
            return Scalar(value, number), match.end()
        match = _KEYWORD.match(text, pos)
        if match:
            word = match.group(0).lower()
            return Scalar({"true": True, "false": False, "null": None}[word], word), match.end()
        if text.startswith('"""', pos):
            match = _MULTILINE.match(text, pos)
            if match is None:
                raise self.error(pos, 'this """ string is not closed')
            return Text("multiline", match.group(0)[3:-3]), match.end()
        if text.startswith('"', pos):
            match = _QUOTED.match(text, pos)
            if match is None:
                raise self.error(pos, "this quoted string is not closed on its line")
            return Text("quoted", _unescape(match.group(1)), match.group(2)), match.end()
        match = _UNQUOTED.match(text, pos)
        if match:
            return Text("unquoted", _unescape(match.group(0))), match.end()
        return None, pos

    def array(self, pos: int, full: tuple[str, ...] | None, depth: int) -> tuple[Arr, int]:
        if depth > self.budget.max_depth:
            raise self.too_deep(pos)
        start, items, text = pos, [], self.text
        pos += 1
        while True:
            pos = self.skip_filler(pos, _SEPARATORS)
            if pos >= self.end:
                raise self.error(pos, "expected ']' but the text ended")
            if text[pos] == "]":
                return Arr(items, start), pos + 1
            item_pos = pos
            parts, pos = self.concatenation(pos, None, depth)
            if not parts:
                raise self.error(pos, f"expected a value or ']', found {text[pos]!r}")
            node = self.node_of(parts, item_pos, None)
            if not (isinstance(node, str) and node == ""):  # pyhocon drops empty strings from lists
                items.append(node)
            pos = self.blank(pos)
            if pos < self.end and text[pos] not in "\n\r,]#" and not text.startswith("//", pos):
                raise self.error(pos, f"expected ',' or ']', found {text[pos]!r}")

    # merging a field into its object (pyhocon's ConfigTree.put rules)

    def assign(self, obj: Obj, path: tuple[str, ...], node, prefix: tuple[str, ...] | None, pos: int) -> None:
        def at(count: int) -> tuple[str, ...] | None:
            return None if prefix is None else prefix + path[:count]

        for index, key in enumerate(path[:-1]):
            existing = obj.items.get(key, MISSING)
            if isinstance(existing, Obj):
                obj = existing
                continue
            # a.b = v onto anything but an object: pyhocon merges {b: v} onto it.
            rest = Obj(pos)
            self.assign(rest, path[index + 1 :], node, at(index + 1), pos)
            self.put(obj, key, rest, at(index + 1), pos)
            return
        self.put(obj, path[-1], node, at(len(path)), pos)

    def put(self, obj: Obj, key: str, node, full: tuple[str, ...] | None, pos: int) -> None:
        existing = obj.items.get(key, MISSING)
        if isinstance(node, _Append):
            if existing is MISSING:  # nothing to append to: the value alone
                node = node.alone
            else:
                node.pending.prior = existing
                obj.items[key] = node.pending
                return
        if isinstance(node, Obj):
            if isinstance(existing, Obj):
                for child_key, child in node.items.items():
                    self.put(existing, child_key, child, None if full is None else (*full, child_key), pos)
                return
            if isinstance(existing, Pending):  # merged once the value is known
                merged = Pending([existing, node], pos, full)
                obj.items[key] = merged
                return
            if existing is not MISSING and not isinstance(existing, Arr | list):
                line, column = self.where(pos)
                raise HoconError(
                    f"{path_text(full or (key,))} already holds a value that is not an object: "
                    "set it with `=` to replace it",
                    line=line,
                    column=column,
                )
            obj.items[key] = node
            return
        if isinstance(node, Pending) and node.prior is MISSING:
            node.prior = existing
        obj.items[key] = node


class _SelfRef:
    """The previous value of the field being assigned (the left side of `+=`)."""

    __slots__ = ()
    ws = ""


class _Append:
    """`key += value`: PENDING appends to what the key holds; ALONE is the value when it holds nothing."""

    __slots__ = ("alone", "pending")

    def __init__(self, pending: Pending, alone):
        self.pending, self.alone = pending, alone


def _join_texts(pieces: list) -> str:
    """pyhocon's string concatenation: each piece with the blanks that followed it, the last one trimmed."""
    out = []
    last = len(pieces) - 1
    for index, (piece, resolved) in enumerate(pieces):
        if isinstance(piece, Text):
            if piece.kind == "unquoted":
                out.append(piece.value.rstrip(" \t") if index == last else piece.value)
            else:
                out.append(piece.value if index == last else piece.value + piece.ws)
        elif isinstance(piece, Scalar):
            out.append(_scalar_text(piece.value) if not isinstance(piece.value, str) else piece.value)
        else:  # a resolved substitution
            out.append(_scalar_text(resolved) + ("" if index == last else piece.ws))
    return "".join(out)


def _scalar_text(value) -> str:
    if value is None:
        return "null"
    return str(value)  # pyhocon: str(True) == "True", str(1.0) == "1.0"


# -- resolution -----------------------------------------------------------------------------


class _Resolver:
    def __init__(self, parser: _Parser, root):
        self.parser = parser
        self.root = root
        self.budget = parser.budget
        self.hops = 0
        self.work = 0
        self.work_chars = 0
        # Size of every container built: id -> (values, characters, depth). The containers
        # are kept alive by `keep`, so an id is never reused while this resolver runs.
        self.sizes: dict[int, tuple[int, int, int]] = {}
        self.keep: list = []

    # sizes

    def size(self, value) -> tuple[int, int, int]:
        if isinstance(value, dict | list):
            return self.sizes[id(value)]
        if isinstance(value, str):
            return 1, len(value), 0
        return 1, 0, 0

    def check(self, nodes: int, chars: int, depth: int, pos: int, path) -> None:
        budget = self.budget
        if nodes <= budget.max_nodes and chars <= budget.max_chars and depth <= budget.max_depth:
            return
        what = f"the value of {path_text(path)}" if path else "the vault"
        line, column = self.parser.where(pos)
        if nodes > budget.max_nodes:
            raise BudgetError(
                f"Substitutions make this vault too large: {what} would hold more than "
                f"{budget.max_nodes} values once expanded.",
                code="too_large",
                line=line,
                column=column,
            )
        if chars > budget.max_chars:
            raise BudgetError(
                f"Substitutions make this vault too large: {what} would hold more than "
                f"{budget.max_chars} characters of text once expanded.",
                code="too_large",
                line=line,
                column=column,
            )
        if depth > budget.max_depth:
            raise BudgetError(
                f"Substitutions nest this vault too deeply: {what} would be more than "
                f"{budget.max_depth} levels deep.",
                code="too_deep",
                line=line,
                column=column,
            )

    def charge(self, items: int, chars: int, pos: int) -> None:
        self.work += items
        self.work_chars += chars
        if self.work > self.budget.max_work or self.work_chars > self.budget.max_work_chars:
            line, column = self.parser.where(pos)
            raise BudgetError(
                "Substitutions in this vault copy too much while they are expanded "
                f"(more than {self.budget.max_work} values or {self.budget.max_work_chars} characters): "
                "refer to fewer or smaller values.",
                code="too_large",
                line=line,
                column=column,
            )

    def made(self, value, nodes: int, chars: int, depth: int):
        self.sizes[id(value)] = (nodes, chars, depth)
        self.keep.append(value)
        return value

    # building values within the budget

    def new_dict(self, items: dict, pos: int, path) -> dict:
        nodes, chars, depth = 1, 0, 0
        for key, value in items.items():
            n, c, d = self.size(value)
            nodes, chars, depth = nodes + n, chars + c + len(key), max(depth, d)
        self.check(nodes, chars, depth + 1, pos, path)
        self.charge(len(items), 0, pos)
        return self.made(items, nodes, chars, depth + 1)

    def concat_lists(self, lists: list[list], pos: int, path) -> list:
        nodes, chars, depth, length = 1, 0, 0, 0
        for value in lists:
            n, c, d = self.size(value)
            nodes, chars, depth, length = nodes + n - 1, chars + c, max(depth, d), length + len(value)
        self.check(nodes, chars, depth, pos, path)
        self.charge(length, 0, pos)
        out = []
        for value in lists:
            out.extend(value)
        return self.made(out, nodes, chars, depth)

    def merge(self, base: dict, over: dict, pos: int, path) -> dict:
        """OVER merged onto BASE (objects merge key by key, anything else replaces); both untouched.

        The size is updated key by key from BASE's (the depth is an upper bound).
        """
        self.charge(len(base) + len(over), 0, pos)
        items = dict(base)
        nodes, chars, depth = self.sizes[id(base)]
        for key, value in over.items():
            below = items.get(key, MISSING)
            if isinstance(below, dict) and isinstance(value, dict):
                value = self.merge(below, value, pos, path)
            if below is not MISSING:
                n, c, _ = self.size(below)
                nodes, chars = nodes - n, chars - c - len(key)
            n, c, d = self.size(value)
            nodes, chars, depth = nodes + n, chars + c + len(key), max(depth, d + 1)
            items[key] = value
        self.check(nodes, chars, depth, pos, path)
        return self.made(items, nodes, chars, depth)

    # resolving nodes

    def enter(self, pos: int) -> None:
        self.hops += 1
        if self.hops > self.budget.max_hops:
            line, column = self.parser.where(pos)
            raise BudgetError(
                f"Substitutions and nesting in this vault go more than {self.budget.max_hops} levels deep.",
                code="too_deep",
                line=line,
                column=column,
            )

    def value(self, node):
        """NODE resolved to plain dicts, lists and scalars."""
        if not isinstance(node, _CONTAINERS):
            return node
        if node.state == 2:
            return node.resolved
        if node.state == 1:
            line, column = self.parser.where(node.pos)
            where = f" ({path_text(node.path)})" if isinstance(node, Pending) and node.path else ""
            raise HoconError(
                f"a substitution refers back to the value that contains it{where}: check for cycles",
                line=line,
                column=column,
            )
        if isinstance(node, Pending):
            self.resolve_priors(node)
        node.state = 1
        self.enter(node.pos)
        if isinstance(node, Obj):
            items = {key: self.value(child) for key, child in node.items.items()}
            items = {key: value for key, value in items.items() if value is not _REMOVED}
            result = self.new_dict(items, node.pos, None)
        elif isinstance(node, Arr):
            items = [self.value(child) for child in node.items]
            nodes, chars, depth = 1, 0, 0
            for item in items:
                n, c, d = self.size(item)
                nodes, chars, depth = nodes + n, chars + c, max(depth, d)
            self.check(nodes, chars, depth + 1, node.pos, None)
            self.charge(len(items), 0, node.pos)
            result = self.made(items, nodes, chars, depth + 1)
        else:
            result = self.pending(node)
        self.hops -= 1
        node.state, node.resolved = 2, result
        return result

    def resolve_priors(self, node: Pending) -> None:
        """Resolve the values NODE builds on, oldest first, so `a += [x]` repeated is not a deep recursion."""
        chain = []
        while True:
            before = node.prior if node.prior is not MISSING else None
            if before is None and node.parts and isinstance(node.parts[0], Pending):
                before = node.parts[0]  # an object merged onto a value still to compute
            if not isinstance(before, Pending) or before.state != 0:
                break
            chain.append(before)
            node = before
        for before in reversed(chain):
            self.value(before)

    def pending(self, node: Pending):
        pieces = []  # (token, resolved value)
        for part in node.parts:
            if isinstance(part, Text | Scalar):
                pieces.append((part, None))
            elif isinstance(part, Substitution):
                found = self.lookup(part, node)
                if found is _UNRESOLVED:
                    pieces.append((Text("quoted", "${" + part.variable + "}", part.ws), None))
                elif found is not None and found is not _REMOVED:
                    pieces.append((part, found))
                # A substitution resolving to null drops out (pyhocon): alone, it removes the field.
            elif isinstance(part, _SelfRef):
                prior = MISSING if node.prior is MISSING else self.value(node.prior)
                if prior is not MISSING and prior is not _REMOVED:
                    pieces.append((part, prior))
            else:  # an object, array or pending value (a deferred merge)
                pieces.append((part, self.value(part)))
        result = self.combine(pieces, node)
        if node.path is not None and isinstance(node.prior, Obj) and not isinstance(result, dict):
            # pyhocon concatenates a value assigned over an object with that object: only an
            # object can follow one (the clients refuse `a { x = 1 }` then `a = ${b}` with b = 5).
            line, column = self.parser.where(node.pos)
            raise HoconError(
                f"{path_text(node.path)} holds an object: a substitution can only merge another "
                "object onto it (set its keys one by one instead)",
                line=line,
                column=column,
            )
        if isinstance(result, dict) and node.path is not None and node.prior is not MISSING:
            prior = self.value(node.prior)
            if isinstance(prior, dict):
                result = self.merge(prior, result, node.pos, node.path)
        return result

    def combine(self, pieces: list, node: Pending):
        if not pieces:
            return _REMOVED if node.path is not None else None
        if len(pieces) == 1:
            token, resolved = pieces[0]
            if isinstance(token, Text):
                return token.value.rstrip(" \t") if token.kind == "unquoted" else token.value
            if isinstance(token, Scalar):
                return token.value
            return resolved
        kinds = set()
        for token, resolved in pieces:
            if isinstance(token, Text | Scalar):
                kinds.add("text")
            elif isinstance(resolved, dict):
                kinds.add("object")
            elif isinstance(resolved, list):
                kinds.add("list")
            else:
                kinds.add("text")
        if len(kinds) > 1:
            line, column = self.parser.where(node.pos)
            raise HoconError(
                "can't concatenate "
                + " and ".join(sorted(kinds))
                + " values"
                + (f" ({path_text(node.path)})" if node.path else ""),
                line=line,
                column=column,
            )
        kind = kinds.pop()
        if kind == "list":
            return self.concat_lists([resolved for _, resolved in pieces], node.pos, node.path)
        if kind == "object":
            result = pieces[0][1]
            for _, resolved in pieces[1:]:
                result = self.merge(result, resolved, node.pos, node.path)
            return result
        chars = 0
        for token, resolved in pieces:
            if isinstance(token, Text):
                chars += len(token.value) + len(token.ws)
            elif isinstance(token, Scalar):
                chars += len(token.text) + 5
            else:
                chars += (len(resolved) if isinstance(resolved, str) else 32) + len(token.ws)
        self.check(1, chars, 0, node.pos, node.path)
        self.charge(len(pieces), chars, node.pos)
        return _join_texts(pieces)

    def lookup(self, substitution: Substitution, owner: Pending):
        """The value a substitution names, or _UNRESOLVED when the vault doesn't hold it."""
        path = substitution.path
        if not path:
            return _UNRESOLVED
        own = owner.path
        if own is not None and path[: len(own)] == own:
            # A self-reference: the value this field had before this assignment.
            if owner.prior is MISSING:
                return _UNRESOLVED
            return self.descend(self.value(owner.prior), path[len(own) :], substitution)
        node = self.root
        for index, key in enumerate(path):
            if isinstance(node, Obj):
                node = node.items.get(key, MISSING)
                if node is MISSING:
                    return _UNRESOLVED
                continue
            value = self.value(node)
            return self.descend(value, path[index:], substitution)
        found = self.value(node)
        if found is _REMOVED:
            # The field exists in this document but a substitution of null removed it: the clients
            # can't resolve it either (only `${?x}` drops out quietly, as a null would).
            if substitution.optional:
                return None
            line, column = self.parser.where(substitution.pos)
            raise HoconError(
                f"${{{substitution.variable}}} names a field that a substitution of null removed",
                line=line,
                column=column,
            )
        return found

    def descend(self, value, rest: tuple[str, ...], substitution: Substitution):
        for index, key in enumerate(rest):
            if not isinstance(value, dict):
                line, column = self.parser.where(substitution.pos)
                raise HoconError(
                    f"${{{substitution.variable}}}: {path_text(substitution.path[: len(substitution.path) - len(rest) + index])} "
                    "is not an object",
                    line=line,
                    column=column,
                )
            if key not in value:
                return _UNRESOLVED
            value = value[key]
        return value


_UNRESOLVED = object()
_REMOVED = object()  # a field set to a substitution of null: pyhocon drops the field


def loads(text: str, budget: Budget | None = None):
    """TEXT read as HOCON: a dict (or a list for a top-level array) of plain values.

    Raises IncludeRefused, BudgetError (too large or too deep) or HoconError.
    """
    parser = _Parser(text, budget or Budget())
    root = parser.document()
    if isinstance(root, Arr):  # not a vault (its top level must be an object): nothing to resolve
        return []
    return _Resolver(parser, root).value(root)
