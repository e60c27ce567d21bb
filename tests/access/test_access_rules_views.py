"""The Access Rules page: roles, the table and its filters, add/edit/delete (htmx and plain forms)."""

import pytest
from django.urls import reverse

from access import services as access_services
from access.models import AccessRule, GroupMembership, UserGroup
from resources.models import Job, Policy, Profile, Queue
from workspaces.models import AuditEvent

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}


def url(name, workspace, *args):
    return reverse(f"access:{name}", args=[workspace.slug, *args])


@pytest.fixture
def queue(workspace):
    profile = Profile.objects.create(workspace=workspace, name="4x", allotment=4)
    dev = UserGroup.objects.create(workspace=workspace, name="Dev")
    policy = Policy.objects.create(workspace=workspace, name="Dev Team", group=dev, reservation=0, limit=8)
    return Queue.objects.create(
        workspace=workspace, name="dev-4x", policy=policy, profile=profile, priority=1
    )


@pytest.fixture
def rule(workspace, owner, queue, member):
    return access_services.rule_create(
        workspace=workspace,
        actor=owner,
        resource_type="queue",
        object_id=queue.pk,
        permission="read",
        user_ids=[member.pk],
        group_ids=[],
    )


def test_outsiders_get_404_members_403_admins_200(
    client, workspace, rule, outsider, member, admin_member, owner
):
    gets = [
        url("rule-list", workspace),
        url("rule-create", workspace),
        url("rule-search", workspace) + "?kind=target",
        url("rule-search", workspace) + "?kind=object&resource_type=queue",
        url("rule-search", workspace) + "?kind=subject",
        url("rule-explain", workspace),
        url("rule-explain", workspace)
        + f"?explain=1&subject=u:{member.pk}&resource_type=queue&object={rule.object_id}",
        url("rule-edit", workspace, rule.pk),
        url("rule-delete", workspace, rule.pk),
    ]
    posts = [
        url("rule-create", workspace),
        url("rule-edit", workspace, rule.pk),
        url("rule-delete", workspace, rule.pk),
    ]
    events = AuditEvent.objects.count()
    for user, expected in [(outsider, 404), (member, 403), (admin_member, 200), (owner, 200)]:
        client.force_login(user)
        for path in gets:
            assert client.get(path).status_code == expected, (user.username, path)
            assert client.get(path, headers=HX).status_code == expected, (user.username, path)
        if expected != 200:
            for path in posts:
                data = {
                    "resource_type": "queue",
                    "object": "",
                    "permission": "read_modify",
                    "targets": f"u:{user.pk}",
                }
                assert client.post(path, data).status_code == expected, (user.username, path)
    assert AuditEvent.objects.count() == events
    rule.refresh_from_db()
    assert rule.permission == "read"


def test_sidebar_links_the_page(client, workspace, owner):
    client.force_login(owner)
    response = client.get(reverse("access:user-list", args=[workspace.slug]))
    assert f'href="{url("rule-list", workspace)}"' in response.content.decode()
    assert ">Access Rules</a>" in response.content.decode()


