"""The interception registry: a before-hook checks or rewrites a forwarded call, an after-hook
observes its answer (test-only hooks; Access Rules and resource policies register real ones)."""

import gzip
import json

import pytest

from gateway.interception import (
    Forwarded,
    after_forward,
    before_forward,
    hooks_for,
    registered,
    rewrite_answer,
    unregister,
)
from settings_portal.api import errors

pytestmark = pytest.mark.django_db


def test_a_before_hook_can_refuse_with_an_envelope(api, linked, member_token, member, standin):
    seen = []

    def only_own_queue(forwarded: Forwarded) -> None:
        seen.append((forwarded.name, forwarded.call.user.pk, forwarded.body))
        if forwarded.body.get("queue") != "mine":
            raise errors.RoleNotAllowed(f"you may not enqueue into {forwarded.body.get('queue')}")

    with registered("tasks.enqueue", before=only_own_queue):
        status, body = api.call("tasks.enqueue", {"task": "t1", "queue": "theirs"}, token=member_token)
    assert (status, body["meta"]["result_code"], body["meta"]["result_subcode"]) == (403, 403, 20)
    assert body["meta"]["result_msg"].endswith("you may not enqueue into theirs")
    assert seen == [("tasks.enqueue", member.pk, {"task": "t1", "queue": "theirs"})]
    assert not standin.requests_for("tasks.enqueue")


