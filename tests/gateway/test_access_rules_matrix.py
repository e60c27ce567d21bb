"""Access Rules enforced at the gateway (issue 12): the permission matrix, through the portal's /api
into the upstream stand-in. Resource type x level x target kind (user, service account, group)
x inheritance x administrators and Queue admins."""

import pytest

from access import services as access_services
from access import upstream
from access.models import AccessRule
from access.selectors import builtin_groups
from access.services import rule_create
from tests.upstream.client import ApiClient
from workspaces.credentials import credential_create

pytestmark = pytest.mark.django_db

READ, MODIFY = "read", "read_modify"


@pytest.fixture(autouse=True)
def _fresh_trees():
    upstream.reset()
    yield
    upstream.reset()


def token_of(api, workspace, user):
    credential, secret = credential_create(workspace=workspace, actor=user, label="t")
    return api.login(credential.access_key, secret)


@pytest.fixture
def caller(api, workspace, owner, member):
    """(who, token, targets) for each target kind: the member named directly, a service account
    named directly, the member through a group."""

    def make(target_kind):
        if target_kind == "service_account":
            account, credential, secret = access_services.service_account_create(
                workspace=workspace, actor=owner, name="runner"
            )
            return account.user, api.login(credential.access_key, secret), {"user_ids": [account.user.pk]}
        if target_kind == "group":
            group = access_services.group_create(
                workspace=workspace, actor=owner, name="Vision team", member_ids=[member.pk]
            )
            return member, token_of(api, workspace, member), {"group_ids": [group.pk]}
        return member, token_of(api, workspace, member), {"user_ids": [member.pk]}

    return make


def rule(workspace, owner, kind, object_id, permission, **targets):
    return rule_create(
        workspace=workspace,
        actor=owner,
        resource_type=kind,
        object_id=object_id,
        permission=permission,
        user_ids=targets.get("user_ids", ()),
        group_ids=targets.get("group_ids", ()),
    )


def listed(api, token, endpoint, key, **body):
    status, reply = api.call(endpoint, body, token=token)
    assert status == 200, reply
    return {row["id"] for row in reply["data"][key]}


# Per resource type: the object, how to list it, read it by id, and modify it.
TYPES = {
    "project": ("vision", ("projects.get_all", "projects"), ("projects.get_by_id", "project", 401)),
    "task": ("task", ("tasks.get_all", "tasks"), ("tasks.get_by_id", "task", 101)),
    "model": ("model", ("models.get_all", "models"), ("models.get_by_id", "model", 201)),
    "dataset": ("dataset", ("projects.get_all", "projects"), ("projects.get_by_id", "project", 401)),
    "queue": ("queue", ("queues.get_all", "queues"), ("queues.get_by_id", "queue", 701)),
}


def write(api, token, kind, object_id, world=None):
    """A Read & Modify call on the object (status, envelope)."""
    if kind in ("project", "dataset"):
        return api.call("projects.update", {"project": object_id, "description": "x"}, token=token)
    if kind == "task":
        return api.call("tasks.edit", {"task": object_id, "comment": "x", "force": True}, token=token)
    if kind == "model":
        return api.call("models.update", {"model": object_id, "comment": "x"}, token=token)
    return api.call("queues.add_task", {"queue": object_id, "task": world["other_task"]}, token=token)


@pytest.mark.parametrize("kind", list(TYPES))
@pytest.mark.parametrize("level", [None, READ, MODIFY])
@pytest.mark.parametrize("target_kind", ["user", "service_account", "group"])
def test_the_matrix(api, workspace, owner, world, caller, kind, level, target_kind):
    key, (list_endpoint, list_key), (get_endpoint, get_field, missing_subcode) = TYPES[kind]
    object_id = world[key]
    _who, token, targets = caller(target_kind)
    if level is None:  # covered by a rule that names someone else
        rule(workspace, owner, kind, object_id, READ, user_ids=[owner.pk])
    else:
        rule(workspace, owner, kind, object_id, level, **targets)
    body = {"search_hidden": True} if kind == "dataset" else {}
    visible = listed(api, token, list_endpoint, list_key, **body)
    status, reply = api.call(get_endpoint, {get_field: object_id}, token=token)
    w_status, w_reply = write(api, token, kind, object_id, world)
    if level is None:
        assert object_id not in visible
        assert (status, reply["meta"]["result_subcode"]) == (400, missing_subcode)
        assert object_id in reply["meta"]["result_msg"]
        assert (w_status, w_reply["meta"]["result_subcode"]) == (400, missing_subcode)
    else:
        assert object_id in visible
        assert status == 200, reply
        if level == READ:
            assert w_status == 403, w_reply
            msg = w_reply["meta"]["result_msg"]
            assert object_id in msg and "Read Only" in msg and "Rule #" in msg
        else:
            assert w_status == 200, w_reply
    # Everything else stays as it was: the default is read & modify for every member.
    others = {"queue": "queue2", "project": "other", "dataset": "other", "task": "other_task", "model": None}
    if others[kind]:
        other_kind = "project" if kind == "dataset" else kind
        assert write(api, token, other_kind, world[others[kind]], world)[0] == 200


