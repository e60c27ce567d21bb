"""access.permissions: `restrict` and `can` make one decision; kinds are registry entries (portal-stored
or resolved elsewhere); the services that write enforce the rules whoever calls them."""

import ast
import itertools
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied

from access import kinds as access_kinds
from access import permissions
from access.kinds import ObjectKind, ObjectRef
from access.models import AccessRule
from resources.models import Job, JobState, Queue
from resources.services.jobs import job_abort, job_enqueue
from tests.access.test_access_rules import MODIFY, QUEUE, READ, TASK, make_rule
from workspaces.selectors import membership_find

pytestmark = pytest.mark.django_db

# Rule sets over the fixture's two queues and their jobs: (kind, object key or None, level, target).
RULE_SETS = [
    [],
    [(QUEUE, "queue", READ, "member")],
    [(QUEUE, "queue", MODIFY, "dev")],
    [(QUEUE, None, READ, "stranger")],
    [(TASK, "job-a", READ, "stranger")],
    [(TASK, None, MODIFY, "member"), (QUEUE, "other", READ, "stranger")],
    [(TASK, "job-a", READ, "member"), (QUEUE, "queue", MODIFY, "member")],
    [(QUEUE, "queue", READ, "users"), (TASK, "loose", MODIFY, "stranger")],
]


@pytest.fixture
def world(workspace, owner, setup, member, stranger, admin_member):
    loose = Job.objects.create(workspace=workspace, name="loose", task_id="loose")  # in no queue
    in_other = Job.objects.create(
        workspace=workspace,
        name="other-job",
        task_id="other-job",
        queue=setup["other"],
        queue_name="other-4x",
    )
    from access.selectors import builtin_groups

    return {
        "objects": {
            "queue": setup["queue"],
            "other": setup["other"],
            "job-a": setup["jobs"]["job-a"],
            "job-b": setup["jobs"]["job-b"],
            "loose": loose,
            "other-job": in_other,
        },
        "targets": {
            "member": ("user", member),
            "stranger": ("user", stranger),
            "dev": ("group", setup["dev"]),
            "users": ("group", builtin_groups(workspace=workspace)["users"]),
        },
        "people": [member, stranger, admin_member],
    }


@pytest.mark.parametrize("rule_set", RULE_SETS)
def test_restrict_and_can_make_the_same_decision(workspace, owner, world, rule_set):
    for kind, key, level, target in rule_set:
        how, who = world["targets"][target]
        obj = world["objects"][key] if key else None
        make_rule(
            workspace,
            owner,
            kind,
            obj,
            level,
            users=[who] if how == "user" else [],
            groups=[who] if how == "group" else [],
        )
    for user, action in itertools.product(world["people"], (READ, MODIFY)):
        membership = membership_find(workspace=workspace, user=user)
        for model in (Queue, Job):
            visible = set(model.objects.for_workspace(workspace).restrict(membership, action))
            decided = {
                row
                for row in model.objects.for_workspace(workspace)
                if permissions.can(membership, row, action)
            }
            assert visible == decided, (user, action, model.__name__)


def test_a_job_outside_any_queue_is_not_covered_by_queue_rules(workspace, owner, world, member, stranger):
    make_rule(workspace, owner, QUEUE, None, READ, users=[member])
    loose = world["objects"]["loose"]
    membership = membership_find(workspace=workspace, user=stranger)
    assert permissions.level(membership, loose) == MODIFY
    assert loose in Job.objects.for_workspace(workspace).restrict(membership, MODIFY)
    assert world["objects"]["job-a"] not in Job.objects.for_workspace(workspace).restrict(membership, READ)


def test_outsiders_see_nothing_and_admins_everything(workspace, owner, world, admin_member, member):
    make_rule(workspace, owner, QUEUE, None, READ, users=[member])
    assert not Queue.objects.restrict(None, READ).exists()
    assert not permissions.can(None, world["objects"]["queue"], READ)
    admin = membership_find(workspace=workspace, user=admin_member)
    assert set(Queue.objects.restrict(admin, MODIFY)) == set(Queue.objects.for_workspace(workspace))


