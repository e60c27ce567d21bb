"""Vault parsing has a budget: whatever a vault of at most PORTAL_VAULT_MAX_BYTES holds, it
parses and validates in at most 1 s of CPU and 50 MB, and what would expand past the budget
is refused with an error that names the cause (docs/security.md)."""

import json
import time
import tracemalloc

import pytest
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from vaults import hocon, parsing
from vaults.parsing import MAX_NODES, MAX_TEXT, vault_parse

CPU_BUDGET = 1.0  # seconds of CPU (time.process_time)
MEMORY_BUDGET = 50 * 1024 * 1024  # bytes at peak (tracemalloc)
MAX_BYTES = 64 * 1024  # PORTAL_VAULT_MAX_BYTES's default

# Deterministic in CI: the same examples every run (cases found are pinned with @example).
BUDGET_FUZZ = settings(
    derandomize=True,
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _attempt(fmt, content):
    try:
        return vault_parse(fmt=fmt, content=content)
    except ValidationError as exc:
        return exc


def measured(fmt, content):
    """(outcome, CPU seconds, peak bytes) of parsing CONTENT: a ParsedVault or the ValidationError.

    Two runs: tracemalloc slows Python down several times, so CPU is measured without it.
    Anything but a ValidationError (a crash) propagates and fails the test.
    """
    start = time.process_time()
    outcome = _attempt(fmt, content)
    cpu = time.process_time() - start
    tracemalloc.start()
    try:
        _attempt(fmt, content)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return outcome, cpu, peak


def fit(content: str) -> str:
    """CONTENT cut to at most MAX_BYTES of UTF-8 (what a vault may hold)."""
    return content.encode("utf-8", "surrogatepass")[:MAX_BYTES].decode("utf-8", "ignore")


def assert_within_budget(fmt, content):
    assert len(content.encode("utf-8", "surrogatepass")) <= MAX_BYTES
    outcome, cpu, peak = measured(fmt, content)
    assert cpu <= CPU_BUDGET, f"{cpu:.2f} s of CPU"
    assert peak <= MEMORY_BUDGET, f"{peak / 1e6:.0f} MB"
    if isinstance(outcome, parsing.ParsedVault):
        assert_tree_within_budget(outcome.tree)
    return outcome


def assert_tree_within_budget(tree):
    nodes, chars, stack = 0, 0, [(tree, 0)]
    while stack:
        value, depth = stack.pop()
        nodes += 1
        assert depth <= parsing.MAX_DEPTH
        if isinstance(value, dict):
            chars += sum(len(key) for key in value)
            stack.extend((child, depth + 1) for child in value.values())
        elif isinstance(value, list):
            stack.extend((child, depth + 1) for child in value)
        elif isinstance(value, str):
            chars += len(value)
    assert nodes <= MAX_NODES and chars <= MAX_TEXT


# -- the substitution bombs ---------------------------------------------------------------


def substitution_bomb(kind: str, width: int, levels: int) -> str:
    """a0 = WIDTH items (a list, or a string of WIDTH characters), then a1..aLEVELS = ${a(i-1)} WIDTH times."""
    if kind == "list":
        lines = ["a0=[" + ",".join(["1"] * width) + "]"]
        joiner = " "
    else:
        lines = ['a0="' + "x" * width + '"']
        joiner = ""
    for level in range(1, levels + 1):
        lines.append(f"a{level}=" + joiner.join([f"${{a{level - 1}}}"] * width))
    return "\n".join(lines) + "\n"


BOMBS = [
    ("list", 10, 6),  # the reported one (about 400 bytes): 10^7 values once expanded
    ("string", 10, 6),  # the reported string variant: 10^7 characters
    ("list", 10, 12),
    ("string", 10, 12),
    ("list", 2, 60),
    ("string", 2, 60),
    ("list", 100, 4),
    ("string", 100, 4),
    ("list", 1000, 3),
    ("string", 4000, 3),
]


@pytest.mark.parametrize(("kind", "width", "levels"), BOMBS)
def test_substitution_bombs_are_refused_before_they_expand(kind, width, levels):
    content = substitution_bomb(kind, width, levels)
    outcome = assert_within_budget("hocon", content)
    assert isinstance(outcome, ValidationError), "the bomb was accepted"
    message = outcome.messages[0]
    assert outcome.code == "too_large"
    # The error names the cause: substitutions, the key that would be too large, and where it is.
    assert "Substitutions make this vault too large" in message
    assert "the value of a" in message and "line " in message
    what = "values" if kind == "list" else "characters of text"
    assert what in message


@pytest.mark.parametrize(
    "content",
    [
        # A string of 60,000 characters used 100 times.
        'a = "' + "x" * 60_000 + '"\n' + "".join(f"b{i} = ${{a}}\n" for i in range(100)),
        # Doubling through a self-reference.
        "a = [1]\n" + "a = ${a} ${a}\n" * 40,
        'a = "xx"\n' + "a = ${a}${a}\n" * 40,
        # Objects merged from one large object, many times over.
        "base {"
        + ",".join(f"k{i}=1" for i in range(4000))
        + "}\n"
        + "".join(f"c{i} = ${{base}} {{x = 1}}\n" for i in range(1000)),
        # A list appended to, thousands of times (each step copies the list).
        "a = [0]\n" + "a += [1]\n" * 6000,
        # Lists of lists through substitutions.
        "a0 = [1,2,3,4,5,6,7,8]\n"
        + "".join(f"a{i} = [${{a{i - 1}}}, ${{a{i - 1}}}]\n" for i in range(1, 30)),
    ],
    ids=[
        "long-string-reused",
        "list-doubling",
        "string-doubling",
        "merge-chain",
        "append-chain",
        "nested-lists",
    ],
)
def test_other_expansions_are_refused_within_the_budget(content):
    outcome = assert_within_budget("hocon", fit(content))
    assert isinstance(outcome, ValidationError)
    assert outcome.code == "too_large", outcome.messages


# -- self-references, cycles, chains ----------------------------------------------------


def test_a_self_reference_without_a_previous_value_is_left_to_the_client():
    assert vault_parse(fmt="hocon", content="a = ${a}").tree == {"a": "${a}"}


@pytest.mark.parametrize(
    "content",
    [
        "a = ${b}\nb = ${a}",
        "a = ${b}\nb = ${c}\nc = ${a}",
        "a { b = ${a} }",
        "x = ${y.z}\ny { z = ${x} }",
    ],
)
def test_cycles_are_a_clear_error(content):
    with pytest.raises(ValidationError) as err:
        vault_parse(fmt="hocon", content=content)
    message = err.value.messages[0]
    assert "cycle" in message or "not an object" in message or "already holds" in message, message


def test_long_chains_resolve_or_are_refused_cleanly():
    forward = "a0 = 1\n" + "".join(f"a{i + 1} = ${{a{i}}}\n" for i in range(3000))
    assert assert_within_budget("hocon", forward).tree["a3000"] == 1
    backward = "".join(f"a{i} = ${{a{i + 1}}}\n" for i in range(3000)) + "a3000 = 1\n"
    refused = assert_within_budget("hocon", backward)
    assert isinstance(refused, ValidationError) and "levels deep" in refused.messages[0]
    appended = "a = []\n" + "a += [1]\n" * 300
    assert assert_within_budget("hocon", appended).tree["a"] == [1] * 300


# -- nesting, long text, maximal vaults ----------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "content"),
    [
        ("hocon", "a {" * 10_000 + "}" * 10_000),
        ("hocon", "a = " + "[" * 10_000 + "]" * 10_000),
        ("hocon", "a = " + "{a = " * 10_000 + "1" + "}" * 10_000),
        ("hocon", "a." * 20_000 + "b = 1"),
        ("hocon", "a0 = {}\n" + "".join(f"a{i + 1} = {{k = ${{a{i}}}}}\n" for i in range(1500))),
        ("json", "[" * 30_000 + "]" * 30_000),
        ("json", '{"a":' * 10_000 + "1" + "}" * 10_000),
        ("yaml", "[" * 30_000 + "]" * 30_000),
        ("yaml", "{a: " * 10_000 + "1" + "}" * 10_000),
        ("yaml", "".join("  " * i + "a:\n" for i in range(120)) + "  " * 120 + "b: 1\n"),
    ],
    ids=lambda value: value if value in parsing.FORMATS else None,
)
def test_deep_nesting_is_refused_within_the_budget(fmt, content):
    outcome = assert_within_budget(fmt, fit(content))
    assert isinstance(outcome, ValidationError)


