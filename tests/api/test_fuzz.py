"""Whatever arrives, the API answers a clean envelope: never a 500, never HTML.

Deterministic in CI (the "ci" Hypothesis profile in tests/conftest.py); every case a run
found is pinned with @example so it is tried first, on every run.
"""

import inspect
import json
import re
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from access.models import GroupMembership, UserGroup
from access.selectors import builtin_groups
from resources.models import Queue
from resources.services.jobs import job_enqueue
from resources.services.policies import QueueSpec, policy_create
from resources.services.scheduling import resource_management_set
from settings_portal.api import registry
from tests.fuzzing import SURROGATES, TRICKY, changed_tables, row_counts, text_values
from tests.resources.helpers import provision_config
from workspaces.credentials import credential_create

from .conftest import basic
from .test_envelope import META_KEYS

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# The walk over every endpoint: fewer examples each, there are many endpoints.
WALK = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=200)
DEEP = "[" * 100_000 + "]" * 100_000


def assert_clean(response, allowed=(200, 400, 401, 403, 404, 405, 413)):
    assert response.status_code in allowed, response.content[:300]
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"meta", "data"}
    assert set(body["meta"]) == META_KEYS
    assert body["meta"]["result_code"] == response.status_code
    assert isinstance(body["data"], dict)
    if response.status_code >= 400:
        assert body["meta"]["result_msg"]
    return body


@FUZZ
@given(token=HEADER_TEXT)
def test_any_bearer_token(client, db, token):
    assert_clean(
        client.get("/api/users.get_current_user", headers={"Authorization": f"Bearer {token}"}), (401,)
    )


@FUZZ
@given(value=HEADER_TEXT)
def test_any_authorization_header_on_login(client, db, value):
    assert_clean(client.get("/api/auth.login", headers={"Authorization": value}), (400, 401))


@FUZZ
@given(
    path=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="?#%"), max_size=60)
)
def test_any_path(client, db, path):
    assert_clean(client.post(f"/api/{path}"))


@FUZZ
@given(body=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)))
@example(body=DEEP.encode())  # RecursionError in json.loads: was a 500
@example(body=b'{"a": 1e400}')
@example(body=b'{"a": "\\ud800"}')
@example(body=b'{"a\\u0000": 1}')
@example(body=b"\xef\xbb\xbf{}")  # UTF-8 with a BOM is still JSON
def test_any_body(client, db, body):
    assert_clean(client.generic("POST", "/api/debug.ping", body, content_type="application/json"), (200, 400))


@FUZZ
@given(query=st.dictionaries(st.sampled_from(["a", "b", "expiration_sec"]), text_values, max_size=3))
@example(query={"a": "²"})  # "²".isdigit() and int("²") raised: was a 500
@example(query={"a": "9" * 5000})  # int() refuses more than 4,300 digits
@example(query={"a": "1" * 400 + ".5"})  # float() of it is inf
def test_any_query(client, db, query):
    assert_clean(client.get("/api/debug.ping?" + urlencode(query)), (200, 400))


@FUZZ
@given(
    data=st.dictionaries(
        st.sampled_from(["label", "access_key", "expiration_sec", "method", "x"]),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=20), st.lists, max_leaves=4
        ),
        max_size=4,
    ),
    name=st.sampled_from(
        [
            "auth.create_credentials",
            "auth.edit_credentials",
            "auth.revoke_credentials",
            "auth.get_credentials",
        ]
    ),
)
@example(data={"label": "\x00"}, name="auth.create_credentials")  # PostgreSQL refused it: was a 500
@example(data={"label": "a\x00b", "access_key": "x"}, name="auth.edit_credentials")
@example(data={"access_key": "\x00"}, name="auth.revoke_credentials")
@example(data={"label": "\ud800"}, name="auth.create_credentials")
def test_any_data_to_credential_endpoints(client, member_token, data, name):
    response = client.post(
        f"/api/{name}",
        json.dumps(data),
        content_type="application/json",
        headers={"Authorization": f"Bearer {member_token}"},
    )
    assert_clean(response, (200, 400, 401))


@FUZZ
@given(
    target=st.one_of(
        st.sampled_from(["", "²", "0" * 32, "a\x00b", "x" * 300]), HEADER_TEXT, st.uuids().map(str)
    ),
    tenant=st.none() | st.sampled_from(["", "²", "0" * 32]) | HEADER_TEXT,
)
@example(target="²", tenant="²")
def test_any_impersonation_headers(client, member_key, target, tenant):
    """auth.login with X-ClearML-Impersonate-As / X-ClearML-Tenant: a token or a clean refusal."""
    credential, secret = member_key
    headers = {"Authorization": basic(credential.access_key, secret), "X-ClearML-Impersonate-As": target}
    if tenant is not None:
        headers["X-ClearML-Tenant"] = tenant
    response = client.post("/api/auth.login", "", content_type="application/json", headers=headers)
    assert_clean(response, (200, 400, 401, 403))


# --- Every registered endpoint -------------------------------------------------------------------