def test_query_counts_do_not_grow_with_the_rules(
    workspace, owner, world, member, stranger, django_assert_num_queries
):
    membership = membership_find(workspace=workspace, user=stranger)
    queue = world["objects"]["queue"]
    with django_assert_num_queries(1):  # no rule: one query
        assert permissions.can(membership, queue, MODIFY)
    for job in Job.objects.for_workspace(workspace).filter(queue=queue):
        make_rule(workspace, owner, TASK, job, READ, users=[member])
    make_rule(workspace, owner, QUEUE, queue, READ, users=[member])
    with django_assert_num_queries(3):
        assert not permissions.can(membership, queue, READ)
    with django_assert_num_queries(3):  # build the filter: 3 queries, however many rules
        restricted = Job.objects.for_workspace(workspace).restrict(membership, READ)
    with django_assert_num_queries(1):
        assert sorted(job.name for job in restricted) == ["loose", "other-job"]


def test_a_kind_the_portal_does_not_store_is_one_registry_entry(
    workspace, owner, member, stranger, monkeypatch
):
    """An upstream-like hierarchy: folders hold folders and documents; ancestors come from a resolver."""
    parents = {("doc", 7): ("folder", 2), ("folder", 2): ("folder", 1)}

    def ancestors(_workspace, ref):
        chain = []
        while (ref.kind, ref.id) in parents:
            ref = ObjectRef(*parents[(ref.kind, ref.id)])
            chain.append(ref)
        return chain

    monkeypatch.setitem(access_kinds._KINDS, "folder", ObjectKind("folder", "Folders", ancestors=ancestors))
    monkeypatch.setitem(
        access_kinds._KINDS, "doc", ObjectKind("doc", "Documents", parent="folder", ancestors=ancestors)
    )
    rule = AccessRule.objects.create(
        workspace=workspace, resource_type="folder", object_id=1, permission=READ
    )
    rule.users.set([member])
    as_member = membership_find(workspace=workspace, user=member)
    as_stranger = membership_find(workspace=workspace, user=stranger)
    doc = ObjectRef("doc", 7)
    # The rule on the top folder covers the sub-folder and the document in it.
    assert permissions.level(as_member, doc) == READ
    assert permissions.level(as_stranger, doc) is None
    assert permissions.level(as_stranger, ObjectRef("doc", 8)) == MODIFY  # not under folder 1
    # What a gateway needs to rewrite a listing's filter, from one index.
    index = permissions.rule_index(as_stranger, ["folder", "doc"])
    assert index.kinds["folder"].ranks_by_id == {"1": 0}  # ids as text (upstream ids are strings)
    assert index.level_of(permissions.lineage(workspace, doc)) is None


def test_job_abort_enforces_the_rules_for_every_caller(workspace, owner, setup, member, stranger):
    job = setup["jobs"]["job-a"]
    Job.objects.filter(pk=job.pk).update(state=JobState.PENDING)
    make_rule(workspace, owner, TASK, job, READ, users=[stranger])
    with pytest.raises(PermissionDenied, match="access rule"):
        job_abort(job=job, actor=stranger)
    job.refresh_from_db()
    assert job.state == JobState.PENDING
    assert job_abort(job=job, actor=owner)  # an administrator


def test_job_enqueue_enforces_the_rules_for_every_caller(workspace, owner, setup, member):
    make_rule(workspace, owner, QUEUE, setup["queue"], READ, users=[member])
    with pytest.raises(PermissionDenied, match="access rule"):
        job_enqueue(workspace=workspace, actor=member, queue=setup["queue"], name="x")
    assert not Job.objects.filter(name="x").exists()


def test_access_imports_no_app_that_owns_objects():
    """The kinds come to access through the registry: access never imports resources (or the gateway),
    except its bridge modules to the gateway (issue 12: the ClearML server's objects, the
    enforcement of the rules on forwarded calls and on their answers), which import nothing but
    the gateway."""
    root = Path(__file__).resolve().parents[2]
    offenders = {}
    bridges = {"access/gateway.py", "access/upstream.py", "access/answers.py", "access/visibility.py"}
    for path in (root / "access").rglob("*.py"):
        tree = ast.parse(path.read_text())
        modules = {
            node.module.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
        } | {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        }
        forbidden = {"resources", "vaults", "billing", "identity", "gateway"}
        if str(path.relative_to(root)) in bridges:
            forbidden.discard("gateway")
        if modules & forbidden:
            offenders[str(path.relative_to(root))] = sorted(modules)
    assert offenders == {}