def test_a_before_hook_can_rewrite_the_body_even_when_it_came_gzipped(api, linked, member_token, standin):
    def rename(forwarded: Forwarded) -> None:
        forwarded.body["name"] = forwarded.body["name"] + " (checked)"

    raw = gzip.compress(json.dumps({"name": "Rewritten"}).encode())
    with registered("projects.*", before=rename):
        response = api.send("projects.create", raw, token=member_token, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 200
    seen = standin.requests_for("projects.create")[-1]
    assert seen.json() == {"name": "Rewritten (checked)"}
    assert "content-encoding" not in seen.header_names()


def test_json_lines_reach_a_hook_as_a_list(api, linked, member_token, standin):
    kept = []

    def drop_debug(forwarded: Forwarded) -> None:
        kept.append(len(forwarded.body))
        forwarded.body[:] = [event for event in forwarded.body if event.get("metric") != "debug"]

    project = api.call("projects.create", {"name": "Hooks"}, token=member_token)[1]["data"]["id"]
    task = api.call(
        "tasks.create", {"name": "hooked", "type": "training", "project": project}, token=member_token
    )[1]["data"]["id"]
    lines = "\n".join(
        json.dumps(
            {
                "type": "training_stats_scalar",
                "task": task,
                "metric": metric,
                "variant": "v",
                "iter": 0,
                "value": 1,
            }
        )
        for metric in ("loss", "debug", "acc")
    )
    with registered("events.add_batch", before=drop_debug):
        response = api.send(
            "events.add_batch", lines.encode(), token=member_token, content_type="application/json-lines"
        )
    assert response.status_code == 200
    assert api.json_of(response)["data"]["added"] == 2
    assert kept == [3]
    assert sorted(e["metric"] for e in standin.events_of(task)) == ["acc", "loss"]


def test_a_malformed_body_never_skips_a_check(api, linked, member_token, standin):
    with registered("tasks.enqueue", before=lambda forwarded: None):
        status, body = api.call("tasks.enqueue", "{not json", token=member_token)
    assert (status, body["meta"]["result_code"]) == (400, 400)
    assert not standin.requests_for("tasks.enqueue")


def test_an_after_hook_sees_status_and_answer_and_cannot_break_it(api, linked, member_token, standin):
    observed = []

    def observe(forwarded: Forwarded, status: int, response: dict | None) -> None:
        observed.append((forwarded.name, forwarded.upstream_user.upstream_id, status, response["data"]))
        raise RuntimeError("a broken observer")

    with registered("projects.create", after=observe):
        response = api.send(
            "projects.create",
            json.dumps({"name": "Observed"}),
            token=member_token,
            headers={"Accept-Encoding": "gzip"},
        )
    assert response.status_code == 200 and response["Content-Encoding"] == "gzip"
    ((name, upstream_user, status, data),) = observed
    assert (name, status) == ("projects.create", 200)
    assert data["id"] == json.loads(gzip.decompress(response.content_bytes))["data"]["id"]
    assert upstream_user == standin.requests_for("projects.create")[-1].effective_identity.user


def test_a_rewriter_edits_the_answer_even_when_gzip_was_asked_for(api, linked, member_token, standin):
    def rename(forwarded: Forwarded, status: int, response: dict) -> bool:
        for project in response["data"]["projects"]:
            project["name"] = "(renamed)"
        return True

    api.call("projects.create", {"name": "Original"}, token=member_token)
    with registered("projects.get_all", rewrite=rename):
        response = api.send(
            "projects.get_all", b"{}", token=member_token, headers={"Accept-Encoding": "gzip"}
        )
    assert response.status_code == 200 and "Content-Encoding" not in response
    assert [p["name"] for p in api.json_of(response)["data"]["projects"]] == ["(renamed)"]
    assert "gzip" not in (standin.requests_for("projects.get_all")[-1].header("Accept-Encoding") or "")


def test_a_rewriter_that_fails_never_lets_the_answer_through(api, linked, member_token):
    def broken(forwarded: Forwarded, status: int, response: dict) -> bool:
        raise RuntimeError("a broken rewriter")

    api.call("projects.create", {"name": "Secretive"}, token=member_token)
    with registered("projects.get_all", rewrite=broken):
        status, body = api.call("projects.get_all", {}, token=member_token)
    assert (status, body["meta"]["result_code"]) == (502, 502)
    assert "Secretive" not in json.dumps(body)


def test_a_rewriter_sees_errors_and_unchanged_answers_pass_as_they_came(api, linked, member_token):
    seen = []

    def look(forwarded: Forwarded, status: int, response: dict) -> bool:
        seen.append(status)
        return False

    with registered("projects.get_by_id", rewrite=look):
        status, body = api.call("projects.get_by_id", {"project": "nope"}, token=member_token)
    assert (status, body["meta"]["result_subcode"], seen) == (400, 401, [400])


def test_a_rewriter_that_does_not_need_the_answer_leaves_it_streaming(api, linked, member_token):
    called = []

    def never(forwarded: Forwarded, status: int, response: dict) -> bool:
        called.append(forwarded.name)
        return True

    rewrite_answer("projects.get_all", needs=lambda forwarded: forwarded.body == {"please": True})(never)
    try:
        api.call("projects.get_all", {}, token=member_token)
        assert called == []
        with registered("projects.get_all", before=lambda forwarded: None):  # (so the body is parsed)
            api.call("projects.get_all", {"please": True}, token=member_token)
        assert called == ["projects.get_all"]
    finally:
        unregister(never)


def test_calls_without_hooks_are_not_parsed():
    # Apps register their own hooks at startup (access: Access Rules); this test's come after them.
    apps_models, apps_tasks = hooks_for("models.get_all"), hooks_for("tasks.get_all")

    @before_forward("models.*")
    def models_check(forwarded):
        pass

    @after_forward("*")
    def everything(forwarded, status, response):
        pass

    try:
        assert hooks_for("models.get_all") == (
            apps_models[0] + (models_check,),
            apps_models[1] + (everything,),
        )
        assert hooks_for("tasks.get_all") == (apps_tasks[0], apps_tasks[1] + (everything,))
    finally:
        unregister(models_check)
        unregister(everything)
    assert hooks_for("tasks.get_all") == apps_tasks


@pytest.mark.parametrize("name", ["", "tasks", "a.b.c", ".x"])
def test_bad_patterns_are_refused(name):
    with pytest.raises(ValueError):
        before_forward(name)
