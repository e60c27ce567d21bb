"""The stand-in's plumbing and identity rules: token check with the shared secret, company scoping,
impersonation, versions, listings, json-lines events, keep-alive/gzip/chunked HTTP, the request log,
and the fault switches the gateway tests use."""

import base64
import gzip
import http.client
import json
import time

import pytest
import requests

from .client import ApiClient
from .standin_model import Identity

# --- tokens and credentials ---------------------------------------------------------------------


def test_a_token_minted_with_the_shared_secret_is_enough_for_data_calls(clearml_upstream):
    """No database lookup per call: a user the server never saw can create and list tasks."""
    stranger = Identity("f" * 32, clearml_upstream.company_id, "user", "Portal Person", "clearml")
    api = ApiClient(clearml_upstream.url, token=clearml_upstream.mint_token(stranger, expires_in=300))
    task = api.ok("tasks.create", name="from the portal", type="training")["id"]
    assert clearml_upstream.task(task)["user"] == "f" * 32
    assert [t["id"] for t in api.ok("tasks.get_all")["tasks"]] == [task]
    # ... but what needs the user to exist upstream does not work for it.
    assert api.call("workers.register", {"worker": "w"}).subcode == 301
    assert api.call("users.get_current_user").subcode == 300


def test_token_errors_are_the_recorded_401_envelopes(clearml_upstream):
    alice = clearml_upstream.create_user("Alice Example")
    identity = clearml_upstream.identity_of(alice)
    cases = {
        clearml_upstream.mint_token(
            identity, expires_in=-10
        ): "Invalid token (invalid jwt token): reason=Signature has expired",
        clearml_upstream.mint_token(identity, expires_in=60, secret="another-secret-0123456789abcdefgh"): (
            "Invalid token (invalid jwt token): reason=Signature verification failed"
        ),
        "not-a-jwt": "Invalid token (invalid jwt token): reason=Not enough segments",
    }
    for token, message in cases.items():
        reply = ApiClient(clearml_upstream.url, token=token).call("tasks.get_all")
        assert (reply.status, reply.subcode, reply.msg) == (401, 30, message)
    no_identity = clearml_upstream.mint_token({}, expires_in=60)
    assert ApiClient(clearml_upstream.url, token=no_identity).call("tasks.get_all").subcode == 30
    anonymous = ApiClient(clearml_upstream.url).call("tasks.get_all")
    assert (anonymous.status, anonymous.subcode, anonymous.msg) == (
        401,
        20,
        "Unauthorized (missing credentials)",
    )
    odd = ApiClient(clearml_upstream.url, headers={"Authorization": "Digest abc"}).call("tasks.get_all")
    assert (odd.status, odd.subcode) == (401, 10)
    malformed = ApiClient(clearml_upstream.url, headers={"Authorization": "Basic abc"}).call("auth.login")
    assert (malformed.status, malformed.subcode) == (401, 21)


def test_login_with_key_pairs_and_the_system_credential(clearml_upstream):
    alice = clearml_upstream.create_user("Alice Example")
    key, secret = clearml_upstream.create_credentials(alice, label="laptop")
    response = requests.post(f"{clearml_upstream.url}/auth.login", auth=(key, secret), timeout=10)
    token = response.json()["data"]["token"]
    assert response.cookies["clearml_token_basic"] == token
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["identity"] == clearml_upstream.identity_of(alice).as_claim()
    assert claims["exp"] - claims["iat"] == 30 * 24 * 3600
    assert (claims["api_version"], claims["server_version"], claims["feature_set"]) == (
        "2.31",
        "2.0.0",
        "basic",
    )
    assert clearml_upstream.state.credentials[key]["last_used"]
    wrong = requests.post(f"{clearml_upstream.url}/auth.login", auth=(key, "nope"), timeout=10).json()["meta"]
    assert (wrong["result_code"], wrong["result_subcode"]) == (401, 22)

    system = ApiClient(
        clearml_upstream.url, basic=(clearml_upstream.system_access_key, clearml_upstream.system_secret_key)
    )
    system_token = system.ok("auth.login")["token"]
    system_claims = json.loads(base64.urlsafe_b64decode(system_token.split(".")[1] + "=="))
    assert system_claims["identity"]["role"] == "system" and "exp" not in system_claims
    # the login cookie alone authenticates, as it does for the web app
    cookie_only = requests.post(
        f"{clearml_upstream.url}/tasks.get_all", json={}, cookies={"clearml_token_basic": token}, timeout=10
    )
    assert cookie_only.status_code == 200


