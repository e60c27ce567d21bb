"""Access Rules where a request filter is not enough (issue 12): filters written with the server's
operators, `include_subprojects`, a visible project's sub-projects and counts, the tasks queues
and workers name, aggregates over projects, and the caches of other portal processes. Through the
portal's /api into the upstream stand-in; each hidden object is checked against what an
administrator sees of the same call."""

import json

import pytest

from access import gateway as access_gateway
from access import upstream
from tests.upstream.client import ApiClient
from workspaces import revocation

from .test_access_rules_matrix import READ, _fresh_trees, listed, rule, token_of  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def more(world, standin):
    """Vision/Segmentation (visible) with a task, beside Vision/Detection (which tests hide)."""
    system = ApiClient(standin.url, token=standin.system_token())
    world["segmentation"] = system.ok("projects.create", name="Vision/Segmentation")["id"]
    world["seg_task"] = system.ok(
        "tasks.create", name="segment", type="training", project=world["segmentation"]
    )["id"]
    world["system"] = system
    yield world
    system.close()


@pytest.fixture
def hide_detection(workspace, owner, more):
    """A rule on Vision/Detection that names only the owner: hidden from every other member."""
    rule(workspace, owner, "project", more["detection"], READ, user_ids=[owner.pk])
    return more


def test_a_hidden_sub_project_is_neither_named_nor_counted_in_its_parent(
    api, workspace, owner, member, hide_detection, standin
):
    world = hide_detection
    token, admin = token_of(api, workspace, member), token_of(api, workspace, owner)

    def vision(as_token):
        status, reply = api.call(
            "projects.get_all_ex", {"id": [world["vision"]], "include_stats": True}, token=as_token
        )
        assert status == 200, reply
        (project,) = reply["data"]["projects"]
        return project

    seen_by_admin = vision(admin)
    assert {"Vision/Detection", "Vision/Segmentation"} <= {p["name"] for p in seen_by_admin["sub_projects"]}
    assert seen_by_admin["stats"]["active"]["total_tasks"] == 3  # two in Detection, one in Segmentation
    seen = vision(token)
    assert seen["sub_projects"] == [{"id": world["segmentation"], "name": "Vision/Segmentation"}]
    assert seen["stats"]["active"]["total_tasks"] == 1
    assert seen["stats"]["active"]["status_count"] == {"created": 1}
    # The server was asked for own counts only; nothing about Detection reached the member.
    assert standin.requests_for("projects.get_all_ex")[-2].json()["stats_with_children"] is False
    assert world["detection"] not in str(seen)


def test_counts_of_a_project_without_hidden_sub_projects_are_the_servers(
    api, workspace, owner, member, more, standin
):
    rule(workspace, owner, "project", more["other"], READ, user_ids=[owner.pk])  # a top-level one
    token = token_of(api, workspace, member)
    status, reply = api.call("projects.get_all_ex", {"include_stats": True}, token=token)
    assert status == 200
    vision = next(p for p in reply["data"]["projects"] if p["id"] == more["vision"])
    assert vision["stats"]["active"]["total_tasks"] == 3
    assert "stats_with_children" not in standin.requests_for("projects.get_all_ex")[-1].json()


# --- filters with the server's operators ------------------------------------------------------------

SHAPES = {
    "or": lambda w: {"id": ["__$or", w["task"], w["other_task"]]},
    "not": lambda w: {"id": ["__$not", w["other_task"]]},
    "or-not": lambda w: {"id": ["__$or", w["other_task"], "__$not", w["sibling"]]},
    "legacy-minus": lambda w: {"id": ["-" + w["other_task"]]},
    "and-one": lambda w: {"id": ["__$and", w["task"]]},
    "none-and-ids": lambda w: {"id": [None, w["task"], w["seg_task"]]},
    "filters-any": lambda w: {"filters": {"id": {"any": {"include": [w["task"], w["seg_task"]]}}}},
    "filters-or": lambda w: {
        "id": [w["other_task"]],  # ignored by the server when `filters` names the field
        "filters": {"id": {"any": {"include": [w["task"]]}, "all": {"exclude": [w["sibling"]]}, "op": "or"}},
    },
    "project-or": lambda w: {"project": ["__$or", w["detection"], w["other"]]},
    "project-not": lambda w: {"project": ["__$not", w["other"]]},
    "subprojects": lambda w: {"project": [w["vision"]], "include_subprojects": True},
    "subprojects-or": lambda w: {"project": ["__$or", w["vision"], w["other"]], "include_subprojects": True},
}


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("how", ["project", "task"])
def test_a_filter_written_with_operators_is_narrowed_never_widened(
    api, workspace, owner, member, more, shape, how
):
    world = more
    if how == "project":
        rule(workspace, owner, "project", world["detection"], READ, user_ids=[owner.pk])
        hidden = {world["task"], world["sibling"], world["version"]}
    else:
        rule(workspace, owner, "task", world["task"], READ, user_ids=[owner.pk])
        hidden = {world["task"]}
    body = SHAPES[shape](world)
    everything = listed(api, token_of(api, workspace, owner), "tasks.get_all_ex", "tasks", **body)
    seen = listed(api, token_of(api, workspace, member), "tasks.get_all_ex", "tasks", **body)
    assert everything and seen == everything - hidden