@pytest.mark.parametrize("level", [READ, MODIFY])
def test_a_project_rule_covers_sub_projects_tasks_models_and_datasets(
    api, workspace, owner, world, member, level
):
    token = token_of(api, workspace, member)
    rule(workspace, owner, "project", world["vision"], level, user_ids=[owner.pk])  # member not targeted
    assert not listed(api, token, "projects.get_all", "projects", search_hidden=True) & {
        world["vision"],
        world["detection"],
        world["dataset"],
    }
    assert world["other"] in listed(api, token, "projects.get_all", "projects")
    tasks = listed(api, token, "tasks.get_all", "tasks")
    assert tasks == {world["other_task"]}
    assert listed(api, token, "models.get_all", "models") == set()
    for endpoint, field, object_id in [
        ("tasks.get_by_id", "task", world["version"]),
        ("models.get_by_id", "model", world["model"]),
        ("projects.get_by_id", "project", world["detection"]),
    ]:
        assert api.call(endpoint, {field: object_id}, token=token)[0] == 400
    # Granting the member read on the project gives all of it, read only.
    AccessRule.objects.get().users.add(member)
    assert world["task"] in listed(api, token, "tasks.get_all", "tasks")
    assert world["version"] in listed(api, token, "tasks.get_all", "tasks", search_hidden=True)
    status, reply = api.call(
        "tasks.edit", {"task": world["task"], "comment": "x", "force": True}, token=token
    )
    assert status == (403 if level == READ else 200), reply
    if level == READ:
        assert "Vision" in reply["meta"]["result_msg"]  # the rule is on the project, named
    # A new task in the restricted project needs Read & Modify there.
    status, _ = api.call(
        "tasks.create", {"name": "new-one", "type": "training", "project": world["detection"]}, token=token
    )
    assert status == (403 if level == READ else 200)


def test_a_grant_on_one_task_gives_that_task_only(api, workspace, owner, world, member):
    token = token_of(api, workspace, member)
    rule(workspace, owner, "task", None, READ, user_ids=[owner.pk])  # every task: owner only
    rule(workspace, owner, "task", world["task"], MODIFY, user_ids=[member.pk])
    assert listed(api, token, "tasks.get_all", "tasks") == {world["task"]}
    assert api.call("tasks.get_by_id", {"task": world["sibling"]}, token=token)[0] == 400
    assert (
        api.call("tasks.edit", {"task": world["task"], "comment": "ok", "force": True}, token=token)[0] == 200
    )


def test_a_task_granted_inside_a_hidden_project_stays_visible(api, workspace, owner, world, member):
    token = token_of(api, workspace, member)
    rule(workspace, owner, "project", world["detection"], READ, user_ids=[owner.pk])
    rule(workspace, owner, "task", world["task"], READ, user_ids=[member.pk])
    tasks = listed(api, token, "tasks.get_all", "tasks")
    assert world["task"] in tasks and world["sibling"] not in tasks and world["other_task"] in tasks