def test_provisioning_through_the_system_credential(clearml_upstream):
    """What the gateway's provisioning does: create_user (system only), get_token_for_user."""
    system = ApiClient(clearml_upstream.url, token=clearml_upstream.system_token())
    user = system.ok(
        "auth.create_user", name="Bob Example", company=clearml_upstream.company_id, email="bob@example.com"
    )["id"]
    token = system.ok("auth.get_token_for_user", user=user, company=clearml_upstream.company_id)["token"]
    bob = ApiClient(clearml_upstream.url, token=token)
    me = bob.ok("users.get_current_user")["user"]
    assert (me["id"], me["name"], me["role"]) == (user, "Bob Example", "user")
    assert bob.ok("users.update", user=user, name="Robert Example")["fields"] == {"name": "Robert Example"}
    assert clearml_upstream.state.users[user]["name"] == "Robert Example"
    # a user may not provision
    refused = bob.call("auth.get_token_for_user", {"user": user})
    assert (refused.status, refused.subcode) == (403, 20)
    unknown_company = system.call(
        "auth.create_user", {"name": "X", "company": "0" * 32, "email": "x@example.com"}
    )
    assert (unknown_company.status, unknown_company.subcode) == (400, 10)
    missing = system.call("auth.create_user", {"name": "X"})
    assert missing.msg == "Validation error (error for field 'company'. field is required!)"
    assert system.call("users.get_current_user").msg == "Invalid user (failed loading user)"


# --- company scoping ---------------------------------------------------------------------------------


def test_nothing_crosses_companies(clearml_upstream):
    standin = clearml_upstream
    other_company = standin.add_company("other")
    alice = standin.create_user("Alice Example")
    mallory = standin.create_user("Mallory", company=other_company)
    a, m = (
        ApiClient(standin.url, token=standin.token_for(alice)),
        ApiClient(standin.url, token=standin.token_for(mallory)),
    )
    project = a.ok("projects.create", name="Secret project")["id"]
    task = a.ok("tasks.create", name="secret", type="training", project=project)["id"]
    queue = standin.create_queue("a-queue")
    a.ok("tasks.enqueue", task=task, queue=queue)

    assert m.ok("tasks.get_all") == {"tasks": []}
    assert m.ok("projects.get_all") == {"projects": []}
    assert [q["name"] for q in m.ok("queues.get_all")["queues"]] == []  # not even the default queue
    assert m.call("tasks.get_by_id", {"task": task}).msg == f"Invalid task id: ids=({task})"
    for endpoint, body in [
        ("tasks.edit", {"task": task, "name": "pwned", "force": True}),
        ("tasks.stop", {"task": task}),
        ("tasks.clone", {"task": task}),
        ("tasks.delete", {"task": task, "force": True}),
        ("queues.get_next_task", {"queue": queue}),
        ("queues.remove_task", {"queue": queue, "task": task}),
        ("projects.get_by_id", {"project": project}),
        ("events.add_batch", None),
        ("workers.status_report", {"worker": "m:0", "task": task}),
    ]:
        if endpoint == "events.add_batch":
            reply = m.call(endpoint, raw=json.dumps({"type": "log", "task": task, "msg": "x"}).encode())
        else:
            reply = m.call(endpoint, body)
        assert reply.status == 400, (endpoint, reply.meta)
    # dequeue of an unknown (here: foreign) task only clears the caller's own queues, as upstream
    assert m.ok("tasks.dequeue", task=task) == {"dequeued": 1, "updated": 0}
    assert standin.task(task)["name"] == "secret" and standin.queue_entries(queue) == [task]
    assert standin.events_of(task) == []
    impersonation = ApiClient(
        standin.url, token=standin.system_token(), headers={"X-ClearML-Impersonate-As": mallory}
    )
    assert impersonation.call("users.get_current_user").subcode == 6  # another company's user