def test_a_filter_the_server_would_refuse_is_refused_before_it_is_forwarded(
    api, workspace, owner, member, hide_detection, standin
):
    token = token_of(api, workspace, member)
    before = len(standin.requests_for("tasks.get_all"))
    for bad in (["__$not"], ["__$xor", "a"], [1, 2], ["-"]):
        status, reply = api.call("tasks.get_all", {"project": bad}, token=token)
        assert (status, reply["meta"]["result_subcode"]) == (400, 16), bad
        assert "project" in reply["meta"]["result_msg"]
    assert len(standin.requests_for("tasks.get_all")) == before


# --- queues and workers name tasks ------------------------------------------------------------------


def test_queues_and_workers_do_not_name_hidden_tasks(api, workspace, owner, member, more, standin):
    world = more
    system = world["system"]
    for task in (world["task"], world["other_task"]):
        system.ok("tasks.enqueue", task=task, queue=world["queue"])
    system.ok("workers.status_report", worker="gpu-box:0", task=world["task"], queue=world["queue"])
    rule(workspace, owner, "task", world["task"], READ, user_ids=[owner.pk])
    token, admin = token_of(api, workspace, member), token_of(api, workspace, owner)

    def entries(as_token, endpoint="queues.get_all_ex"):
        status, reply = api.call(endpoint, {"id": [world["queue"]]}, token=as_token)
        assert status == 200, reply
        (queue,) = reply["data"]["queues"]
        return [e["task"]["id"] if isinstance(e["task"], dict) else e["task"] for e in queue["entries"]]

    assert entries(admin) == [world["task"], world["other_task"]]
    assert entries(token) == [world["other_task"]]
    assert entries(token, "queues.get_all") == [world["other_task"]]
    _status, reply = api.call("queues.get_by_id", {"queue": world["queue"]}, token=token)
    assert [e["task"] for e in reply["data"]["queue"]["entries"]] == [world["other_task"]]
    assert api.call("queues.get_num_entries", {"queue": world["queue"]}, token=token)[1]["data"]["num"] == 1
    assert api.call("queues.get_num_entries", {"queue": world["queue"]}, token=admin)[1]["data"]["num"] == 2
    peeked = api.call("queues.peek_task", {"queue": world["queue"]}, token=token)[1]["data"]["task"]
    assert peeked == world["other_task"]

    metrics = {"queue_ids": [world["queue"]], "from_date": 0, "to_date": 2**31, "interval": 60}
    admin_series = api.call("queues.get_queue_metrics", metrics, token=admin)[1]["data"]["queues"][0]
    assert admin_series["queue_lengths"] == [2]
    series = api.call("queues.get_queue_metrics", metrics, token=token)[1]["data"]["queues"][0]
    assert (series["queue"], series["queue_lengths"], series["dates"]) == (world["queue"], [], [])

    _status, reply = api.call("workers.get_all", {}, token=admin)
    assert reply["data"]["workers"][0]["task"]["id"] == world["task"]
    _status, reply = api.call("workers.get_all", {}, token=token)
    (worker,) = reply["data"]["workers"]
    assert worker["task"] is None
    assert worker["project"]["id"] == world["detection"]  # the project itself is not hidden
    assert world["task"] not in str(reply) and "train-detector" not in str(reply)


