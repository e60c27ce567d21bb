"""Access Rules: the check (default, inheritance, groups, admins, read vs modify), the services
(validation, audit) and the enforcement in the resources API (tasks.enqueue, tasks.stopped)."""

import pytest
from django.core.exceptions import ValidationError

from access import permissions
from access import services as access_services
from access.models import AccessRule, UserGroup
from resources.models import Job, JobState
from tests.api.conftest import Api, _fresh_api_state  # noqa: F401  (autouse fixture)
from workspaces.credentials import credential_create
from workspaces.models import AuditEvent
from workspaces.selectors import membership_find

pytestmark = pytest.mark.django_db

QUEUE, TASK, READ, MODIFY = "queue", "task", "read", "read_modify"


def can(user, workspace, obj, action) -> bool:
    return permissions.can(membership_find(workspace=workspace, user=user), obj, action)


def make_rule(workspace, owner, resource_type, obj=None, permission=READ, users=(), groups=()):
    return access_services.rule_create(
        workspace=workspace,
        actor=owner,
        resource_type=resource_type,
        object_id=obj.pk if obj is not None else None,
        permission=permission,
        user_ids=[u.pk for u in users],
        group_ids=[g.pk for g in groups],
    )


def test_by_default_every_member_reads_and_modifies(workspace, setup, member, stranger, outsider):
    for user in (member, stranger):
        assert can(user, workspace, setup["queue"], MODIFY)
        assert can(user, workspace, setup["jobs"]["job-a"], MODIFY)
    assert not can(outsider, workspace, setup["queue"], READ)


def test_a_rule_restricts_its_object_to_its_targets(workspace, owner, setup, member, stranger):
    make_rule(workspace, owner, QUEUE, setup["queue"], READ, users=[member])
    assert can(member, workspace, setup["queue"], READ)
    assert not can(member, workspace, setup["queue"], MODIFY)  # read only
    assert not can(stranger, workspace, setup["queue"], READ)
    # Another queue has no rule: still open to everyone.
    assert can(stranger, workspace, setup["other"], MODIFY)


def test_read_and_modify_includes_read(workspace, owner, setup, member):
    make_rule(workspace, owner, QUEUE, setup["queue"], MODIFY, users=[member])
    assert can(member, workspace, setup["queue"], READ)
    assert can(member, workspace, setup["queue"], MODIFY)


def test_a_rule_on_all_queues_covers_every_queue(workspace, owner, setup, member, stranger):
    make_rule(workspace, owner, QUEUE, None, MODIFY, users=[member])
    for queue in (setup["queue"], setup["other"]):
        assert can(member, workspace, queue, MODIFY)
        assert not can(stranger, workspace, queue, READ)


def test_group_targets_grant_their_members(workspace, owner, setup, member, stranger):
    make_rule(workspace, owner, QUEUE, setup["queue"], MODIFY, groups=[setup["dev"]])
    assert can(member, workspace, setup["queue"], MODIFY)  # member is in Dev
    assert not can(stranger, workspace, setup["queue"], READ)


def test_the_builtin_users_group_covers_everyone(workspace, owner, setup, stranger):
    from access.selectors import builtin_groups

    users = builtin_groups(workspace=workspace)["users"]
    make_rule(workspace, owner, QUEUE, setup["queue"], READ, groups=[users])
    assert can(stranger, workspace, setup["queue"], READ)
    assert not can(stranger, workspace, setup["queue"], MODIFY)


def test_admins_always_have_full_access(workspace, owner, admin_member, setup, member):
    make_rule(workspace, owner, QUEUE, None, READ, users=[member])
    make_rule(workspace, owner, TASK, None, READ, users=[member])
    for admin in (owner, admin_member):
        assert can(admin, workspace, setup["queue"], MODIFY)
        assert can(admin, workspace, setup["jobs"]["job-a"], MODIFY)


def test_a_queue_rule_covers_its_tasks(workspace, owner, setup, member, stranger):
    make_rule(workspace, owner, QUEUE, setup["queue"], MODIFY, users=[member])
    job = setup["jobs"]["job-a"]
    assert can(member, workspace, job, MODIFY)
    assert not can(stranger, workspace, job, READ)
    # A job in another queue is not covered.
    other = Job.objects.create(workspace=workspace, name="x", task_id="x", queue=setup["other"])
    assert can(stranger, workspace, other, MODIFY)


def test_a_rule_on_one_task_does_not_cover_other_tasks(workspace, owner, setup, member, stranger):
    make_rule(workspace, owner, TASK, setup["jobs"]["job-a"], READ, users=[stranger])
    assert can(stranger, workspace, setup["jobs"]["job-a"], READ)
    assert not can(member, workspace, setup["jobs"]["job-a"], READ)
    assert can(member, workspace, setup["jobs"]["job-b"], MODIFY)  # no rule there


