import json
import os

import pytest
from django.core.exceptions import ValidationError
from pyhocon import ConfigFactory

from vaults import parsing
from vaults.parsing import FORBIDDEN_KEYS, VaultSyntaxError, vault_parse

FORBIDDEN_LEAVES = [key.split(".")[1] for key in FORBIDDEN_KEYS]


def _forms(leaf: str) -> list[tuple[str, str]]:
    """Every way of writing agent.<leaf> = something, per format."""
    return [
        ("hocon", f"agent {{ {leaf}: true }}"),
        ("hocon", f"agent {{\n  {leaf} = 1\n}}"),
        ("hocon", f"agent.{leaf}: true"),
        ("hocon", f'"agent.{leaf}": true'),
        ("hocon", f'agent {{ "{leaf}": x }}'),
        ("hocon", f"sdk {{ a: 1 }}\nagent {{ git_user: u }}\nagent.{leaf} = x"),
        ("hocon", f"base {{ {leaf}: true }}\nagent = ${{base}}"),  # through a substitution
        ("json", json.dumps({"agent": {leaf: True}})),
        ("json", json.dumps({f"agent.{leaf}": True})),
        ("json", json.dumps({"sdk": {}, "agent": {"git_user": "u", leaf: "x"}})),
        ("yaml", f"agent:\n  {leaf}: true\n"),
        ("yaml", f"agent.{leaf}: true\n"),
        ("yaml", f"sdk:\n  a: 1\nagent:\n  git_user: u\n  {leaf}: '3.10'\n"),
        ("yaml", f"{{agent: {{{leaf}: 1}}}}"),
    ]


@pytest.mark.parametrize(
    ("fmt", "content", "key"),
    [(fmt, content, f"agent.{leaf}") for leaf in FORBIDDEN_LEAVES for fmt, content in _forms(leaf)],
)
def test_forbidden_keys_are_refused_in_every_format_and_nesting(fmt, content, key):
    with pytest.raises(ValidationError) as err:
        vault_parse(fmt=fmt, content=content)
    assert key in err.value.messages[0]
    assert "can't be set in a vault" in err.value.messages[0]


@pytest.mark.parametrize(
    ("fmt", "content"),
    [
        ("hocon", "agent { git_user: u, cuda_version_note: x, worker: {id: 1} }"),
        ("json", '{"agent": {"debug_mode": true}, "sdk": {"agent": {"debug": true}}}'),
        ("yaml", "agent:\n  default_python_path: /usr/bin/python3\nenvironment:\n  agent.debug: x\n"),
    ],
)
def test_similar_keys_elsewhere_are_allowed(fmt, content):
    assert vault_parse(fmt=fmt, content=content).tree


@pytest.mark.parametrize(
    ("fmt", "content", "line", "column"),
    [
        ("hocon", "sdk {\n  aws {\n    key: [1, 2\n  }\n}", 4, 3),
        ("hocon", "a: 1\n}", 2, 1),
        ("json", '{\n  "a": 1,\n}', 3, 1),
        ("json", '{"a": tru}', 1, 7),
        ("yaml", "sdk:\n  a: [1\n  b: 2\n", 3, 4),
        ("yaml", "a: 1\n b: 2\n", 2, 3),
    ],
)
def test_syntax_errors_name_their_line_and_column(fmt, content, line, column):
    with pytest.raises(VaultSyntaxError) as err:
        vault_parse(fmt=fmt, content=content)
    assert (err.value.line, err.value.column) == (line, column)
    assert err.value.messages[0].startswith(f"Line {line}, column {column}: ")
    assert len(err.value.messages[0]) < 200  # pyparsing's grammar dump is not shown


@pytest.mark.parametrize(
    ("fmt", "content"),
    [("hocon", "[1, 2]"), ("json", "[1]"), ("json", '"text"'), ("yaml", "- a\n- b\n"), ("yaml", "just text")],
)
def test_the_top_level_must_be_an_object(fmt, content):
    with pytest.raises(ValidationError, match="top level must be an object"):
        vault_parse(fmt=fmt, content=content)


@pytest.mark.parametrize(
    ("fmt", "content"),
    [("hocon", ""), ("json", "  \n"), ("yaml", "# nothing yet\n"), ("hocon", "# only a comment")],
)
def test_empty_text_is_an_empty_vault_served_as_nothing(fmt, content):
    parsed = vault_parse(fmt=fmt, content=content)
    assert parsed.tree == {}
    assert parsed.data == ""