def test_pages_stay_full_and_counts_do_not_leak(api, workspace, owner, world, member, standin):
    system = ApiClient(standin.url, token=standin.system_token())
    for n in range(12):
        system.ok("tasks.create", name=f"filler-{n:02d}", type="training", project=world["other"])
    system.close()
    token = token_of(api, workspace, member)
    rule(workspace, owner, "project", world["vision"], READ, user_ids=[owner.pk])
    seen = []
    for page in range(3):
        _status, reply = api.call(
            "tasks.get_all", {"page": page, "page_size": 5, "order_by": ["name"]}, token=token
        )
        seen.append([t["name"] for t in reply["data"]["tasks"]])
    assert [len(p) for p in seen] == [5, 5, 3]  # 13 visible tasks, never a short page before the last
    assert not any(name in ("train-detector", "sibling-task") for page in seen for name in page)
    _status, reply = api.call("tasks.get_types", {}, token=token)
    assert reply["data"]["types"] == ["training"]  # the dataset version's type is not counted
    _status, reply = api.call("projects.get_all_ex", {"include_stats": True}, token=token)
    assert {p["id"] for p in reply["data"]["projects"]} == {world["other"]}


def test_administrators_read_and_modify_everything_but_queues_need_queue_admins(
    api, workspace, owner, admin_member, member, world
):
    token = token_of(api, workspace, admin_member)
    rule(workspace, owner, "project", None, READ, user_ids=[member.pk])
    rule(workspace, owner, "queue", None, READ, user_ids=[member.pk])
    assert world["vision"] in listed(api, token, "projects.get_all", "projects")
    assert (
        api.call("tasks.edit", {"task": world["task"], "comment": "x", "force": True}, token=token)[0] == 200
    )
    assert api.call("tasks.enqueue", {"task": world["task"], "queue": world["queue"]}, token=token)[0] == 200
    status, reply = api.call("queues.create", {"name": "new-queue"}, token=token)
    assert status == 403 and "Queue admins" in reply["meta"]["result_msg"]
    status, reply = api.call("queues.update", {"queue": world["queue"], "name": "renamed"}, token=token)
    assert status == 403
    builtin_groups(workspace=workspace)["queue_admins"].members.add(admin_member)
    token = token_of(api, workspace, admin_member)
    assert api.call("queues.create", {"name": "new-queue"}, token=token)[0] == 200
    assert api.call("queues.update", {"queue": world["queue"], "name": "renamed"}, token=token)[0] == 200


def test_queues_read_to_pull_modify_to_enqueue_queue_admins_to_create(api, workspace, owner, member, world):
    token = token_of(api, workspace, member)
    rule(workspace, owner, "queue", world["queue"], READ, user_ids=[member.pk])
    rule(workspace, owner, "queue", world["queue2"], READ, user_ids=[owner.pk])
    assert listed(api, token, "queues.get_all", "queues") >= {world["queue"]}
    assert world["queue2"] not in listed(api, token, "queues.get_all", "queues")
    assert api.call("queues.get_next_task", {"queue": world["queue"]}, token=token)[0] == 200
    status, reply = api.call("queues.get_next_task", {"queue": world["queue2"]}, token=token)
    assert (status, reply["meta"]["result_subcode"]) == (400, 701)
    status, reply = api.call("tasks.enqueue", {"task": world["task"], "queue": world["queue"]}, token=token)
    assert status == 403 and "enqueue" in reply["meta"]["result_msg"]
    assert api.call("queues.create", {"name": "mine"}, token=token)[0] == 403
    builtin_groups(workspace=workspace)["queue_admins"].members.add(member)
    token = token_of(api, workspace, member)
    assert api.call("queues.create", {"name": "mine"}, token=token)[0] == 200


def test_deleting_a_rule_or_a_group_removes_what_it_granted(api, workspace, owner, member, world):
    group = access_services.group_create(
        workspace=workspace, actor=owner, name="Vision", member_ids=[member.pk]
    )
    token = token_of(api, workspace, member)
    granted = rule(workspace, owner, "project", world["vision"], READ, group_ids=[group.pk])
    assert world["vision"] in listed(api, token, "projects.get_all", "projects")
    access_services.group_delete(group=group, actor=owner)
    assert world["vision"] not in listed(api, token, "projects.get_all", "projects")
    access_services.rule_delete(rule=granted, actor=owner)
    assert world["vision"] in listed(api, token, "projects.get_all", "projects")  # back to the default