def test_deleting_a_rule_restores_the_default(workspace, owner, setup, stranger):
    rule = make_rule(workspace, owner, QUEUE, setup["queue"], READ, users=[owner])
    assert not can(stranger, workspace, setup["queue"], READ)
    access_services.rule_delete(rule=rule, actor=owner)
    assert can(stranger, workspace, setup["queue"], MODIFY)


def test_services_write_audit_rows(workspace, owner, setup, member, stranger):
    rule = make_rule(workspace, owner, QUEUE, setup["queue"], READ, users=[member])
    access_services.rule_update(
        rule=rule,
        actor=owner,
        resource_type=QUEUE,
        object_id=None,
        permission=MODIFY,
        user_ids=[stranger.pk],
        group_ids=[],
    )
    rule.refresh_from_db()
    assert (rule.object_id, rule.permission, list(rule.users.all())) == (None, MODIFY, [stranger])
    access_services.rule_delete(rule=rule, actor=owner)
    events = AuditEvent.objects.filter(workspace=workspace, action__startswith="access_rule.").order_by("id")
    assert [e.action for e in events] == ["access_rule.create", "access_rule.update", "access_rule.delete"]
    assert events[1].after["permission"] == MODIFY and events[1].before["permission"] == READ


def test_bad_input_changes_nothing(workspace, owner, setup, member, outsider):
    from tests.factories import make_workspace

    other_ws = make_workspace(owner=outsider, name="Other")
    cases = [
        {"resource_type": "project", "object_id": None, "user_ids": [member.pk]},
        {"resource_type": QUEUE, "object_id": 999999, "user_ids": [member.pk]},
        {"resource_type": QUEUE, "object_id": None, "user_ids": [outsider.pk]},  # not a member
        {"resource_type": QUEUE, "object_id": None, "user_ids": []},  # no target
    ]
    foreign_group = UserGroup.objects.create(workspace=other_ws, name="Foreign")
    for case in cases:
        with pytest.raises(ValidationError):
            access_services.rule_create(
                workspace=workspace, actor=owner, permission=READ, group_ids=[], **case
            )
    with pytest.raises(ValidationError):
        access_services.rule_create(
            workspace=workspace,
            actor=owner,
            resource_type=QUEUE,
            object_id=None,
            permission="write",
            user_ids=[],
            group_ids=[foreign_group.pk],
        )
    assert not AccessRule.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="access_rule.").exists()


# --- Enforcement in the resources API -----------------------------------------------------------------


@pytest.fixture
def api(client):
    return Api(client)


def token_for(api, workspace, user):
    credential, secret = credential_create(workspace=workspace, actor=user, label="key")
    return api.login(credential.access_key, secret)


def test_enqueue_needs_modify_on_the_queue(api, workspace, owner, setup, member):
    token = token_for(api, workspace, member)
    rule = make_rule(workspace, owner, QUEUE, setup["queue"], READ, users=[member])
    status, body = api.call("tasks.enqueue", {"task": "t1", "queue_name": "dev-4x"}, token=token)
    assert status == 403, body
    assert not Job.objects.filter(task_id="t1").exists()
    access_services.rule_update(
        rule=rule,
        actor=owner,
        resource_type=QUEUE,
        object_id=setup["queue"].pk,
        permission=MODIFY,
        user_ids=[member.pk],
        group_ids=[],
    )
    status, body = api.call("tasks.enqueue", {"task": "t1", "queue_name": "dev-4x"}, token=token)
    assert status == 200, body
    assert Job.objects.filter(task_id="t1", queue=setup["queue"]).exists()


def test_stopping_a_task_needs_modify_on_it(api, workspace, owner, setup, member):
    job = setup["jobs"]["job-a"]
    Job.objects.filter(pk=job.pk).update(state=JobState.PENDING, created_by=member)
    token = token_for(api, workspace, member)
    make_rule(workspace, owner, TASK, job, READ, users=[member])
    status, body = api.call("tasks.stopped", {"task": job.task_id}, token=token)
    assert status == 403, body
    job.refresh_from_db()
    assert job.state == JobState.PENDING
    # A modify rule on its queue grants it (inherited), even though the task rule is read only.
    make_rule(workspace, owner, QUEUE, setup["queue"], MODIFY, users=[member])
    status, body = api.call("tasks.stopped", {"task": job.task_id}, token=token)
    assert status == 200, body
    job.refresh_from_db()
    assert job.state == JobState.ABORTED