def _realistic(fmt: str) -> str:
    """A vault of real-looking settings, just under the size limit."""
    out, i = [], 0
    while True:
        if fmt == "hocon":
            chunk = (
                f'sdk.section{i} {{ key: "AKIA{i}", secret: "s{i}", list: [1, 2, 3], '
                f"nested {{ a = 1, b = x }}, ref = ${{sdk.section0.key}} }}\n"
            )
        elif fmt == "json":
            chunk = json.dumps({f"s{i}": {"key": f"AKIA{i}", "list": [1, 2, 3], "n": {"a": 1}}})[1:-1] + ",\n"
        else:
            chunk = f"s{i}:\n  key: AKIA{i}\n  list: [1, 2, 3]\n  n: {{a: 1, b: x}}\n"
        if sum(map(len, out)) + len(chunk) > MAX_BYTES - 16:
            break
        out.append(chunk)
        i += 1
    text = "".join(out)
    return "{" + text.rstrip(",\n") + "}" if fmt == "json" else text


@pytest.mark.parametrize("fmt", parsing.FORMATS)
def test_a_maximal_real_looking_vault_parses_within_the_budget(fmt):
    content = _realistic(fmt)
    assert len(content) > MAX_BYTES - 200
    outcome = assert_within_budget(fmt, content)
    assert isinstance(outcome, parsing.ParsedVault), outcome


