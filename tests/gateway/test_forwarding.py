"""Forwarding to a linked ClearML server (the stand-in): fidelity of status, body and headers,
refused endpoints, streamed bodies, and what the portal keeps answering itself."""

import base64
import gzip
import json

import pytest

from billing import metering
from gateway.models import UpstreamUser

pytestmark = pytest.mark.django_db


def claims_of(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def without_ids(body: dict) -> dict:
    """An envelope without the per-call meta ids."""
    meta = {key: value for key, value in body["meta"].items() if key not in ("id", "trx")}
    return {"meta": meta, "data": body["data"]}


def test_a_forwarded_call_answers_what_the_upstream_answers(api, linked, member_token, standin, member):
    created = api.call("projects.create", {"name": "Demo"}, token=member_token, version="2.23")
    assert created[0] == 200, created[1]
    project = created[1]["data"]["id"]
    through = api.send("projects.get_all", json.dumps({"name": "^Demo$"}), token=member_token, version="2.23")

    direct_token = standin.requests_for("projects.get_all")[-1].header("Authorization").split(" ", 1)[1]
    from tests.upstream.client import ApiClient

    direct = ApiClient(standin.url, token=direct_token).call(
        "projects.get_all", {"name": "^Demo$"}, version="2.23"
    )
    assert through.status_code == direct.status == 200
    assert without_ids(api.json_of(through)) == without_ids(direct.body)
    assert through["Content-Type"] == "application/json"
    assert [p["id"] for p in api.json_of(through)["data"]["projects"]] == [project]


def test_upstream_errors_come_back_unchanged(api, linked, member_token, standin):
    status, body = api.call("tasks.get_by_id", {"task": "no-such-task"}, token=member_token, version="2.23")
    assert (status, body["meta"]["result_code"], body["meta"]["result_subcode"]) == (400, 400, 101)
    assert body["meta"]["result_msg"].startswith("Invalid task id")
    status, body = api.call("tasks.get_by_id", {}, token=member_token)
    assert (status, body["meta"]["result_subcode"]) == (400, 12)
    # An endpoint the upstream does not know either: its own 404/0 envelope.
    status, body = api.call("tasks.no_such_endpoint", {}, token=member_token)
    assert (status, body["meta"]["result_subcode"]) == (404, 0)
    assert (
        body["meta"]["result_msg"]
        == "Unable to find endpoint for name tasks.no_such_endpoint and version 2.31"
    )
    assert standin.requests_for("tasks.no_such_endpoint")


def test_method_version_path_query_and_body_reach_the_upstream_as_sent(api, linked, member_token, standin):
    response = api.send(
        "projects.get_all",
        json.dumps({"name": "x", "method": "get"}),
        token=member_token,
        method="get",
        version="2.13",
        query="only_fields=id&page_size=5",
    )
    assert response.status_code == 200
    seen = standin.requests_for("projects.get_all")[-1]
    assert (seen.method, seen.path, seen.query) == (
        "GET",
        "/v2.13/projects.get_all",
        "only_fields=id&page_size=5",
    )
    assert seen.json() == {"name": "x", "method": "get"}
    api.send("projects.get_all", b"{}", token=member_token, method="put")
    assert standin.requests_for("projects.get_all")[-1].method == "PUT"
    assert standin.requests_for("projects.get_all")[-1].path == "/projects.get_all"


def test_headers_are_filtered_and_the_callers_token_replaced(api, linked, member_token, standin, member):
    response = api.send(
        "projects.get_all",
        b"{}",
        token=member_token,
        headers={
            "X-ClearML-Worker": "gpu-box",
            "X-ClearML-Client": "clearml-2.1.12",
            "X-ClearML-Impersonate-As": "someone",
            "X-ClearML-Act-As": "someone",
            "X-ClearML-Tenant": "another-company",
            "X-Trains-Impersonate-As": "someone",
            "Cookie": f"clearml_token_basic={member_token}",
            "X-Forwarded-For": "10.0.0.1",
            "User-Agent": "test",
        },
    )
    assert response.status_code == 200
    seen = standin.requests_for("projects.get_all")[-1]
    names = seen.header_names()
    assert {"x-clearml-worker", "x-clearml-client", "authorization", "content-type"} <= names
    assert not names & {
        "x-clearml-impersonate-as",
        "x-clearml-act-as",
        "x-clearml-tenant",
        "x-trains-impersonate-as",
        "cookie",
        "x-forwarded-for",
    }
    assert seen.header("User-Agent") == "settings-portal-gateway"
    assert seen.header("X-ClearML-Worker") == "gpu-box"
    upstream_token = seen.header("Authorization").split(" ", 1)[1]
    assert upstream_token != member_token
    claims = claims_of(upstream_token)
    mapped = UpstreamUser.objects.get(user=member, link=linked)
    assert claims["identity"] == {
        "user": mapped.upstream_id,
        "company": standin.company_id,
        "role": "user",
        "user_name": member.username,
        "company_name": "clearml",
    }
    assert 0 < claims["exp"] - claims["iat"] <= 15 * 60  # minutes, not the upstream's 30 days
    assert seen.effective_identity.user == mapped.upstream_id  # nothing impersonated upstream


def test_gzip_both_ways_passes_through(api, linked, member_token, standin):
    body = gzip.compress(json.dumps({"name": "Zipped"}).encode())
    response = api.send(
        "projects.create",
        body,
        token=member_token,
        headers={"Content-Encoding": "gzip", "Accept-Encoding": "gzip"},
    )
    assert response.status_code == 200
    assert response["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(response.content_bytes))["data"]["id"]
    seen = standin.requests_for("projects.create")[-1]
    assert seen.raw_body_length == len(body)  # sent as it came, gzip and all
    assert seen.json() == {"name": "Zipped"}


def test_json_lines_events_are_streamed(api, linked, member_token, standin):
    project = api.call("projects.create", {"name": "Events"}, token=member_token)[1]["data"]["id"]
    task = api.call(
        "tasks.create", {"name": "events-task", "type": "training", "project": project}, token=member_token
    )[1]["data"]["id"]
    lines = [
        json.dumps(
            {
                "type": "training_stats_scalar",
                "task": task,
                "metric": "loss",
                "variant": "train",
                "iter": i,
                "value": i / 10,
                "pad": "x" * 200,
            }
        )
        for i in range(2000)  # ~500 kB: streamed, not read into memory at once
    ]
    raw = "\n".join(lines).encode()
    response = api.send("events.add_batch", raw, token=member_token, content_type="application/json-lines")
    assert response.status_code == 200, response.content_bytes[:500]
    assert api.json_of(response)["data"]["added"] == 2000
    seen = standin.requests_for("events.add_batch")[-1]
    assert seen.raw_body_length == len(raw)
    assert seen.header("Content-Type") == "application/json-lines"


def test_large_answers_are_streamed_back_whole(api, linked, member_token, standin):
    for index in range(300):
        standin.create_queue(f"queue-{index:03d}-" + "q" * 200)
    response = api.send("queues.get_all", b"{}", token=member_token)
    assert response.status_code == 200
    assert response.streaming  # larger than the buffered limit
    assert len(api.json_of(response)["data"]["queues"]) == 301  # with `default`


@pytest.mark.parametrize(
    "name",
    [
        "auth.create_user",
        "auth.edit_user",
        "auth.get_token_for_user",
        "auth.validate_token",
        "auth.logout",
        "users.create",
        "users.delete",
        "users.update",
    ],
)
def test_identity_changing_endpoints_are_refused(api, linked, member_token, standin, name):
    standin.clear_requests()
    status, body = api.call(
        name, {"user": "x", "name": "Mallory", "company": standin.company_id}, token=member_token
    )
    assert (status, body["meta"]["result_code"]) == (403, 403)
    assert "managed by the portal" in body["meta"]["result_msg"]
    assert name in body["meta"]["result_msg"]
    assert not standin.requests_for(name)


def test_the_portal_still_answers_what_it_owns(api, linked, member_token, member, standin):
    standin.clear_requests()  # the link's own check logged in with the system credential
    status, body = api.call("users.get_current_user", {}, token=member_token)
    assert status == 200 and body["data"]["user"]["id"] == member.id.hex  # the portal's identity
    assert api.call("users.get_vaults", {}, token=member_token)[0] == 200
    assert api.call("auth.get_credentials", {}, token=member_token)[0] == 200
    assert not {r.endpoint for r in standin.requests} & {
        "users.get_current_user",
        "users.get_vaults",
        "auth.get_credentials",
        "auth.login",
    }


def test_resource_policy_stand_ins_step_aside_for_a_linked_workspace(api, linked, member_token, standin):
    project = api.call("projects.create", {"name": "Queued"}, token=member_token)[1]["data"]["id"]
    task = api.call(
        "tasks.create", {"name": "queued-task", "type": "training", "project": project}, token=member_token
    )[1]["data"]["id"]
    status, body = api.call(
        "tasks.enqueue", {"task": task, "queue": standin.default_queue_id}, token=member_token
    )
    assert status == 200, body
    assert standin.queue_entries(standin.default_queue_id) == [task]


def test_unlinked_workspaces_answer_404_as_before(api, linked, owner, standin):
    from tests.factories import make_workspace
    from workspaces.credentials import credential_create

    other = make_workspace(owner=owner, name="Standalone")
    credential, secret = credential_create(workspace=other, actor=owner)
    token = api.login(credential.access_key, secret)
    standin.clear_requests()
    status, body = api.call("projects.get_all", {}, token=token)
    assert (status, body["meta"]["result_subcode"]) == (404, 0)
    assert not standin.requests
    # With a link anywhere, a name the portal does not serve needs a valid token first.
    assert api.call("projects.get_all", {})[0] == 401


def test_users_are_provisioned_once_and_the_hot_path_costs_no_query(
    api, linked, member_token, member, standin, django_assert_num_queries
):
    api.call("projects.get_all", {}, token=member_token)
    created = standin.requests_for("auth.create_user")
    assert len(created) == 1
    assert created[0].json() == {
        "name": member.username,
        "company": standin.company_id,
        "email": member.email,
        "role": "user",
        "given_name": member.username,
    }
    mapped = UpstreamUser.objects.get(user=member, link=linked)
    assert standin.state.users[mapped.upstream_id]["name"] == member.username
    with django_assert_num_queries(0):
        for _ in range(3):
            assert api.call("projects.get_all", {}, token=member_token)[0] == 200
    assert len(standin.requests_for("auth.create_user")) == 1


def test_every_forwarded_call_is_metered(api, linked, member_token, workspace, settings):
    if not settings.REDIS_URL:
        pytest.skip("metering counts in Redis here; the database path is covered by tests/billing")
    before = metering.pending_today(workspace.id)
    for _ in range(3):
        api.call("projects.get_all", {}, token=member_token)
    assert metering.pending_today(workspace.id) - before == 3


def test_a_rename_is_pushed_upstream(
    api, linked, member_token, member, standin, django_capture_on_commit_callbacks
):
    api.call("projects.get_all", {}, token=member_token)
    mapped = UpstreamUser.objects.get(user=member, link=linked)
    with django_capture_on_commit_callbacks(execute=True):
        member.username = "renamed-member"
        member.save()
    assert standin.state.users[mapped.upstream_id]["name"] == "renamed-member"
    api.call("projects.get_all", {}, token=member_token)
    upstream_token = standin.requests_for("projects.get_all")[-1].header("Authorization").split(" ", 1)[1]
    assert claims_of(upstream_token)["identity"]["user_name"] == "renamed-member"