def test_a_worker_does_not_name_a_hidden_queue(api, workspace, owner, member, more):
    world = more
    world["system"].ok("workers.register", worker="cpu-box:0", queues=[world["queue"], world["queue2"]])
    rule(workspace, owner, "queue", world["queue"], READ, user_ids=[owner.pk])
    _status, reply = api.call("workers.get_all", {}, token=token_of(api, workspace, member))
    (worker,) = reply["data"]["workers"]
    assert [q["id"] for q in worker["queues"]] == [world["queue2"]]


# --- aggregates over projects ------------------------------------------------------------------------


def test_aggregates_over_projects_leave_hidden_sub_projects_out(
    api, workspace, owner, member, hide_detection, standin
):
    world = hide_detection
    system = world["system"]
    for project, name in ((world["detection"], "secret"), (world["segmentation"], "open")):
        child = system.ok("tasks.create", name=f"{name}-child", type="training", project=project)["id"]
        parent = system.ok("tasks.create", name=f"{name}-parent", type="training", project=world["other"])[
            "id"
        ]
        system.ok("tasks.edit", task=child, parent=parent)
        event = {"type": "training_stats_scalar", "task": child, "metric": f"{name}-loss", "variant": "v"}
        reply = system.call(
            "events.add_batch",
            raw=json.dumps({**event, "iter": 1, "value": 1}).encode(),
            headers={"Content-Type": "application/json-lines"},
        )
        assert reply.status == 200, reply.meta
    token, admin = token_of(api, workspace, member), token_of(api, workspace, owner)

    def parents(as_token):
        status, reply = api.call("projects.get_task_parents", {"projects": [world["vision"]]}, token=as_token)
        assert status == 200, reply
        return {p["name"] for p in reply["data"]["parents"]}

    def metrics(as_token, **body):
        status, reply = api.call("projects.get_unique_metric_variants", body, token=as_token)
        assert status == 200, reply
        return {m["metric"] for m in reply["data"]["metrics"]}

    assert parents(admin) == {"secret-parent", "open-parent"}
    assert parents(token) == {"open-parent"}
    sent = standin.requests_for("projects.get_task_parents")[-1].json()
    assert sent["include_subprojects"] is False and world["detection"] not in sent["projects"]
    assert metrics(admin, project=world["vision"]) == {"secret-loss", "open-loss"}
    # One project: its hidden sub-project's figures are left out (its visible ones with it: the
    # server's call takes one project, not a list).
    assert metrics(token, project=world["vision"]) == set()
    assert metrics(token, project=world["segmentation"]) == {"open-loss"}
    assert metrics(admin) == {"secret-loss", "open-loss"}
    assert metrics(token) == set()  # the whole server cannot be narrowed to a list
    status, reply = api.call(
        "projects.get_unique_metric_variants", {"project": world["detection"]}, token=token
    )
    assert (status, reply["meta"]["result_subcode"]) == (400, 401)


# --- other portal processes ---------------------------------------------------------------------------


def test_a_new_project_reaches_the_other_processes_at_once(
    api, workspace, owner, member, hide_detection, linked, monkeypatch
):
    told = []
    monkeypatch.setattr(access_gateway.revocation, "publish", lambda kind, value: told.append((kind, value)))
    token = token_of(api, workspace, member)
    status, _ = api.call("projects.create", {"name": "Vision/Fresh"}, token=token)
    assert status == 200
    status, _ = api.call(
        "tasks.create", {"name": "fresh", "type": "training", "project": hide_detection["other"]}, token=token
    )
    assert status == 200
    link_id = str(linked.pk)
    assert (access_gateway.PROJECTS_CHANGED, link_id) in told
    assert (access_gateway.CHILDREN_CHANGED, link_id) in told
    monkeypatch.undo()
    # Another process receiving the message drops its copy of the tree.
    upstream_link = access_gateway.up.upstream_of(workspace)
    upstream.project_tree(upstream_link)
    assert upstream_link.link_id in upstream._trees
    revocation._apply(revocation._current(), f"{access_gateway.PROJECTS_CHANGED}:{link_id}")
    assert upstream_link.link_id not in upstream._trees


