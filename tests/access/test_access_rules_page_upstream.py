"""The Access Rules page of a workspace linked to a ClearML server (the upstream stand-in): the
dialog lists the server's objects, the table names them, filters by their names, the delete
confirmation names the object, dataviews are explained, Explain access says why."""

import pytest
from django.urls import reverse

from access import services as access_services
from access import upstream
from access.models import AccessRule, GroupMembership, UserGroup
from gateway import cache
from tests.gateway.conftest import link
from tests.upstream.client import ApiClient
from tests.upstream.fixtures import clearml_upstream_factory  # noqa: F401
from workspaces import revocation

pytestmark = pytest.mark.django_db


def make_rule(workspace, owner, kind, object_id, permission, **targets):
    """A rule made by the owner (the page's and the services' own path)."""
    return access_services.rule_create(
        workspace=workspace,
        actor=owner,
        resource_type=kind,
        object_id=object_id,
        permission=permission,
        **targets,
    )


HX = {"HX-Request": "true"}


def url(name, workspace, *args):
    return reverse(f"access:{name}", args=[workspace.slug, *args])


@pytest.fixture(autouse=True)
def _fresh_state():
    revocation.reset()
    cache.reset()
    upstream.reset()
    yield
    upstream.reset()
    cache.reset()
    revocation.reset()


@pytest.fixture
def standin(clearml_upstream_factory):  # noqa: F811
    return clearml_upstream_factory(token_secret="rules-page-tests-token-secret-0123456789")


@pytest.fixture
def objects(workspace, owner, standin):
    link(workspace, standin, owner)
    system = ApiClient(standin.url, token=standin.system_token())
    vision = system.ok("projects.create", name="Vision")["id"]
    detection = system.ok("projects.create", name="Vision/Detection")["id"]
    audio = system.ok("projects.create", name="Audio")["id"]
    task = system.ok("tasks.create", name="train-detector", type="training", project=detection)["id"]
    queue = system.ok("queues.create", name="gpu-pool")["id"]
    system.close()
    return {"vision": vision, "detection": detection, "audio": audio, "task": task, "queue": queue}


def test_the_dialog_lists_the_servers_objects_and_saves_a_rule_on_one(
    client, workspace, owner, member, objects
):
    client.force_login(owner)
    dialog = client.get(url("rule-create", workspace), headers=HX).content.decode()
    assert (
        ">All projects</option>" in dialog
        and ">Vision/Detection</option>" in dialog
        and ">Audio</option>" in dialog
    )
    search = url("rule-search", workspace)
    typed = client.get(search, {"kind": "object", "resource_type": "project", "object_q": "vis"}, headers=HX)
    html = typed.content.decode()
    assert ">Vision</option>" in html and "Audio" not in html and 'hx-swap-oob="true"' in html
    tasks = client.get(search, {"kind": "object", "resource_type": "task"}, headers=HX).content.decode()
    assert ">All tasks</option>" in tasks and ">train-detector</option>" in tasks
    response = client.post(
        url("rule-create", workspace),
        {
            "resource_type": "project",
            "object": objects["vision"],
            "permission": "read",
            "targets": [f"u:{member.pk}"],
            "save": "1",
        },
        headers=HX,
    )
    assert response.status_code == 200 and 'id="rule-table"' in response.content.decode()
    rule = AccessRule.objects.get()
    assert (rule.resource_type, rule.object_id) == ("project", objects["vision"])
    assert ">Vision</td>" in response.content.decode()
    # An id the server does not know, and a type's object that is not of that type: field errors.
    for resource_type, object_id in [("project", "f" * 32), ("queue", objects["vision"]), ("task", "x" * 65)]:
        bad = client.post(
            url("rule-create", workspace),
            {
                "resource_type": resource_type,
                "object": object_id,
                "permission": "read",
                "targets": [f"u:{member.pk}"],
                "save": "1",
            },
            headers=HX,
        )
        assert bad.status_code == 422 and 'aria-invalid="true"' in bad.content.decode()
    assert AccessRule.objects.count() == 1


def test_the_table_names_and_filters_by_the_servers_objects(client, workspace, owner, member, objects):
    for key in ("vision", "audio"):
        make_rule(workspace, owner, "project", objects[key], "read", user_ids=[member.pk])
    make_rule(workspace, owner, "queue", objects["queue"], "read", user_ids=[member.pk])
    client.force_login(owner)
    page = client.get(url("rule-list", workspace)).content.decode()
    assert ">Vision</td>" in page and ">Audio</td>" in page and ">gpu-pool</td>" in page

    def rows(**params):
        return (
            client.get(url("rule-list", workspace), params, headers=HX)
            .content.decode()
            .count('data-testid="rule-row"')
        )

    assert rows(object="aud") == 1 and rows(object="gpu") == 1 and rows(object="vis", view="queue") == 0
    assert rows(object=objects["vision"]) == 1
    rule = AccessRule.objects.get(object_id=objects["audio"])
    confirm = client.get(url("rule-delete", workspace, rule.pk), headers=HX).content.decode()
    assert "project “Audio”" in confirm and objects["audio"] not in confirm