def test_impersonation_headers(clearml_upstream):
    standin = clearml_upstream
    alice = standin.create_user("Alice Example")
    admin = standin.create_user("Agent Service", role="admin")
    bob = standin.create_user("Bob Example")
    as_admin = ApiClient(
        standin.url, token=standin.token_for(admin), headers={"X-ClearML-Impersonate-As": alice}
    )
    token = as_admin.ok("auth.login")["token"]
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["identity"]["user"] == alice and claims["identity"]["user_name"] == "Alice Example"
    task = as_admin.ok("tasks.create", name="as alice", type="training")["id"]
    assert standin.task(task)["user"] == alice
    record = standin.requests_for("tasks.create")[-1]
    assert record.identity.user == admin and record.effective_identity.user == alice

    act_as = ApiClient(standin.url, token=standin.system_token(), headers={"X-ClearML-Act-As": alice})
    assert act_as.ok("users.get_current_user")["user"]["role"] == "system"
    refused = ApiClient(
        standin.url, token=standin.token_for(bob), headers={"X-ClearML-Impersonate-As": alice}
    )
    assert refused.call("auth.login").msg == "Impersonation error (impersonation not allowed): role=user"
    both = ApiClient(
        standin.url,
        token=standin.system_token(),
        headers={"X-ClearML-Act-As": alice, "X-ClearML-Impersonate-As": alice},
    )
    assert both.call("tasks.get_all").subcode == 5


# --- versions and listings ------------------------------------------------------------------------------


def test_versions_in_paths_and_meta(clearml_upstream, upstream_as):
    api = upstream_as()
    assert api.call("tasks.get_all").meta["endpoint"] == {
        "name": "tasks.get_all",
        "requested_version": "2.31",
        "actual_version": "1.0",
    }
    assert api.call("tasks.get_all", version="9.99").meta["endpoint"]["requested_version"] == "9.99"
    assert api.call("queues.get_all", version="2.5").meta["endpoint"]["actual_version"] == "2.4"
    too_old = api.call("queues.get_all", version="2.1")
    assert (too_old.status, too_old.msg) == (
        404,
        "Unable to find endpoint for name queues.get_all and version 2.1",
    )
    assert too_old.meta["endpoint"]["actual_version"] is None
    unknown = ApiClient(clearml_upstream.url).call(
        "tasks.no_such_endpoint"
    )  # 404 before any credential check
    assert (unknown.status, unknown.subcode) == (404, 0)
    assert ApiClient(clearml_upstream.url).call("debug.ping").data == {"msg": "ClearML server"}


def test_listings_filter_order_page_and_project(clearml_upstream, upstream_as):
    alice = clearml_upstream.create_user("Alice Example")
    api = upstream_as(alice)
    ids = [api.ok("tasks.create", name=f"job-{i}", type="training")["id"] for i in range(5)]
    hidden = api.ok("tasks.create", name="job-hidden", type="training", system_tags=["hidden"])["id"]
    api.ok("tasks.started", task=ids[0])

    listed = api.ok("tasks.get_all", only_fields=["id", "name"], order_by=["-name"], page=0, page_size=2)[
        "tasks"
    ]
    assert listed == [{"id": ids[4], "name": "job-4"}, {"id": ids[3], "name": "job-3"}]
    page2 = api.ok("tasks.get_all", only_fields=["name"], order_by=["name"], page=1, page_size=2)["tasks"]
    assert page2 == [{"name": "job-2"}, {"name": "job-3"}]
    assert [t["id"] for t in api.ok("tasks.get_all", status=["in_progress"])["tasks"]] == [ids[0]]
    assert [t["id"] for t in api.ok("tasks.get_all", id=[ids[1], ids[2]])["tasks"]] == ids[1:3]
    assert [t["id"] for t in api.ok("tasks.get_all", name="^job-1$")["tasks"]] == [ids[1]]
    assert hidden not in [t["id"] for t in api.ok("tasks.get_all")["tasks"]]
    assert hidden in [t["id"] for t in api.ok("tasks.get_all", search_hidden=True)["tasks"]]
    assert hidden not in [
        t["id"] for t in api.ok("tasks.get_all", search_hidden=True, system_tags=["-hidden"])["tasks"]
    ]
    nested = api.ok("tasks.get_all", id=[ids[0]], only_fields=["execution.queue", "script.binary"])["tasks"]
    assert nested == [{"execution": {}, "script": {"binary": "python"}}]
    joined = api.ok("tasks.get_all_ex", id=[ids[0]], only_fields=["user", "project"])["tasks"]
    assert joined == [{"user": {"id": alice}}]
    too_short = api.call("tasks.create", {"name": "t1", "type": "training"})
    assert (too_short.status, too_short.subcode, too_short.msg) == (
        400,
        800,
        "Data validation error: name=String value is too short",
    )
    project = api.ok("projects.create", name="Team/Sub/Leaf")["id"]
    leaf = api.ok("projects.get_by_id", project=project)["project"]
    assert leaf["basename"] == "Leaf" and len(leaf["path"]) == 2
    names = [
        p["name"] for p in api.ok("projects.get_all", only_fields=["name"], order_by=["name"])["projects"]
    ]
    assert names == ["Team", "Team/Sub", "Team/Sub/Leaf"]


