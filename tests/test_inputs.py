"""settings_portal/inputs.py and the NUL guard of the pages (settings_portal/middleware.py)."""

import contextlib
import json

import pytest
from django.urls import reverse
from hypothesis import example, given
from hypothesis import strategies as st

from access.models import UserGroup
from settings_portal.inputs import (
    MAX_JSON_DEPTH,
    JSONRejected,
    json_depth_exceeds,
    loads_json,
    parse_id,
    unsafe_text,
)

# --- parse_id -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value,expected",
    [("12", 12), (" 7 ", 7), (0, 0), (42, 42), ("²", None), ("١٢", None), ("Ⅻ", None), ("-1", None)],
)
def test_parse_id(value, expected):
    assert parse_id(value) == expected


def test_parse_id_refuses_what_no_key_can_be():
    assert parse_id("9" * 19) is None  # beyond a 64-bit key
    assert parse_id(2**63) is None
    assert parse_id(True) is None
    assert parse_id(None) is None
    assert parse_id("1.0") is None


@given(st.one_of(st.text(), st.integers(), st.none(), st.booleans(), st.floats()))
@example("²")
@example("9" * 5000)
def test_parse_id_never_raises_and_returns_only_ascii_ids(value):
    result = parse_id(value)
    assert result is None or (isinstance(result, int) and 0 <= result < 2**63)
    if isinstance(value, str) and result is not None:
        assert value.strip().isascii() and value.strip().isdigit()


# --- unsafe_text ----------------------------------------------------------------------------------


def test_unsafe_text_finds_nul_and_surrogates_anywhere():
    assert unsafe_text({"a": ["ok", {"b": "x\x00"}]}) == "x\x00"
    assert unsafe_text({"\ud800": 1}) == "\ud800"
    assert unsafe_text(["fine", 1, None, 2.5, {"k": "v"}]) is None
    deep = current = []
    for _ in range(100_000):  # iterative: no RecursionError on a deep value
        current.append([])
        current = current[0]
    current.append("\x00")
    assert unsafe_text(deep) == "\x00"


# --- loads_json -----------------------------------------------------------------------------------

json_documents = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=30,
)


def depth(value) -> int:
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


@given(json_documents)
def test_the_depth_scan_agrees_with_the_parser(document):
    text = json.dumps(document)
    assert loads_json(text.encode()) == json.loads(text)
    for limit in (1, 2, 3, 5):
        assert json_depth_exceeds(text, limit) == (depth(document) > limit)


@given(st.binary(max_size=300))
@example(b"[" * 100_000)
@example(b'{"a": 1e400}')
@example(b"NaN")
@example(b"\xff\xfe{\x00}\x00")  # UTF-16 with a BOM, as json.loads(bytes) accepts
@example(b"1" * 5000)  # int() refuses more than 4,300 digits
def test_loads_json_raises_only_json_rejected(raw):
    with contextlib.suppress(JSONRejected):
        loads_json(raw)


@pytest.mark.parametrize(
    "text", ["1e400", "-1e999", "NaN", "Infinity", "[-Infinity]", "[" * (MAX_JSON_DEPTH + 1)]
)
def test_loads_json_refuses(text):
    with pytest.raises(JSONRejected):
        loads_json(text)


def test_loads_json_accepts_the_budget():
    assert loads_json("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH)
    assert loads_json(b"\xef\xbb\xbf{}") == {}  # a UTF-8 BOM, as json.loads(bytes)
    assert loads_json('{"a": 1.5e300}') == {"a": 1.5e300}


# --- The pages' NUL guard -------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("multipart", [False, True], ids=["urlencoded", "multipart"])
def test_a_form_holding_a_nul_is_400_and_changes_nothing(client, workspace, owner, multipart):
    """Found by tests/test_form_fuzz.py: the group dialog's member search box went to the database."""
    client.force_login(owner)
    url = reverse("access:group-create", args=[workspace.slug])
    groups = UserGroup.objects.count()
    data = {"name": "Team", "search": "a\x00b", "add": " "}
    if multipart:
        response = client.post(url, data)
    else:
        from urllib.parse import urlencode

        response = client.post(url, urlencode(data), content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert b"NUL" in response.content
    assert UserGroup.objects.count() == groups


@pytest.mark.django_db
def test_a_query_holding_a_nul_is_400(client, workspace, owner):
    client.force_login(owner)
    response = client.get(reverse("access:user-list", args=[workspace.slug]), {"q": "a\x00b"})
    assert response.status_code == 400


@pytest.mark.django_db
def test_the_api_answers_nul_in_its_envelope(client):
    response = client.get("/api/debug.ping", {"a": "a\x00b"})
    assert response.status_code == 400
    assert response.json()["meta"]["result_code"] == 400