def test_the_table_still_shows_rules_when_the_server_is_down(
    client, workspace, owner, member, objects, standin
):
    make_rule(workspace, owner, "project", objects["vision"], "read", user_ids=[member.pk])
    standin.go_down()
    client.force_login(owner)
    page = client.get(url("rule-list", workspace), {"object": "vis"})
    assert page.status_code == 200
    listed = client.get(url("rule-list", workspace)).content.decode()
    assert f"#{objects['vision']}" in listed and 'data-testid="rule-row"' in listed
    dialog = client.get(url("rule-create", workspace), headers=HX)
    # The list still offers the whole type, and says the server did not answer.
    assert dialog.status_code == 200 and ">All projects</option>" in dialog.content.decode()
    saved = client.post(
        url("rule-create", workspace),
        {
            "resource_type": "project",
            "object": objects["audio"],
            "permission": "read",
            "targets": [f"u:{member.pk}"],
            "save": "1",
        },
        headers=HX,
    )
    assert saved.status_code == 422 and AccessRule.objects.count() == 1
    standin.heal()


NO_ANSWER = "The ClearML server did not answer; try again shortly."


def test_the_dialog_says_the_server_did_not_answer(client, workspace, owner, member, objects, standin):
    client.force_login(owner)
    standin.go_down()
    dialog = client.get(url("rule-create", workspace), headers=HX).content.decode()
    assert ">All projects</option>" in dialog and NO_ANSWER in dialog
    typed = client.get(
        url("rule-search", workspace),
        {"kind": "object", "resource_type": "task", "object_q": "tr"},
        headers=HX,
    ).content.decode()
    assert ">All tasks</option>" in typed and NO_ANSWER in typed
    chosen = {
        "resource_type": "project",
        "object": objects["audio"],
        "permission": "read",
        "targets": [f"u:{member.pk}"],
        "save": "1",
    }
    saved = client.post(url("rule-create", workspace), chosen, headers=HX)
    html = saved.content.decode()
    assert saved.status_code == 422 and 'aria-invalid="true"' in html
    assert NO_ANSWER in html and "Pick an object from the list" not in html
    assert not AccessRule.objects.exists()
    explained = client.get(
        url("rule-explain", workspace),
        {"subject": f"u:{member.pk}", "resource_type": "task", "object": objects["task"], "explain": "1"},
        headers=HX,
    )
    assert explained.status_code == 422 and NO_ANSWER in explained.content.decode()
    standin.come_up()
    # Back up: the same rule saves; an id the server does not know is no such object.
    assert client.post(url("rule-create", workspace), chosen, headers=HX).status_code == 200
    for object_id in ("x" * 65, "not an id!", "f" * 32):
        bad = client.post(url("rule-create", workspace), {**chosen, "object": object_id}, headers=HX)
        html = bad.content.decode()
        # (the form refuses what is not an id; the server is asked about the rest)
        assert bad.status_code == 422 and "Pick an object from the list" in html
        assert NO_ANSWER not in html
    assert "there is no such object in this workspace" in html  # the last: asked, not found
    assert AccessRule.objects.count() == 1


def test_the_table_says_the_server_is_not_reachable(client, workspace, owner, member, objects, standin):
    for key in ("vision", "audio"):
        make_rule(workspace, owner, "project", objects[key], "read", user_ids=[member.pk])
    system = ApiClient(standin.url, token=standin.system_token())
    queue = system.ok("queues.create", name="short-lived")["id"]
    gone = make_rule(workspace, owner, "queue", queue, "read", user_ids=[member.pk])
    system.ok("queues.delete", queue=queue)
    system.close()
    client.force_login(owner)
    up = client.get(url("rule-list", workspace)).content.decode()
    assert ">Vision</td>" in up and f"#{gone.object_id} (not found)" in up
    assert "server not reachable" not in up and 'data-testid="rule-filter-unanswered"' not in up
    standin.go_down()
    listed = client.get(url("rule-list", workspace)).content.decode()
    for key in ("vision", "audio"):
        assert f"#{objects[key]} (server not reachable)" in listed
    assert "(not found)" not in listed and 'data-testid="rule-filter-unanswered"' not in listed
    filtered = client.get(url("rule-list", workspace), {"object": "vis"}, headers=HX)
    html = filtered.content.decode()
    assert filtered.status_code == 200 and 'data-testid="rule-filter-unanswered"' in html
    assert "The ClearML server did not answer" in html
    by_id = client.get(url("rule-list", workspace), {"object": objects["audio"]}, headers=HX).content.decode()
    assert by_id.count('data-testid="rule-row"') == 1  # an id typed in full still matches
    confirm = client.get(url("rule-delete", workspace, gone.pk), headers=HX).content.decode()
    assert "(server not reachable)" in confirm
    standin.come_up()


