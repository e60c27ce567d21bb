"""Access Rules: the check (default, inheritance, groups, admins, read vs modify), the services
(validation, audit) and the enforcement in the resources API (tasks.enqueue, tasks.stopped)."""

import pytest
from django.core.exceptions import ValidationError

from access import rules
from access.models import AccessRule, GroupMembership, UserGroup
from accounts.services import user_create
from resources import services as resource_services
from resources.models import Job, JobState
from tests.api.conftest import Api, _fresh_api_state  # noqa: F401  (autouse fixture)
from tests.resources.helpers import provision_config
from workspaces.credentials import credential_create
from workspaces.models import AuditEvent, Role
from workspaces.services import membership_add

pytestmark = pytest.mark.django_db

QUEUE, TASK, READ, MODIFY = "queue", "task", "read", "read_modify"


@pytest.fixture
def setup(workspace, owner, member):
    _, profiles, _ = provision_config(
        workspace, owner, pools={"gpu": 4}, profiles={"4x": 4}, links=[("4x-gpu", "4x", "gpu")]
    )
    dev = UserGroup.objects.create(workspace=workspace, name="Dev")
    GroupMembership.objects.create(group=dev, user=member)
    queues = {}
    for name in ("dev-4x", "other-4x"):
        policy = resource_services.policy_create(
            workspace=workspace,
            actor=owner,
            name=f"policy {name}",
            group=dev,
            reservation=0,
            limit=8,
            queues=[resource_services.QueueSpec(profile=profiles["4x"], name=name)],
        )
        queues[name] = policy.queues.get()
    resource_services.resource_management_set(workspace=workspace, actor=owner, enabled=True)
    jobs = {
        name: Job.objects.create(
            workspace=workspace, name=name, task_id=name, queue=queues["dev-4x"], queue_name="dev-4x"
        )
        for name in ("job-a", "job-b")
    }
    return {"queue": queues["dev-4x"], "other": queues["other-4x"], "jobs": jobs, "dev": dev}


@pytest.fixture
def stranger(workspace, owner):
    """A second plain member, in no group."""
    user = user_create(email="stranger@example.com", password=None, username="stranger")
    membership_add(workspace=workspace, user=user, role=Role.MEMBER, actor=owner)
    return user


def make_rule(workspace, owner, resource_type, obj=None, permission=READ, users=(), groups=()):
    return rules.rule_create(
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
        assert rules.can(user, workspace, QUEUE, setup["queue"], MODIFY)
        assert rules.can(user, workspace, TASK, setup["jobs"]["job-a"], MODIFY)
    assert not rules.can(outsider, workspace, QUEUE, setup["queue"], READ)


def test_a_rule_restricts_its_object_to_its_targets(workspace, owner, setup, member, stranger):
    make_rule(workspace, owner, QUEUE, setup["queue"], READ, users=[member])
    assert rules.can(member, workspace, QUEUE, setup["queue"], READ)
    assert not rules.can(member, workspace, QUEUE, setup["queue"], MODIFY)  # read only
    assert not rules.can(stranger, workspace, QUEUE, setup["queue"], READ)
    # Another queue has no rule: still open to everyone.
    assert rules.can(stranger, workspace, QUEUE, setup["other"], MODIFY)


def test_read_and_modify_includes_read(workspace, owner, setup, member):
    make_rule(workspace, owner, QUEUE, setup["queue"], MODIFY, users=[member])
    assert rules.can(member, workspace, QUEUE, setup["queue"], READ)
    assert rules.can(member, workspace, QUEUE, setup["queue"], MODIFY)


def test_a_rule_on_all_queues_covers_every_queue(workspace, owner, setup, member, stranger):
    make_rule(workspace, owner, QUEUE, None, MODIFY, users=[member])
    for queue in (setup["queue"], setup["other"]):
        assert rules.can(member, workspace, QUEUE, queue, MODIFY)
        assert not rules.can(stranger, workspace, QUEUE, queue, READ)


def test_group_targets_grant_their_members(workspace, owner, setup, member, stranger):
    make_rule(workspace, owner, QUEUE, setup["queue"], MODIFY, groups=[setup["dev"]])
    assert rules.can(member, workspace, QUEUE, setup["queue"], MODIFY)  # member is in Dev
    assert not rules.can(stranger, workspace, QUEUE, setup["queue"], READ)


def test_the_builtin_users_group_covers_everyone(workspace, owner, setup, stranger):
    from access.selectors import builtin_groups

    users = builtin_groups(workspace=workspace)["users"]
    make_rule(workspace, owner, QUEUE, setup["queue"], READ, groups=[users])
    assert rules.can(stranger, workspace, QUEUE, setup["queue"], READ)
    assert not rules.can(stranger, workspace, QUEUE, setup["queue"], MODIFY)


def test_admins_always_have_full_access(workspace, owner, admin_member, setup, member):
    make_rule(workspace, owner, QUEUE, None, READ, users=[member])
    make_rule(workspace, owner, TASK, None, READ, users=[member])
    for admin in (owner, admin_member):
        assert rules.can(admin, workspace, QUEUE, setup["queue"], MODIFY)
        assert rules.can(admin, workspace, TASK, setup["jobs"]["job-a"], MODIFY)


def test_a_queue_rule_covers_its_tasks(workspace, owner, setup, member, stranger):
    make_rule(workspace, owner, QUEUE, setup["queue"], MODIFY, users=[member])
    job = setup["jobs"]["job-a"]
    assert rules.can(member, workspace, TASK, job, MODIFY)
    assert not rules.can(stranger, workspace, TASK, job, READ)
    # A job in another queue is not covered.
    other = Job.objects.create(workspace=workspace, name="x", task_id="x", queue=setup["other"])
    assert rules.can(stranger, workspace, TASK, other, MODIFY)


def test_a_rule_on_one_task_does_not_cover_other_tasks(workspace, owner, setup, member, stranger):
    make_rule(workspace, owner, TASK, setup["jobs"]["job-a"], READ, users=[stranger])
    assert rules.can(stranger, workspace, TASK, setup["jobs"]["job-a"], READ)
    assert not rules.can(member, workspace, TASK, setup["jobs"]["job-a"], READ)
    assert rules.can(member, workspace, TASK, setup["jobs"]["job-b"], MODIFY)  # no rule there


def test_deleting_a_rule_restores_the_default(workspace, owner, setup, stranger):
    rule = make_rule(workspace, owner, QUEUE, setup["queue"], READ, users=[owner])
    assert not rules.can(stranger, workspace, QUEUE, setup["queue"], READ)
    rules.rule_delete(rule=rule, actor=owner)
    assert rules.can(stranger, workspace, QUEUE, setup["queue"], MODIFY)


def test_services_write_audit_rows(workspace, owner, setup, member, stranger):
    rule = make_rule(workspace, owner, QUEUE, setup["queue"], READ, users=[member])
    rules.rule_update(
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
    rules.rule_delete(rule=rule, actor=owner)
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
            rules.rule_create(workspace=workspace, actor=owner, permission=READ, group_ids=[], **case)
    with pytest.raises(ValidationError):
        rules.rule_create(
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
    rules.rule_update(
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