def test_events_to_a_read_only_task_are_refused(api, workspace, owner, member, world):
    token = token_of(api, workspace, member)
    rule(workspace, owner, "task", world["task"], READ, user_ids=[member.pk])
    event = {"type": "log", "task": world["task"], "msg": "hi", "level": "info", "timestamp": 1}
    response = api.send(
        "events.add_batch",
        __import__("json").dumps(event),
        token=token,
        content_type="application/json-lines",
    )
    assert response.status_code == 403


def test_no_rule_costs_no_query_on_the_hot_path(api, workspace, member, world, django_assert_num_queries):
    token = token_of(api, workspace, member)
    api.call("tasks.get_all", {}, token=token)  # warm: the user's upstream identity, the rule cache
    with django_assert_num_queries(0):
        assert api.call("tasks.get_all", {}, token=token)[0] == 200


def test_a_listing_costs_the_same_queries_whatever_the_number_of_rules(api, workspace, owner, member, world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    token = token_of(api, workspace, member)
    counts = []
    for extra in (0, 40):
        for n in range(extra):  # rules on tasks that are gone: stored, counted, never matched
            AccessRule.objects.create(
                workspace=workspace, resource_type="task", object_id=f"{n:032x}", permission=READ
            ).users.add(owner)
        rule(workspace, owner, "project", world["other"], READ, user_ids=[owner.pk])
        api.call("tasks.get_all", {}, token=token)  # warm
        with CaptureQueriesContext(connection) as queries:
            assert api.call("tasks.get_all", {}, token=token)[0] == 200
        counts.append(len(queries))
    assert counts[0] == counts[1] and counts[0] <= 8, counts


def test_changes_to_rules_groups_and_roles_take_effect_on_the_next_call(api, workspace, owner, member, world):
    group = access_services.group_create(workspace=workspace, actor=owner, name="Vision")
    token = token_of(api, workspace, member)
    granted = rule(workspace, owner, "project", world["vision"], READ, group_ids=[group.pk])
    assert world["vision"] not in listed(api, token, "projects.get_all", "projects")
    access_services.group_add_member(group=group, actor=owner, user=member)
    assert world["vision"] in listed(api, token, "projects.get_all", "projects")
    access_services.group_remove_member(group=group, actor=owner, user=member)
    assert world["vision"] not in listed(api, token, "projects.get_all", "projects")
    granted.users.add(member)
    assert world["vision"] in listed(api, token, "projects.get_all", "projects")
    granted.users.remove(member)
    assert world["vision"] not in listed(api, token, "projects.get_all", "projects")
    from workspaces.models import Membership, Role

    Membership.objects.filter(workspace=workspace, user=member).update(role=Role.MEMBER)  # no signal: TTL
    membership = Membership.objects.get(workspace=workspace, user=member)
    membership.role = Role.ADMIN
    membership.save()
    assert world["vision"] in listed(api, token, "projects.get_all", "projects")


def test_an_impersonated_token_acts_with_the_owners_rules(api, linked, workspace, owner, member, world):
    """clearml-agent --use-owner-token: the service account's token for the task's owner sees what
    the owner sees, not what the service account sees (and an owner who administers the workspace
    acts as a member)."""
    from gateway.models import UpstreamUser

    account, credential, secret = access_services.service_account_create(
        workspace=workspace, actor=owner, name="owner-agents", allow_impersonation=True
    )
    member_token = token_of(api, workspace, member)
    api.call("projects.get_all", {}, token=member_token)  # the member exists upstream
    member_upstream = UpstreamUser.objects.get(user=member, link=linked).upstream_id
    rule(workspace, owner, "project", world["vision"], READ, user_ids=[account.user.pk])  # the agent only
    rule(workspace, owner, "project", world["other"], READ, user_ids=[member.pk])  # the owner only
    agent_token = api.login(credential.access_key, secret)
    status, body = api.call(
        "auth.login", token=agent_token, headers={"X-ClearML-Impersonate-As": member_upstream}
    )
    assert status == 200, body
    as_member = body["data"]["token"]
    seen = listed(api, as_member, "projects.get_all", "projects")
    assert world["other"] in seen and world["vision"] not in seen
    assert (
        api.call("tasks.edit", {"task": world["other_task"], "comment": "x", "force": True}, token=as_member)[
            0
        ]
        == 403
    )
    seen = listed(api, agent_token, "projects.get_all", "projects")
    assert world["vision"] in seen and world["other"] not in seen