# --- events name their tasks in several ways ---------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "body", "subcode"),
    [
        ("events.get_task_log", lambda w: {"task": w["task"]}, 101),
        ("events.debug_images", lambda w: {"metrics": [{"task": w["task"], "metric": "m"}]}, 101),
        ("events.plots", lambda w: {"metrics": [{"task": w["other_task"]}, {"task": w["task"]}]}, 101),
        ("events.get_multi_task_plots", lambda w: {"tasks": [w["other_task"], w["task"]]}, 101),
        ("events.scalar_metrics_iter_raw", lambda w: {"task": w["task"], "metric": {"metric": "m"}}, 101),
        ("events.get_task_metrics", lambda w: {"tasks": [w["model"]], "model_events": True}, 201),
        ("models.get_by_task_id", lambda w: {"task": w["task"]}, 101),
    ],
)
def test_every_events_read_names_its_tasks(
    api, workspace, owner, member, world, standin, endpoint, body, subcode
):
    rule(workspace, owner, "project", world["detection"], READ, user_ids=[owner.pk])
    before = len(standin.requests_for(endpoint))
    status, reply = api.call(endpoint, body(world), token=token_of(api, workspace, member))
    assert (status, reply["meta"]["result_subcode"]) == (400, subcode), reply
    assert len(standin.requests_for(endpoint)) == before  # never reached the server


def test_deleting_events_needs_read_and_modify(api, workspace, owner, member, world, standin):
    rule(workspace, owner, "task", world["task"], READ, user_ids=[member.pk])
    status, reply = api.call(
        "events.delete_for_task", {"task": world["task"]}, token=token_of(api, workspace, member)
    )
    assert status == 403 and "Read Only" in reply["meta"]["result_msg"]


# --- counts and exports over the whole server ---------------------------------------------------------


def test_entity_counts_and_exports_leave_hidden_objects_out(
    api, workspace, owner, member, hide_detection, standin
):
    world = hide_detection
    body = {"projects": {}, "tasks": {}, "models": {}, "search_hidden": True}
    admin_counts = api.call("organization.get_entities_count", body, token=token_of(api, workspace, owner))[1]
    counts = api.call("organization.get_entities_count", body, token=token_of(api, workspace, member))[1]
    # Detection, its .datasets folder and the dataset; its two tasks and the dataset version; its model.
    assert admin_counts["data"]["projects"] - counts["data"]["projects"] == 3
    assert admin_counts["data"]["tasks"] - counts["data"]["tasks"] == 3
    assert (admin_counts["data"]["models"], counts["data"]["models"]) == (1, 0)

    api.call(
        "organization.prepare_download_for_get_all",
        {"entity_type": "task", "only_fields": ["id"], "field_mappings": [{"field": "id"}]},
        token=token_of(api, workspace, member),
    )
    sent = standin.requests_for("organization.prepare_download_for_get_all")[-1].json()
    assert world["detection"] in str(sent["project"]) and "__$not" in sent["project"]


def test_reports_are_tasks_under_the_same_rules(api, workspace, owner, member, hide_detection, standin):
    world = hide_detection
    token = token_of(api, workspace, member)
    api.call("reports.get_all_ex", {"project": [world["vision"]], "include_subprojects": True}, token=token)
    sent = standin.requests_for("reports.get_all_ex")[-1].json()
    assert "include_subprojects" not in sent and world["detection"] not in sent["project"]
    status, reply = api.call("reports.update", {"task": world["task"], "report": "x"}, token=token)
    assert (status, reply["meta"]["result_subcode"]) == (400, 101)
    status, _ = api.call("reports.create", {"title": "r", "project": world["detection"]}, token=token)
    assert status == 400


def test_moving_and_merging_need_read_and_modify_on_the_destination(
    api, workspace, owner, member, more, standin
):
    world = more
    rule(workspace, owner, "project", world["vision"], READ, user_ids=[member.pk])  # Vision: read only
    token = token_of(api, workspace, member)
    other = world["other"]
    status, reply = api.call(
        "projects.move", {"project": other, "new_location": "Vision/Detection"}, token=token
    )
    assert status == 403 and "Vision" in reply["meta"]["result_msg"], reply
    status, _ = api.call(
        "projects.merge", {"project": other, "destination_project": world["vision"]}, token=token
    )
    assert status == 403
    status, _ = api.call("models.move", {"ids": [world["model"]], "project": other}, token=token)
    assert status == 403  # the model is in Vision/Detection, read only
    assert not standin.requests_for("projects.move") and not standin.requests_for("projects.merge")