@pytest.mark.parametrize(
    "content",
    [
        'include "/etc/hostname"',
        'include file("/etc/hostname")',
        'include required(file("/etc/hostname"))',
        'a { include url("http://127.0.0.1:9/x.conf") }',
        'include "/etc/*"',
        'include package("json:__init__.py")',
    ],
)
def test_hocon_includes_are_refused_and_never_read(content, monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("the server read an include")

    monkeypatch.setattr("urllib.request.urlopen", boom)
    with pytest.raises(VaultSyntaxError, match="include is not supported"):
        vault_parse(fmt="hocon", content=content)


def test_hocon_substitutions_never_read_the_servers_environment(monkeypatch):
    monkeypatch.setenv("PORTAL_TEST_SECRET", "server-secret-value")
    parsed = vault_parse(
        fmt="hocon",
        content='a: ${PORTAL_TEST_SECRET}\nb: ${?PORTAL_TEST_SECRET}\nPATH: ${PATH}":/opt"\nc { d: 5 }\ne: ${c.d}',
    )
    assert "server-secret-value" not in json.dumps(parsed.tree)
    assert parsed.tree["a"] == "${PORTAL_TEST_SECRET}"
    assert parsed.tree["b"] == "${PORTAL_TEST_SECRET}"
    assert parsed.tree["PATH"] == "${PATH}:/opt"
    assert parsed.tree["e"] == 5  # references inside the vault resolve
    # The client resolves them itself: the served text is the original.
    assert "${PORTAL_TEST_SECRET}" in parsed.data


def test_the_guard_leaves_other_pyhocon_users_alone(monkeypatch, tmp_path):
    vault_parse(fmt="hocon", content="a: 1")
    monkeypatch.setenv("PORTAL_TEST_VALUE", "from-env")
    included = tmp_path / "inc.conf"
    included.write_text("x: 1")
    tree = ConfigFactory.parse_string(f'v: ${{PORTAL_TEST_VALUE}}\ninclude "{included}"')
    assert tree["v"] == "from-env"
    assert tree["x"] == 1
    assert os.environ["PORTAL_TEST_VALUE"] == "from-env"


def test_yaml_is_served_as_json_that_hocon_reads_back_intact():
    content = "sdk:\n  aws:\n    s3:\n      key: AKIA\n      secret: 's3cr3t: \"quoted\" é'\n      credentials:\n        - bucket: b1\n          key: k1\n  development:\n    default_output_uri: s3://x/y\nn: 3\nf: 1.5\nnothing: null\nflag: true\n"
    parsed = vault_parse(fmt="yaml", content=content)
    assert json.loads(parsed.data) == parsed.tree
    # Both the portal's pyhocon and the SDK's own copy read the served text as the same tree.
    from clearml.utilities.pyhocon import ConfigFactory as SdkConfigFactory

    for factory in (ConfigFactory, SdkConfigFactory):
        tree = factory.parse_string(parsed.data)
        assert tree.get("sdk.aws.s3.key") == "AKIA"
        assert tree.get("sdk.aws.s3.secret") == 's3cr3t: "quoted" é'
        assert tree.get("sdk.aws.s3.credentials")[0]["bucket"] == "b1"
        assert tree.get("sdk.development.default_output_uri") == "s3://x/y"
        assert tree.get("n") == 3 and tree.get("f") == 1.5 and tree.get("flag") is True
        assert tree.get("nothing", "missing") is None


def test_json_is_served_normalised_and_hocon_as_written():
    parsed = vault_parse(fmt="json", content='{"sdk": {"a": "caf\\u00e9", "a.b": 1}}')
    assert ConfigFactory.parse_string(parsed.data)["sdk"]["a"] == "café"
    hocon = "# my settings\nsdk.aws.s3.region = eu-west-1  // trailing\n"
    assert vault_parse(fmt="hocon", content=hocon).data == hocon


def test_yaml_values_json_lacks_become_text():
    parsed = vault_parse(fmt="yaml", content="when: 2024-01-02\n2: two\ntrue: yes\n")
    assert parsed.tree == {"when": "2024-01-02", "2": "two", "true": True}


def test_a_yaml_alias_bomb_is_refused():
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for name, prev in zip("bcdefg", "abcdef", strict=True):
        bomb += f"{name}: &{name} [{', '.join(['*' + prev] * 10)}]\n"
    with pytest.raises(ValidationError, match="too large once parsed"):
        vault_parse(fmt="yaml", content=bomb)


@pytest.mark.parametrize("fmt", ["json", "yaml", "hocon"])
def test_deep_nesting_is_an_error_not_a_crash(fmt):
    content = {
        "json": "[" * 5000 + "]" * 5000,
        "yaml": "[" * 5000 + "]" * 5000,
        "hocon": "a {" * 3000 + "}" * 3000,
    }[fmt]
    with pytest.raises(ValidationError):
        vault_parse(fmt=fmt, content=content)


def test_unknown_format():
    with pytest.raises(ValidationError, match="Unknown format"):
        vault_parse(fmt="toml", content="a = 1")


def test_summary_and_keys_diff_hold_paths_only():
    old = vault_parse(fmt="hocon", content="sdk.aws.s3 { key: a, secret: s1 }\nx: 1").tree
    new = vault_parse(fmt="hocon", content="sdk.aws.s3 { key: a, secret: s2, region: eu }").tree
    assert parsing.summary(new, limit=2) == (["sdk.aws.s3.key", "sdk.aws.s3.secret"], 1)
    diff = parsing.keys_diff(old, new)
    assert diff == {"added": ["sdk.aws.s3.region"], "removed": ["x"], "changed": ["sdk.aws.s3.secret"]}
    assert "s2" not in json.dumps(diff)


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("clearml.conf", "hocon"),
        ("a.HOCON", "hocon"),
        ("v.json", "json"),
        ("v.yml", "yaml"),
        ("v.yaml", "yaml"),
        ("v.txt", None),
    ],
)
def test_guess_format(name, fmt):
    assert parsing.guess_format(name) == fmt