def test_dataviews_are_explained_and_their_rules_stored(client, workspace, owner, member, objects):
    client.force_login(owner)
    field = client.get(
        url("rule-search", workspace), {"kind": "object", "resource_type": "dataview"}, headers=HX
    ).content.decode()
    assert 'data-testid="dataview-note"' in field and "has no dataviews" in field
    assert ">All dataviews</option>" in field
    response = client.post(
        url("rule-create", workspace),
        {
            "resource_type": "dataview",
            "object": "",
            "permission": "read",
            "targets": [f"u:{member.pk}"],
            "save": "1",
        },
    )
    assert response.status_code == 302
    assert AccessRule.objects.filter(resource_type="dataview", object_id=None).exists()
    listed = client.get(url("rule-list", workspace), {"view": "dataview"}).content.decode()
    assert "All dataviews" in listed and 'data-testid="dataview-note"' in listed


def test_explain_access_names_the_rule_the_group_and_the_ancestor(client, workspace, owner, member, objects):
    team = UserGroup.objects.create(workspace=workspace, name="Vision team")
    GroupMembership.objects.create(group=team, user=member)
    make_rule(workspace, owner, "project", objects["vision"], "read", group_ids=[team.pk])
    client.force_login(owner)
    explain = url("rule-explain", workspace)
    page = client.get(
        explain,
        {"subject": f"u:{member.pk}", "resource_type": "task", "object": objects["task"], "explain": "1"},
        headers=HX,
    ).content.decode()
    assert 'data-testid="explain-level">Read Only<' in page
    assert "train-detector" in page
    assert (
        "The rule on project “Vision” (inherited: it contains the object) grants Read Only to member through the group Vision team."
        in page
    )
    admin = client.get(
        explain,
        {"subject": f"u:{owner.pk}", "resource_type": "task", "object": objects["task"], "explain": "1"},
        headers=HX,
    ).content.decode()
    assert 'data-testid="explain-level">Read &amp; Modify<' in admin and "Administrator" in admin
    free = client.get(
        explain,
        {"subject": f"u:{member.pk}", "resource_type": "queue", "object": objects["queue"], "explain": "1"},
        headers=HX,
    ).content.decode()
    assert 'data-testid="explain-level">Read &amp; Modify<' in free and "No rule covers it" in free


def test_editing_keeps_the_object_and_the_tables_filters(client, workspace, owner, member, objects):
    rule = make_rule(workspace, owner, "project", objects["audio"], "read", user_ids=[member.pk])
    make_rule(workspace, owner, "queue", None, "read", user_ids=[member.pk])
    client.force_login(owner)
    edit = url("rule-edit", workspace, rule.pk)
    form = client.get(edit, headers=HX).content.decode()
    assert f'<option value="{objects["audio"]}" selected>Audio</option>' in form
    # A search step that does not match the chosen object still lists it, chosen.
    step = client.post(
        edit,
        {
            "resource_type": "project",
            "object": objects["audio"],
            "permission": "read",
            "object_q": "vis",
            "find": "1",
        },
        headers=HX,
    ).content.decode()
    assert (
        f'<option value="{objects["audio"]}" selected>Audio</option>' in step and ">Vision</option>" in step
    )
    # Saved over a filtered table: the fresh table keeps the filters on the page.
    filtered = f"http://testserver{url('rule-list', workspace)}?view=project"
    saved = client.post(
        edit,
        {
            "resource_type": "project",
            "object": objects["vision"],
            "permission": "read_modify",
            "targets": [f"u:{member.pk}"],
            "save": "1",
        },
        headers={**HX, "HX-Current-URL": filtered},
    ).content.decode()
    assert saved.count('data-testid="rule-row"') == 1 and ">Vision</td>" in saved
    rule.refresh_from_db()
    assert (rule.object_id, rule.permission) == (objects["vision"], "read_modify")


def test_the_tables_queries_do_not_grow_with_the_rules(
    client, workspace, owner, member, objects, django_assert_num_queries
):
    def add(n):
        for i in range(n):
            group = UserGroup.objects.create(workspace=workspace, name=f"team {UserGroup.objects.count()}")
            access_services.rule_create(
                workspace=workspace,
                actor=owner,
                resource_type=("project", "task", "queue")[i % 3],
                object_id=objects[("vision", "task", "queue")[i % 3]],
                permission="read",
                user_ids=[member.pk],
                group_ids=[group.pk],
            )

    add(3)
    client.force_login(owner)
    client.get(url("rule-list", workspace), headers=HX)
    with django_assert_num_queries(8) as ctx:  # no portal-stored kind on the page: no name query
        client.get(url("rule-list", workspace), {"object": "vis", "groups": "team"}, headers=HX)
    add(9)
    with django_assert_num_queries(len(ctx.captured_queries)):
        response = client.get(url("rule-list", workspace), {"object": "vis", "groups": "team"}, headers=HX)
    assert response.content.decode().count('data-testid="rule-row"') == 4