@pytest.mark.parametrize(
    ("fmt", "content"),
    [
        ("hocon", 'a = "' + "x" * (MAX_BYTES - 16) + '"'),
        ("hocon", "a = " + "x " * ((MAX_BYTES - 8) // 2)),
        ("hocon", 'a = """' + "x\n" * ((MAX_BYTES - 16) // 2) + '"""'),
        ("json", '{"a": "' + "é" * ((MAX_BYTES - 16) // 2) + '"}'),
        ("yaml", "a: " + "x" * (MAX_BYTES - 8)),
    ],
)
def test_long_strings_parse_within_the_budget(fmt, content):
    assert isinstance(assert_within_budget(fmt, content), parsing.ParsedVault)


def test_a_yaml_string_alias_bomb_is_refused():
    """Aliases repeat a long string: the text budget counts every use (not only the values)."""
    content = 'a: &a "' + "x" * 30_000 + '"\nb: [' + ", ".join(["*a"] * 5_000) + "]\n"
    outcome = assert_within_budget("yaml", content)
    assert isinstance(outcome, ValidationError) and outcome.code == "too_large"


# -- lone surrogates ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "content", "message"),
    [
        ("json", '{"a": "\\ud800"}', "lone surrogate escape (\\ud800)"),
        ("json", '{"\\udfff": 1}', "lone surrogate escape (\\udfff)"),
        ("json", '{"a": ["x\\ud83dy"]}', "lone surrogate escape (\\ud83d)"),
        # libyaml refuses the escape itself, where it is.
        ("yaml", 'a: "\\ud800"\n', "Line 1, column 7: found invalid Unicode character escape code"),
        ("yaml", '"\\udc00": 1\n', "Line 1, column 4: found invalid Unicode character escape code"),
    ],
)
def test_lone_surrogates_are_a_clear_error(fmt, content, message):
    with pytest.raises(ValidationError) as err:
        vault_parse(fmt=fmt, content=content)
    assert message in err.value.messages[0]


def test_a_json_surrogate_pair_is_the_character_it_encodes():
    parsed = vault_parse(fmt="json", content='{"a": "\\ud83d\\ude00"}')
    assert parsed.tree == {"a": "😀"}
    parsed.data.encode("utf-8")


# -- generated documents ------------------------------------------------------------------

KEYS = st.sampled_from(["a", "b", "c", "sdk", "agent", "env", "x.y", "a.b", '"q.k"', "s3"])
WORDS = st.sampled_from(["eu-west-1", "s3://bucket/x", "/home/u", "true", "null", "12", "1.5", "x y", "é"])


@st.composite
def hocon_values(draw, depth=0):
    simple = st.one_of(
        WORDS,
        st.integers(-(10**6), 10**6).map(str),
        st.text(
            st.characters(min_codepoint=0x20, max_codepoint=0x2FF, exclude_characters='"\\'), max_size=12
        ).map(json.dumps),
        KEYS.map(lambda key: "${" + key.strip('"') + "}"),
        KEYS.map(lambda key: "${?" + key.strip('"') + "}"),
    )
    if depth >= 3:
        return draw(simple)
    choice = draw(st.integers(0, 5))
    if choice == 0:
        items = draw(st.lists(hocon_values(depth + 1), max_size=4))
        return "[" + ", ".join(items) + "]"
    if choice == 1:
        fields = draw(st.lists(st.tuples(KEYS, hocon_values(depth + 1)), max_size=3))
        return "{" + ", ".join(f"{key} = {value}" for key, value in fields) + "}"
    if choice == 2:  # a concatenation, repeated substitutions included
        parts = draw(st.lists(simple, min_size=2, max_size=draw(st.sampled_from([3, 10, 30]))))
        return draw(st.sampled_from([" ", ""])).join(parts)
    return draw(simple)


@st.composite
def hocon_documents(draw):
    lines = []
    for key, op, value in draw(
        st.lists(st.tuples(KEYS, st.sampled_from(["=", ":", "+=", " "]), hocon_values()), max_size=12)
    ):
        if op == " ":
            lines.append(f"{key} {{ inner = {value} }}")
        else:
            lines.append(f"{key} {op} {value}")
    # Amplifiers: each line refers to the one before it several times over.
    width, levels = draw(st.integers(0, 12)), draw(st.integers(0, 12))
    for level in range(levels):
        before = "b" if level == 0 else f"amp{level - 1}"
        lines.append(f"amp{level} = " + " ".join([f"${{{before}}}"] * width))
    repeat = draw(st.sampled_from([1, 1, 1, 10, 200]))
    return ("\n".join(lines) + "\n") * repeat


@BUDGET_FUZZ
@given(content=hocon_documents())
@example(content=substitution_bomb("list", 10, 6))
@example(content=substitution_bomb("string", 10, 6))
@example(
    content="b = [1,2,3]\n"
    + "".join(f"amp{i} = " + " ".join([f"${{amp{i - 1}}}" if i else "${b}"] * 12) + "\n" for i in range(12))
)
@example(content="a = ${a} ${a}\n" * 3000)
@example(content="a = [${a}]\n" * 3000)
def test_any_generated_hocon_stays_within_the_budget(content):
    assert_within_budget("hocon", fit(content))


HOCON_NOISE = st.lists(
    st.sampled_from([*'abc =:+{}[],"$?#/\\\n\t.1', "${", '"""', "//", "${?", "include ", "é", "\ud800"]),
    max_size=200,
).map("".join)


@BUDGET_FUZZ
@given(content=HOCON_NOISE)
@example(content='a = """')
@example(content="a = ${")
@example(content="a.")
@example(content="..= 1")
@example(content="a = 1\na.b = 2")
@example(content="a = [1]\na { b = 1 }")
@example(content='a { "" = 1 }')
def test_any_text_is_parsed_or_refused_never_crashes(content):
    """Whatever the text, the outcome is a tree or a ValidationError (the form shows it), never a crash."""
    assert_within_budget("hocon", content)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=60,
)


@BUDGET_FUZZ
@given(
    tree=st.dictionaries(st.text(max_size=8), json_values, max_size=8), fmt=st.sampled_from(["json", "yaml"])
)
def test_any_generated_json_or_yaml_stays_within_the_budget(tree, fmt):
    import yaml

    content = json.dumps(tree) if fmt == "json" else yaml.safe_dump(tree, allow_unicode=True)
    assert_within_budget(fmt, fit(content))


@settings(BUDGET_FUZZ, max_examples=40)
@given(
    width=st.integers(1, 60),
    levels=st.integers(1, 12),
    scalar=st.sampled_from(["x", "'" + "y" * 200 + "'", "[x, y, z]", "{a: 1, b: 2}"]),
)
@example(width=10, levels=9, scalar="x")
def test_any_yaml_alias_bomb_stays_within_the_budget(width, levels, scalar):
    lines = [f"a0: &a0 {scalar}"]
    for level in range(1, levels + 1):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * width) + "]")
    assert_within_budget("yaml", fit("\n".join(lines)))


# -- the same reading as the clients --------------------------------------------------------


def _client_tree(content: str):
    """CONTENT as the clearml SDK's own pyhocon copy reads it, as plain values."""
    from clearml.utilities.pyhocon import ConfigFactory
    from clearml.utilities.pyhocon.config_tree import NoneValue

    def plain(value):
        if isinstance(value, dict):
            return {parsing._key_text(key): plain(child) for key, child in value.items()}
        if isinstance(value, list):
            return [plain(child) for child in value]
        return None if isinstance(value, NoneValue) else value

    return plain(ConfigFactory.parse_string(content))


CLIENT_CASES = [
    'sdk { aws { s3 { key: "AKIA", secret: "s", region: eu-west-1 } } }',
    "sdk.aws.s3.region = eu-west-1\nsdk.aws.s3.key: AKIA",
    'sdk.aws.s3.credentials: [\n  { bucket: "b1", key: "k1", secret: "s1" },\n  { bucket: b2, key: k2 }\n]',
    'agent.extra_docker_arguments: ["--ipc=host", "-e", "A=1"]\nagent { git_user: u, git_pass: p }',
    "base { a: 1, b: { c: 2 } }\nderived = ${base} { b { d: 3 } }",
    "x: 1\ny: ${x}\nx: 2",
    'path = "/opt"\nfull = ${path}"/bin"\nlist = [1, 2]\nlist = ${list} [3]\nlist += [4]',
    "s = a\ns += b\nn = 1.5e3\nf = false\nz = null\nm = 010",
    'multi = """line one\n  line "two" """\nq = "tab\\there"',
    "# comment\n// comment\na = 1 # trailing\nb = [\n  1 // one\n  2\n]\n",
    '{ "a.b": 1, a { c = 2, d = ${a.c} } }',
    'a = foo bar  baz\nb = "q"  x\nc = ${a} ${b}',
    'agent.package_manager.extra_index_url: ["https://pypi.example.com/simple"]\nenvironment { A: b, C: d }',
]


@pytest.mark.parametrize("content", CLIENT_CASES)
def test_the_vault_reader_reads_as_the_clients_do(content):
    assert vault_parse(fmt="hocon", content=content).tree == _client_tree(content)


@st.composite
def resolvable_documents(draw):
    """Documents whose substitutions all name keys of the document (what both readers resolve alike)."""
    lines, defined = [], []
    scalars = st.one_of(
        st.integers(-1000, 1000).map(str),
        st.sampled_from(["eu-west-1", "s3://b/x", "true", "false", "null", "1.5", "x y z"]),
        st.text(
            st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters='"\\$'),
            min_size=1,
            max_size=8,
        ).map(json.dumps),
    )
    for index in range(draw(st.integers(1, 8))):
        name = f"k{index}"  # each key once: pyhocon's self-references and overrides have quirks of their own
        kind = draw(st.integers(0, 5))
        if kind == 0 or not defined:
            value = draw(scalars)
        elif kind == 1:
            value = "[" + ", ".join(draw(st.lists(scalars, min_size=1, max_size=4))) + "]"
        elif kind == 2:
            value = (
                "{ "
                + ", ".join(
                    f"f{i} = {v}" for i, v in enumerate(draw(st.lists(scalars, min_size=1, max_size=3)))
                )
                + " }"
            )
        elif kind == 3:
            value = "${" + draw(st.sampled_from(defined)) + "}"
        elif kind == 4:
            value = '"pre-" ${' + draw(st.sampled_from(defined)) + "}"
        else:
            value = draw(scalars)
        path = name if draw(st.booleans()) else f"obj.{name}"
        lines.append(f"{path} = {value}")
        defined.append(path)
    return "\n".join(lines)


@BUDGET_FUZZ
@given(content=resolvable_documents())
@example(content='k0 = 1\nk1 = "pre-" ${k0}')
@example(content="obj.k0 = [1]\nk1 = ${obj.k0}")
@example(content="k0 = { f0 = 1 }\nk0 = ${k0}")
@example(content="obj.k0 = null\nobj.k1 = ${obj.k0}")
@example(content="obj.k0 = null\nobj.k1 = 0\nobj.k2 = ${obj.k0}\nobj.k3 = ${obj.k2}")  # found 2026-12-07
def test_generated_documents_read_as_the_clients_read_them(content):
    try:
        expected = _client_tree(content)
    except Exception:  # the client can't read it either: the vault reader must refuse it too
        with pytest.raises(ValidationError):
            vault_parse(fmt="hocon", content=content)
        return
    assert vault_parse(fmt="hocon", content=content).tree == expected


# -- the reader is ours -------------------------------------------------------------------


def test_vault_parsing_never_runs_pyhocon(monkeypatch):
    """pyhocon's grammar costs seconds on a 64 KiB text: the server reads vaults without it."""
    import pyhocon.config_parser

    def refuse(*args, **kwargs):
        raise AssertionError("pyhocon parsed a vault on the server")

    monkeypatch.setattr(pyhocon.config_parser.ConfigParser, "parse", classmethod(refuse))
    parsed = vault_parse(fmt="hocon", content="a { b = 1 }\nc = ${a.b}")
    assert parsed.tree == {"a": {"b": 1}, "c": 1}


def test_the_budget_is_enforced_on_the_unresolved_tree():
    """The reader refuses while resolving: a value past the budget is never built."""
    budget = hocon.Budget(max_nodes=50)
    with pytest.raises(hocon.BudgetError) as err:
        hocon.loads("a = [1,2,3,4,5,6,7,8,9,10]\nb = ${a} ${a} ${a} ${a} ${a} ${a}", budget)
    assert "the value of b " in err.value.message and err.value.line == 2