def test_the_table_and_its_filters(
    client, workspace, owner, rule, queue, admin_member, plain_service_account, django_assert_num_queries
):
    group = UserGroup.objects.create(workspace=workspace, name="Researchers")
    access_services.rule_create(
        workspace=workspace,
        actor=owner,
        resource_type="task",
        object_id=None,
        permission="read_modify",
        user_ids=[plain_service_account.user_id],
        group_ids=[group.pk],
    )
    client.force_login(owner)
    page = client.get(url("rule-list", workspace)).content.decode()
    assert page.count('data-testid="rule-row"') == 2
    assert "dev-4x" in page and "All tasks" in page and "Researchers" in page and "Read &amp; Modify" in page
    assert "ci-bot" in page and "Explain access" in page

    def rows(**params):
        response = client.get(url("rule-list", workspace), params, headers=HX)
        assert response.status_code == 200 and "<html" not in response.content.decode()
        return response.content.decode().count('data-testid="rule-row"')

    assert rows(view="task") == 1 and rows(view="queue") == 1 and rows(view="nonsense") == 2
    assert rows(object="dev") == 1 and rows(object="all tasks") == 1 and rows(object="zzz") == 0
    assert rows(users="memb") == 1 and rows(users="ci-bot") == 0
    assert rows(service_accounts="ci-bot") == 1 and rows(service_accounts="memb") == 0
    assert rows(groups="research") == 1 and rows(groups="memb") == 0
    assert rows(view="queue", groups="research") == 0
    assert (
        "No rule matches these filters."
        in client.get(url("rule-list", workspace), {"object": "zzz"}, headers=HX).content.decode()
    )
    # Bounded queries: more rules and targets cost no more queries.
    client.get(url("rule-list", workspace), headers=HX)
    with django_assert_num_queries(9) as ctx:
        client.get(url("rule-list", workspace), headers=HX)
    baseline = len(ctx.captured_queries)
    for i in range(5):
        access_services.rule_create(
            workspace=workspace,
            actor=owner,
            resource_type="queue",
            object_id=queue.pk,
            permission="read",
            user_ids=[admin_member.pk, plain_service_account.user_id],
            group_ids=[UserGroup.objects.create(workspace=workspace, name=f"g{i}").pk],
        )
    with django_assert_num_queries(baseline):
        response = client.get(url("rule-list", workspace), headers=HX)
    assert response.content.decode().count('data-testid="rule-row"') == 7
    with django_assert_num_queries(baseline):
        client.get(
            url("rule-list", workspace), {"users": "adm", "groups": "g", "service_accounts": "ci"}, headers=HX
        )


def test_the_table_is_paginated(client, workspace, owner, queue, member, monkeypatch):
    from access import selectors_rules

    monkeypatch.setattr(selectors_rules, "RULES_PAGE_SIZE", 3)
    for _ in range(7):
        access_services.rule_create(
            workspace=workspace,
            actor=owner,
            resource_type="queue",
            object_id=queue.pk,
            permission="read",
            user_ids=[member.pk],
            group_ids=[],
        )
    client.force_login(owner)
    first = client.get(url("rule-list", workspace), {"view": "queue"}).content.decode()
    assert first.count('data-testid="rule-row"') == 3 and "Page 1 of 3" in first
    assert "view=queue&amp;page=2" in first
    last = client.get(
        url("rule-list", workspace), {"view": "queue", "page": "3"}, headers=HX
    ).content.decode()
    assert last.count('data-testid="rule-row"') == 1
    assert client.get(url("rule-list", workspace), {"page": "junk"}).status_code == 200


def test_add_a_rule_without_js(client, workspace, owner, queue, member, admin_member):
    client.force_login(owner)
    create = url("rule-create", workspace)
    base = {"resource_type": "queue", "object": str(queue.pk), "permission": "read_modify"}
    # Search the targets, add one (nothing saved yet), then save.
    found = client.post(create, {**base, "target_q": "memb", "find": "1"}).content.decode()
    assert f'value="u:{member.pk}"' in found and 'data-testid="picker-option"' in found
    added = client.post(create, {**base, "add": f"u:{member.pk}"}).content.decode()
    assert f'name="targets" value="u:{member.pk}"' in added
    assert not AccessRule.objects.exists()
    # Filtering the objects lists the matching queues.
    listed = client.post(create, {**base, "object_q": "dev", "find": "1"}).content.decode()
    assert ">dev-4x</option>" in listed
    response = client.post(create, {**base, "targets": [f"u:{member.pk}"], "save": "1"})
    assert response.status_code == 302
    rule = AccessRule.objects.get()
    assert (rule.resource_type, rule.object_id, rule.permission) == ("queue", str(queue.pk), "read_modify")
    assert list(rule.users.all()) == [member]
    assert AuditEvent.objects.filter(action="access_rule.create", target_id=str(rule.pk)).exists()