def test_joined_names_of_hidden_objects_are_left_out(api, workspace, owner, member, world, standin):
    system = ApiClient(standin.url, token=standin.system_token())
    child = system.ok(
        "tasks.create", name="child", type="training", project=world["other"], parent=world["task"]
    )["id"]
    system.close()
    rule(workspace, owner, "project", world["detection"], READ, user_ids=[owner.pk])
    rule(workspace, owner, "task", world["sibling"], READ, user_ids=[member.pk])  # granted inside
    body = {"id": [child, world["sibling"]], "only_fields": ["id", "name", "parent.name", "project.name"]}
    admin = api.call("tasks.get_all_ex", body, token=token_of(api, workspace, owner))[1]["data"]["tasks"]
    assert {t["id"]: t.get("parent", {}).get("name") for t in admin}[child] == "train-detector"
    rows = {
        t["id"]: t
        for t in api.call("tasks.get_all_ex", body, token=token_of(api, workspace, member))[1]["data"][
            "tasks"
        ]
    }
    assert rows[child]["parent"] == {"id": world["task"]}  # the hidden parent: its id, not its name
    assert rows[child]["project"]["name"] == "Other"
    assert rows[world["sibling"]]["project"] == {"id": world["detection"]}  # granted in a hidden project


def test_tags_of_hidden_projects_are_not_listed(api, workspace, owner, member, hide_detection, standin):
    world = hide_detection
    system = world["system"]
    system.ok("tasks.edit", task=world["task"], tags=["secret-tag"], force=True)
    system.ok("tasks.edit", task=world["seg_task"], tags=["open-tag"], force=True)
    system.ok("tasks.edit", task=world["other_task"], tags=["other-tag"], force=True)
    system.ok("projects.update", project=world["detection"], tags=["secret-project"])
    token, admin = token_of(api, workspace, member), token_of(api, workspace, owner)

    def tags(endpoint, as_token, **body):
        status, reply = api.call(endpoint, body, token=as_token)
        assert status == 200, reply
        return set(reply["data"]["tags"])

    assert tags("organization.get_tags", admin) == {"secret-tag", "open-tag", "other-tag"}
    # Vision's own tasks are left out with Detection (the server widens every project it is given).
    assert tags("organization.get_tags", token) == {"open-tag", "other-tag"}
    assert tags("projects.get_task_tags", admin, projects=[world["vision"]]) == {"secret-tag", "open-tag"}
    assert tags("projects.get_task_tags", token, projects=[world["vision"]]) == {"open-tag"}
    assert tags("projects.get_task_tags", token) == {"open-tag", "other-tag"}


def test_a_task_made_through_the_portal_beside_a_granted_one_is_hidden_at_once(
    api, workspace, owner, member, world
):
    rule(workspace, owner, "project", world["detection"], READ, user_ids=[owner.pk])
    rule(workspace, owner, "task", world["task"], READ, user_ids=[member.pk])  # an exception inside
    token = token_of(api, workspace, member)
    assert listed(api, token, "tasks.get_all", "tasks") & {world["task"], world["sibling"]} == {world["task"]}
    status, reply = api.call(
        "tasks.create",
        {"name": "new-sibling", "type": "training", "project": world["detection"]},
        token=token_of(api, workspace, owner),
    )
    assert status == 200, reply
    # The member's plan (the siblings left out by id) is dropped with the project's members.
    assert reply["data"]["id"] not in listed(api, token, "tasks.get_all", "tasks")


BAD_BODIES = [
    {"id": "\x00"},
    {"id": ["٣", "__$not", "\u0000"]},  # unicode digits, NUL
    {"id": [["nested"]]},
    {"id": {"a": 1}},
    {"project": ["__$not"] * 3},
    {"filters": "not a dict"},
    {"filters": {"id": "not a dict"}},
    {"filters": {"id": {"any": {"include": "x"}}}},
    {"filters": {"id": {"any": {"include": [1]}}}},
    {"filters": {"id": {"op": "xor"}}},
    {"filters": {"id": {"other": []}}},
    {"id": ["a"] * 100_001},
    {"project": [{"deep": [[[[]]]]}]},
    {"include_subprojects": "yes", "project": "٣"},
]


@pytest.mark.parametrize("body", BAD_BODIES, ids=range(len(BAD_BODIES)))
def test_bad_filters_get_a_client_error_never_a_server_error(api, workspace, owner, member, world, body):
    rule(workspace, owner, "project", world["detection"], READ, user_ids=[owner.pk])
    status, reply = api.call("tasks.get_all_ex", body, token=token_of(api, workspace, member))
    assert status < 500, reply
    if status == 200:  # what the server accepted is still narrowed
        assert world["task"] not in {t["id"] for t in reply["data"]["tasks"]}
