"""The API the Access Rules page builds on (issue 12): the six kinds of a linked workspace search and
name the ClearML server's objects; `explain` says the level and why."""

import pytest

from access import upstream
from access.kinds import ObjectRef, kind_for
from access.models import AccessRule, UserGroup
from access.permissions import MODIFY, READ, explain, level
from tests.upstream.client import ApiClient
from workspaces.selectors import membership_find

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_trees():
    upstream.reset()
    yield
    upstream.reset()


@pytest.fixture
def objects(linked, standin):
    """Projects Vision > Vision/Detection, a task and a model in the sub-project, a dataset, a queue."""
    system = ApiClient(standin.url, token=standin.system_token())
    vision = system.ok("projects.create", name="Vision")["id"]
    detection = system.ok("projects.create", name="Vision/Detection")["id"]
    task = system.ok("tasks.create", name="train-detector", type="training", project=detection)["id"]
    model = system.ok("models.create", name="detector-v1", project=detection, task=task)["id"]
    dataset = system.ok("projects.create", name="Vision/.datasets/cats", system_tags=["hidden", "dataset"])[
        "id"
    ]
    version = system.ok(
        "tasks.create", name="cats v1", type="data_processing", project=dataset, system_tags=["dataset"]
    )["id"]
    queue = system.ok("queues.create", name="gpu-pool")["id"]
    system.close()
    return {
        "vision": vision,
        "detection": detection,
        "task": task,
        "model": model,
        "dataset": dataset,
        "version": version,
        "queue": queue,
    }


def test_the_six_kinds_search_and_name_the_servers_objects(workspace, objects):
    def search(kind, query="", pk=None):
        return kind_for(workspace, kind).search(workspace=workspace, query=query, pk=pk, limit=20)

    assert search("project", "vis") == [
        (objects["vision"], "Vision"),
        (objects["detection"], "Vision/Detection"),
    ]
    assert search("project", "detect") == [(objects["detection"], "Vision/Detection")]
    assert search("task") == [(objects["task"], "train-detector")]  # dataset versions are datasets
    assert search("model", "DETECTOR") == [(objects["model"], "detector-v1")]
    assert search("dataset") == [(objects["dataset"], "cats (Vision)")]
    assert search("queue", "gpu") == [(objects["queue"], "gpu-pool")]
    assert search("dataview") == []
    assert search("task", pk=objects["task"]) == [(objects["task"], "train-detector")]
    names = kind_for(workspace, "project").names(workspace=workspace, ids=[objects["vision"], "nope"])
    assert names == {objects["vision"]: "Vision"}


def test_standalone_workspaces_keep_the_portals_queues_and_tasks(workspace):
    assert kind_for(workspace, "queue").model is not None
    assert kind_for(workspace, "project") is None


def test_explain_names_the_rule_the_group_and_the_ancestor(workspace, owner, member, admin_member, objects):
    team = UserGroup.objects.create(workspace=workspace, name="Vision team")
    team.members.add(member)
    rule = AccessRule.objects.create(
        workspace=workspace, resource_type="project", object_id=objects["vision"], permission=READ
    )
    rule.groups.add(team)
    as_member = membership_find(workspace=workspace, user=member)
    task = ObjectRef("task", objects["task"])
    assert level(as_member, task) == READ
    why = explain(as_member, task)
    assert why.level == READ and why.covered
    [reason] = why.reasons
    assert (reason.kind, reason.rule, reason.via_groups, reason.inherited) == (
        "rule",
        rule,
        ("Vision team",),
        True,
    )
    assert reason.through == ObjectRef("project", objects["vision"])
    assert [ref.kind for ref in why.chain] == ["task", "project", "project"]
    # The dataset inherits from the project too; the queue is not covered.
    assert explain(as_member, ObjectRef("dataset", objects["dataset"])).level == READ
    assert explain(as_member, ObjectRef("queue", objects["queue"])).level == MODIFY
    as_admin = membership_find(workspace=workspace, user=admin_member)
    assert explain(as_admin, task).level == MODIFY
    assert explain(as_admin, task).reasons[0].kind == "admin"
    as_owner_not_targeted = explain(membership_find(workspace=workspace, user=owner), task)
    assert as_owner_not_targeted.level == MODIFY  # owner administers the workspace