ENDPOINTS = registry.names()  # every app registered its endpoints from its AppConfig.ready()
# How the endpoints read their fields: call.data.get("x"), _text(call, "x"), call.str_field("x").
_FIELD = re.compile(r"""(?:data\.get\(|_text\(call,\s*|str_field\(|data\[)\s*["']([a-z_]+)["']""")


def field_names(name: str) -> list[str]:
    """The fields an endpoint reads (found in the source of the modules implementing it), plus
    a few that every endpoint ignores."""
    found = {"x", "id"}
    for ep in registry._endpoints[name]:
        found |= set(_FIELD.findall(inspect.getsource(inspect.getmodule(ep.func))))
    return sorted(found)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    text_values,
    st.sampled_from(SURROGATES),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
query_values = st.one_of(st.sampled_from([t for t in TRICKY if len(t) < 1000]), st.text(max_size=10))
header_values = st.sampled_from(["", "worker-1", "²", "a\x00b", "x" * 300])


@pytest.fixture
def seeded(workspace, owner, member):
    """Objects the generated ids and names can hit: a pool, a profile, a policy queue, a job."""
    pools, profiles, _ = provision_config(
        workspace, owner, pools={"gpu": 4}, profiles={"4x": 4}, links=[("4x-gpu", "4x", "gpu")]
    )
    builtin_groups(workspace=workspace)  # made on first use otherwise, which is no client's change
    group = UserGroup.objects.create(workspace=workspace, name="Dev")
    GroupMembership.objects.create(group=group, user=owner)  # so the owner's tasks.enqueue goes through
    policy_create(
        workspace=workspace,
        actor=owner,
        name="Dev Team",
        group=group,
        reservation=0,
        limit=8,
        queues=[QueueSpec(profile=profiles["4x"], name="dev-4x")],
    )
    resource_management_set(workspace=workspace, actor=owner, enabled=True)
    queue = Queue.objects.for_workspace(workspace).get()
    job_enqueue(workspace=workspace, actor=owner, queue=queue, task_id="task-1", check_group=False)
    other, _ = credential_create(workspace=workspace, actor=member, label="member's")
    # Real values by field name, so that generated calls also get past the lookups.
    return {
        "queue": ["dev-4x", str(queue.pk), queue.pk, "gpu", str(pools["gpu"].pk), pools["gpu"].pk],
        "queue_name": ["dev-4x"],
        "pool": ["gpu", pools["gpu"].pk],
        "task": ["task-1", "task-2"],
        "name": ["job"],
        "access_key": [other.access_key],
        "label": ["laptop"],
        "expiration_sec": [60, 3600, "3600"],
        "get_task_info": [True, "true"],
        "types": ["config", ["config", "hocon"]],
        "enabled": [True, False, "false"],
    }


@pytest.fixture
def owner_token(api, workspace, seeded, owner):
    credential, secret = credential_create(workspace=workspace, actor=owner, label="fuzz")
    return api.login(credential.access_key, secret)


@pytest.mark.parametrize("name", ENDPOINTS)
def test_every_endpoint_answers_any_input_with_an_envelope(client, seeded, owner_token, name):
    """Each endpoint, called with a real token and generated JSON bodies and query strings
    (fields named as the endpoint's code names them; values real names and ids, or tricky):
    never a 5xx, always the envelope, and a 4xx changes no row."""
    fields = field_names(name)
    body_fields = st.fixed_dictionaries(
        {},
        optional={
            field: st.one_of(st.sampled_from(seeded[field]), json_values) if field in seeded else json_values
            for field in fields
        },
    )

    @WALK
    @given(
        body=st.one_of(body_fields, body_fields, body_fields, json_values),
        query=st.dictionaries(st.sampled_from(fields), query_values, max_size=2),
        method=st.sampled_from(["POST", "GET"]),
        worker=st.one_of(st.none(), st.none(), st.none(), header_values),
    )
    @example(body={"expiration_sec": float("inf")}, query={}, method="POST", worker=None)
    @example(body={}, query={"task": "²", "queue": "²"}, method="GET", worker=None)
    @example(body={"task": "²", "queue": "²", "queue_name": "²"}, query={}, method="POST", worker=None)
    @example(body={"label": "\x00", "access_key": "\x00"}, query={}, method="POST", worker="a\x00b")
    @example(body={"x": "\ud800"}, query={}, method="POST", worker=None)
    def run(body, query, method, worker):
        headers = {"Authorization": f"Bearer {owner_token}"}
        if worker is not None:
            headers["X-ClearML-Worker"] = worker
        path = f"/api/{name}" + (f"?{urlencode(query)}" if query else "")
        before = row_counts()
        response = client.generic(
            method, path, json.dumps(body), content_type="application/json", headers=headers
        )
        assert response.status_code < 500, (name, body, query, response.content[:300])
        assert_clean(response, allowed=range(200, 500))
        if 400 <= response.status_code < 500:
            assert not changed_tables(before, row_counts()), (name, body, query)

    run()