# --- events -------------------------------------------------------------------------------------------------


def test_events_json_lines_get_or_post_gzip(clearml_upstream, upstream_as):
    alice = clearml_upstream.create_user("Alice Example")
    api = upstream_as(alice)
    task = api.ok("tasks.create", name="reporter", type="training")["id"]
    api.ok("tasks.started", task=task)
    lines = [
        {
            "type": "training_stats_scalar",
            "task": task,
            "iter": i,
            "metric": "loss",
            "variant": "train",
            "value": v,
        }
        for i, v in enumerate([1.0, 0.5, 0.25])
    ] + [{"type": "log", "task": task, "msg": "hello", "level": "info"}]
    body = "\n".join(json.dumps(line) for line in lines).encode()

    get = api.call(
        "events.add_batch", method="GET", raw=body, headers={"Content-Type": "application/json-lines"}
    )
    assert get.data == {"added": 4, "errors": 0, "errors_info": {}}
    post = api.call(
        "events.add_batch",
        raw=gzip.compress(json.dumps({**lines[0], "iter": 3, "value": 0.125}).encode()),
        headers={"Content-type": "application/json-lines", "Content-Encoding": "gzip"},
    )
    assert post.data["added"] == 1
    assert clearml_upstream.requests_for("events.add_batch")[-1].body.startswith(b"{")  # gzip undone

    stored = clearml_upstream.task(task)
    (loss,) = [v for m in stored["last_metrics"].values() for v in m.values()]
    assert (loss["value"], loss["count"], loss["mean_value"]) == (0.125, 4, 0.47)
    assert stored["last_iteration"] == 3 and "active_duration" in stored
    assert len(clearml_upstream.events_of(task, "training_stats_scalar")) == 4
    assert clearml_upstream.events_of(task, "log")[0]["msg"] == "hello"

    mixed = api.call(
        "events.add_batch", raw=b'{"type": "log", "task": "nope"}\n{"type": "bogus", "task": "x"}'
    )
    assert (mixed.status, mixed.subcode) == (400, 131)
    assert "Invalid task id nope=1" in mixed.msg and "Invalid event type bogus=1" in mixed.msg
    partly = api.call(
        "events.add_batch", raw=(json.dumps(lines[3]) + '\n{"type": "log", "task": "nope"}').encode()
    )
    assert partly.data == {"added": 1, "errors": 1, "errors_info": {"Invalid task id nope": 1}}


# --- HTTP ---------------------------------------------------------------------------------------------------


def test_keep_alive_chunked_bodies_and_gzip_responses(clearml_upstream):
    token = clearml_upstream.system_token()
    connection = http.client.HTTPConnection("127.0.0.1", clearml_upstream.port, timeout=10)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    for _ in range(3):
        connection.request("POST", "/queues.get_all", body=b"{}", headers=headers)
        response = connection.getresponse()
        assert response.status == 200 and response.getheader("Connection") == "keep-alive"
        response.read()
    first_socket = connection.sock
    connection.request(
        "POST",
        "/queues.get_all",
        body=iter([b'{"only_fields"', b': ["name"]}']),
        headers=headers,
        encode_chunked=True,
    )
    response = connection.getresponse()
    assert json.loads(response.read())["data"] == {"queues": [{"name": "default"}]}
    assert connection.sock is first_socket  # one connection for all four
    connection.request("POST", "/queues.get_all", body=b"{}", headers={**headers, "Accept-Encoding": "gzip"})
    response = connection.getresponse()
    assert response.getheader("Content-Encoding") == "gzip"
    assert json.loads(gzip.decompress(response.read()))["meta"]["result_code"] == 200
    connection.close()

    clearml_upstream.connection_close = True  # the real apiserver answers `Connection: close`
    reply = requests.post(f"{clearml_upstream.url}/debug.ping", json={}, timeout=10)
    assert reply.headers["Connection"] == "close"