def test_htmx_search_endpoints(client, workspace, owner, queue, member):
    client.force_login(owner)
    search = url("rule-search", workspace)
    objects = client.get(search, {"kind": "object", "resource_type": "queue", "object_q": "dev"}, headers=HX)
    assert ">dev-4x</option>" in objects.content.decode() and "<form" not in objects.content.decode()
    none = client.get(search, {"kind": "object", "resource_type": "queue", "object_q": "zzz"}, headers=HX)
    assert "dev-4x" not in none.content.decode()
    Job.objects.create(
        workspace=workspace, name="train-resnet", task_id="abc", queue=queue, queue_name="dev-4x"
    )
    tasks = client.get(search, {"kind": "object", "resource_type": "task", "object_q": "resnet"}, headers=HX)
    assert "train-resnet (dev-4x)" in tasks.content.decode()
    targets = client.get(
        search, {"kind": "target", "target_q": "memb", "targets": []}, headers=HX
    ).content.decode()
    assert f'value="u:{member.pk}"' in targets
    excluded = client.get(
        search, {"kind": "target", "target_q": "memb", "targets": [f"u:{member.pk}"]}, headers=HX
    ).content.decode()
    assert f'value="u:{member.pk}"' not in excluded


def test_bad_input_is_422_and_changes_nothing(client, workspace, owner, queue, member, outsider):
    client.force_login(owner)
    create = url("rule-create", workspace)
    cases = [
        {"resource_type": "project", "object": "", "permission": "read", "targets": [f"u:{member.pk}"]},
        {"resource_type": "queue", "object": "nope", "permission": "read", "targets": [f"u:{member.pk}"]},
        {"resource_type": "queue", "object": "999999", "permission": "read", "targets": [f"u:{member.pk}"]},
        {"resource_type": "queue", "object": "", "permission": "write", "targets": [f"u:{member.pk}"]},
        {"resource_type": "queue", "object": "", "permission": "read", "targets": []},
        {"resource_type": "queue", "object": "", "permission": "read", "targets": [f"u:{outsider.pk}"]},
    ]
    for data in cases:
        assert client.post(create, {**data, "save": "1"}).status_code == 422, data
        response = client.post(create, {**data, "save": "1"}, headers=HX)
        assert response.status_code == 422, data
        assert 'id="rule-form"' in response.content.decode()
    assert not AccessRule.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="access_rule.").exists()


def test_edit_and_delete(client, workspace, owner, rule, member):
    group = UserGroup.objects.create(workspace=workspace, name="Researchers")
    GroupMembership.objects.create(group=group, user=member)
    client.force_login(owner)
    edit = url("rule-edit", workspace, rule.pk)
    form = client.get(edit, headers=HX).content.decode()
    assert f'name="targets" value="u:{member.pk}"' in form and "selected" in form
    response = client.post(
        edit,
        {
            "resource_type": "task",
            "object": "",
            "permission": "read_modify",
            "targets": [f"g:{group.pk}"],
            "save": "1",
        },
        headers=HX,
    )
    assert response.status_code == 200 and 'id="rule-table"' in response.content.decode()
    rule.refresh_from_db()
    assert (rule.resource_type, rule.object_id, rule.permission) == ("task", None, "read_modify")
    assert list(rule.groups.all()) == [group] and not rule.users.exists()
    assert AuditEvent.objects.filter(action="access_rule.update", target_id=str(rule.pk)).exists()
    delete = url("rule-delete", workspace, rule.pk)
    assert "Delete access rule" in client.get(delete, headers=HX).content.decode()
    assert client.post(delete).status_code == 302
    assert not AccessRule.objects.exists()
    assert AuditEvent.objects.filter(action="access_rule.delete", target_id=str(rule.pk)).exists()


def test_rules_of_another_workspace_are_404(client, workspace, owner, outsider, rule):
    from tests.factories import make_workspace

    other = make_workspace(owner=outsider, name="Other")
    client.force_login(outsider)
    assert client.get(url("rule-edit", other, rule.pk)).status_code == 404
    assert client.post(url("rule-delete", other, rule.pk)).status_code == 404
    assert AccessRule.objects.filter(pk=rule.pk).exists()


