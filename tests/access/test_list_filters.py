"""access/list_filters.py reads a listing's filter on a one-valued field as the ClearML server does
(tests/upstream/standin_filters.py follows the server's GetMixin), and narrows it without ever
widening it: for every value, the narrowed filter keeps it exactly when the caller's filter did
and the caller may see it."""

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from access import list_filters as lf
from access.list_filters import Keep
from settings_portal.api import errors
from tests.upstream import standin_filters
from tests.upstream.standin_model import ApiError

VALUES = ["a", "b", "c", "d"]
UNIVERSE = [*VALUES, "e", None]  # None: an object without a value (a task without a project)
TERMS = st.sampled_from(
    [*VALUES, "-a", "-c", None, "__$not", "__$all", "__$and", "__$any", "__$or", "__$nop"]
)


def server_keeps(value, wanted) -> bool:
    return standin_filters.parse(wanted).matches(value)


def keep_keeps(kept: Keep, value) -> bool:
    kept = kept.normal()
    if value is None:
        return kept.admits_empty
    return (kept.only is None or value in kept.only) and value not in kept.without


def server_accepts(wanted) -> bool:
    try:
        standin_filters.parse(wanted)
    except ApiError:
        return False
    return True


@given(st.lists(TERMS, max_size=8))
@example(["__$or", "a", "__$not", "b"])  # appending exclusions to an OR list would widen it
@example(["__$all", "a", "b"])  # one value cannot be two: nothing
@example([None])  # a lone None: no condition at all
@example(["-a", "__$or", "b"])  # "-" excludes only before the first operator
@example(["__$all", "-a"])  # an id "-a", written back: not an old-style exclusion
def test_a_list_is_read_as_the_server_reads_it(wanted):
    if not server_accepts(wanted):
        with pytest.raises(errors.BadRequest):
            lf.parse_list("id", wanted)
        return
    kept = lf.parse_list("id", wanted)
    for value in UNIVERSE:
        assert keep_keeps(kept, value) == server_keeps(value, wanted), (wanted, value)
    written = kept.as_list()
    for value in UNIVERSE:  # and written back, the server reads the same
        assert (written is None or server_keeps(value, written)) == keep_keeps(kept, value)


ALLOWED = st.one_of(
    st.sets(st.sampled_from(VALUES)).map(Keep.ids),
    st.sets(st.sampled_from(VALUES)).map(Keep.all_but),
)


@given(st.lists(TERMS, max_size=8), ALLOWED)
@example(["__$or", "a", "__$not", "b"], Keep.all_but({"a"}))
@example(["__$not", "a"], Keep.ids({"a", "b"}))
def test_narrowing_keeps_what_both_keep(wanted, allowed):
    if not server_accepts(wanted):
        return
    body = {"id": wanted}
    lf.narrow(body, "id", allowed)
    for value in UNIVERSE:
        expected = server_keeps(value, wanted) and keep_keeps(allowed, value)
        got = server_keeps(value, body["id"]) if "id" in body else True
        assert got == expected, (wanted, allowed, body, value)


FILTER_PARTS = st.fixed_dictionaries(
    {},
    optional={
        "include": st.lists(st.sampled_from(VALUES), max_size=3),
        "exclude": st.lists(st.sampled_from(VALUES), max_size=3),
    },
)


@given(
    st.fixed_dictionaries(
        {}, optional={"any": FILTER_PARTS, "all": FILTER_PARTS, "op": st.sampled_from(["and", "or"])}
    ),
    ALLOWED,
)
@example({"any": {"include": ["a"]}, "all": {"exclude": ["b"]}, "op": "or"}, Keep.all_but({"c"}))
def test_the_filters_parameter_cannot_route_around_the_narrowing(entry, allowed):
    body = {"id": ["d"], "filters": {"id": entry}}  # the server ignores the top-level `id` then
    server = standin_filters.parse_filters_entry("id", entry)
    lf.narrow(body, "id", allowed)
    assert "id" not in body["filters"]
    for value in UNIVERSE:
        expected = server.matches(value) and keep_keeps(allowed, value)
        got = server_keeps(value, body["id"]) if "id" in body else True
        assert got == expected, (entry, allowed, body, value)


def test_include_subprojects_widens_the_callers_filter_before_narrowing():
    tree = {"p": {"p", "p/1", "p/2"}, "q": {"q"}}

    def expand(values):
        return set().union(*(tree.get(v, {v}) for v in values))

    body = {"project": ["__$or", "p", "q"]}
    lf.narrow(body, "project", Keep.all_but({"p/2"}), expand=expand)
    assert body["project"] == ["p", "p/1", "q"]
    body = {"project": ["__$not", "p"]}
    lf.narrow(body, "project", Keep.all_but({"x"}), expand=expand)
    assert body["project"] == ["__$not", "p", "__$not", "p/1", "__$not", "p/2", "__$not", "x"]


@pytest.mark.parametrize(
    "bad",
    [["__$not"], ["__$xor", "a"], [1], ["-"], ["__$not", "__$or", "a"], ["a"] * (lf.MAX_TERMS + 1)],
)
def test_what_the_server_refuses_is_refused_with_its_subcode(bad):
    with pytest.raises(lf.InvalidFilter) as refused:
        lf.parse_list("project", bad)
    assert (refused.value.code, refused.value.subcode) == (400, 16)
    assert "project" in str(refused.value)