def test_bad_bodies_get_400_and_never_500(clearml_upstream, upstream_as):
    alice = clearml_upstream.create_user("Alice Example")
    api = upstream_as(alice)
    task = api.ok("tasks.create", name="target", type="training")["id"]
    malformed = api.call("tasks.get_all", raw=b'{"id": ["abc", ')
    assert (malformed.status, malformed.subcode) == (400, 0)
    assert malformed.msg == "The browser (or proxy) sent a request that this server could not understand."
    bodies = [
        ("tasks.get_all", {"only_fields": 3}),
        ("tasks.get_all", {"order_by": 5, "page": "x"}),
        ("tasks.get_all", {"id": 5, "name": 7}),
        ("tasks.create", {"name": 5, "type": "training"}),
        ("tasks.create", {"name": "abc", "type": "nonsense"}),
        ("tasks.edit", {"task": task, "script": "not a dict"}),
        ("tasks.edit_hyper_params", {"task": task, "hyperparams": ["x"]}),
        ("tasks.enqueue", {"task": task, "queue": 5}),
        ("queues.create", {"name": ["x"]}),
        ("events.add_batch", [1, "x", None]),
        ("workers.register", {"worker": "w", "timeout": -1}),
        ("tasks.get_all", [1, 2]),
        ("projects.create", {"name": {"a": 1}}),
    ]
    for endpoint, body in bodies:
        reply = api.call(endpoint, raw=json.dumps(body).encode())
        assert reply.status < 500, (endpoint, body, reply.status, reply.meta)
        if endpoint != "tasks.get_all" or isinstance(body, list) or "only_fields" in body:
            assert reply.status == 400, (endpoint, body, reply.status, reply.meta)


# --- the request log and the fault switches -------------------------------------------------------------


def test_request_log_shows_what_reached_the_upstream(clearml_upstream):
    token = clearml_upstream.system_token()
    requests.post(
        f"{clearml_upstream.url}/v2.23/tasks.get_all?x=1",
        json={"only_fields": ["id"]},
        headers={
            "Authorization": f"Bearer {token}",
            "X-ClearML-Worker": "vm",
            "X-ClearML-Client": "clearml-2.1.12",
        },
        timeout=10,
    )
    (record,) = clearml_upstream.requests_for("tasks.get_all")
    assert (record.method, record.path, record.query, record.requested_version) == (
        "POST",
        "/v2.23/tasks.get_all",
        "x=1",
        "2.23",
    )
    assert record.header("x-clearml-worker") == "vm" and record.header("X-ClearML-Client") == "clearml-2.1.12"
    assert record.json() == {"only_fields": ["id"]} and record.status == 200
    assert record.identity == clearml_upstream.system_identity
    clearml_upstream.clear_requests()
    assert clearml_upstream.requests == []


def test_fault_switches(clearml_upstream):
    url = f"{clearml_upstream.url}/debug.ping"
    clearml_upstream.slow(0.4)
    started = time.monotonic()
    assert requests.post(url, json={}, timeout=10).status_code == 200
    assert time.monotonic() - started >= 0.4
    with pytest.raises(requests.ReadTimeout):
        requests.post(url, json={}, timeout=0.1)

    clearml_upstream.fail(503)
    reply = requests.post(url, json={}, timeout=10)
    assert reply.status_code == 503 and reply.headers["Content-Type"] == "text/html"
    clearml_upstream.fail(502, endpoints={"tasks.get_all"})
    assert requests.post(url, json={}, timeout=10).status_code == 200  # other endpoints unaffected

    clearml_upstream.hang_up()
    with pytest.raises(requests.ConnectionError):
        requests.post(url, json={}, timeout=10)

    clearml_upstream.heal()
    queue = clearml_upstream.create_queue("survives")
    clearml_upstream.go_down()
    with pytest.raises(requests.ConnectionError):
        requests.post(url, json={}, timeout=2)
    clearml_upstream.come_up()
    listed = ApiClient(clearml_upstream.url, token=clearml_upstream.system_token()).ok(
        "queues.get_all", id=[queue]
    )
    assert [q["name"] for q in listed["queues"]] == ["survives"]


def test_the_request_log_can_drop_bodies_for_large_uploads(clearml_upstream):
    clearml_upstream.log_bodies = False
    token = clearml_upstream.system_token()
    requests.post(
        f"{clearml_upstream.url}/tasks.get_all",
        json={"only_fields": ["id"]},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    (record,) = clearml_upstream.requests_for("tasks.get_all")
    assert (
        record.body == b""
        and record.raw_body_length == len(b'{"only_fields": ["id"]}')
        and record.status == 200
    )