def test_the_chosen_object_stays_listed_whatever_the_filter(client, workspace, owner, rule, queue):
    client.force_login(owner)
    response = client.post(
        url("rule-edit", workspace, rule.pk),
        {
            "resource_type": "queue",
            "object": str(queue.pk),
            "permission": "read",
            "object_q": "zzz",
            "find": "1",
        },
    )
    assert f'<option value="{queue.pk}" selected>dev-4x</option>' in response.content.decode()
    rule.refresh_from_db()
    assert rule.permission == "read"  # a search step saves nothing


def test_explain_access_in_a_standalone_workspace(client, workspace, owner, rule, queue, member, outsider):
    client.force_login(owner)
    explain = url("rule-explain", workspace)
    page = client.get(explain)
    assert page.status_code == 200 and "Explain access" in page.content.decode()
    answer = client.get(
        explain,
        {"subject": f"u:{member.pk}", "resource_type": "queue", "object": str(queue.pk), "explain": "1"},
    ).content.decode()
    assert 'data-testid="explain-level">Read Only<' in answer
    assert "The rule on queue “dev-4x” grants Read Only to member directly." in answer
    assert f'href="{url("rule-edit", workspace, rule.pk)}"' in answer
    subjects = client.get(url("rule-search", workspace), {"kind": "subject", "subject_q": "memb"}, headers=HX)
    assert f'value="u:{member.pk}"' in subjects.content.decode() and "owner" not in subjects.content.decode()
    # Bad input: field errors and 422, never 5xx.
    bad = [
        {"resource_type": "queue", "object": str(queue.pk)},
        {"subject": "nonsense", "resource_type": "queue"},
        {"subject": f"u:{outsider.pk}", "resource_type": "queue"},
        {"subject": f"u:{member.pk}", "resource_type": "spaceship"},
        {"subject": f"u:{member.pk}", "resource_type": "project"},
        {"subject": f"u:{member.pk}", "resource_type": "queue", "object": "x" * 500},
    ]
    for params in bad:
        for headers in ({}, HX):
            response = client.get(explain, {**params, "explain": "1"}, headers=headers)
            assert response.status_code == 422, params
            assert 'id="explain-form"' in response.content.decode()


def test_standalone_workspaces_say_they_have_no_projects(client, workspace, owner, member):
    client.force_login(owner)
    field = client.get(
        url("rule-search", workspace), {"kind": "object", "resource_type": "project"}, headers=HX
    ).content.decode()
    assert 'data-testid="no-server-note"' in field and "not linked to a ClearML server" in field
    assert 'data-testid="dataview-note"' not in field
    response = client.post(
        url("rule-create", workspace),
        {
            "resource_type": "project",
            "object": "",
            "permission": "read",
            "targets": [f"u:{member.pk}"],
            "save": "1",
        },
    )
    assert response.status_code == 422 and not AccessRule.objects.exists()


def test_the_htmx_only_lists_opened_as_pages_show_inside_the_layout(client, workspace, owner, queue, member):
    client.force_login(owner)
    search = url("rule-search", workspace)
    cases = [
        (search, {"kind": "object", "resource_type": "queue"}, ["All queues", "dev-4x"], "Access Rules"),
        (search, {"kind": "target", "target_q": "memb"}, ["member"], "Access Rules"),
        (search, {"kind": "subject", "subject_q": "memb"}, ["member"], "Explain access"),
        (url("group-member-search", workspace), {"search": "memb"}, ["member"], "Users &amp; Groups"),
    ]
    for path, params, listed, back in cases:
        response = client.get(path, params)
        html = response.content.decode()
        assert response.status_code == 200 and "<html" in html and 'data-testid="search-page"' in html, path
        assert f">{back}</a>" in html and all(text in html for text in listed), (path, params)
        assert "HX-Request" in response["Vary"]
        fragment = client.get(path, params, headers=HX).content.decode()
        assert "<html" not in fragment and 'data-testid="search-page"' not in fragment
