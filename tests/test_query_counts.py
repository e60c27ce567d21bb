"""Pages at scale: more rows must not mean more queries (growth checks, not fixed ceilings).

Each test counts a page's queries with a little data, adds many more rows of what the page lists,
and counts again: the two counts are equal. A page that loops over rows with a query per row (N+1)
fails here, with the queries that grew in the message.
"""

import itertools
from collections import Counter

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from access.models import GroupMembership, UserGroup
from access.services import service_account_create
from resources import draft as drafts
from resources.models import Job, JobState
from resources.services.editor import draft_save, editor_edit
from resources.services.policies import QueueSpec, policy_create
from resources.services.provisioning import draft_provision
from resources.services.scheduling import resource_management_set
from tests.factories import UserFactory
from vaults import services as vault_services
from workspaces.credentials import credential_create
from workspaces.models import Role
from workspaces.services import membership_add

_names = itertools.count(1)


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def _queries(client, url: str) -> list[str]:
    cache.clear()  # every count starts from the same (cold) cache
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.status_code
    return [query["sql"] for query in captured.captured_queries]


def assert_no_growth(client, url: str, add_rows, *, expect_text=None) -> None:
    """URL's queries with the data as it is, then after ADD_ROWS(): the same number. ADD_ROWS may
    return a text the page must then show (proof that the new rows are on it)."""
    client.get(url)  # the first visit also stores the current workspace in the session
    few = _queries(client, url)
    shown = add_rows()
    client.get(url)
    many = _queries(client, url)
    html = client.get(url).content.decode()
    for text in [t for t in (expect_text, shown) if t]:
        assert text in html, f"{text!r} not on the page: the new rows are not listed"
    if len(many) != len(few):
        grown = Counter(many) - Counter(few)
        detail = "\n".join(f"{n}x {sql[:300]}" for sql, n in grown.most_common(5))
        pytest.fail(f"{url}: {len(few)} queries grew to {len(many)} with more rows:\n{detail}")


# --- Resources: the policies dashboard and the editor ----------------------------------------------


def _provision(workspace, actor, n: int) -> dict:
    """N more pools and profiles (each profile on its pool), provisioned; {name: Profile}."""
    names = [f"p{next(_names)}" for _ in range(n)]

    def build(d):
        keys = {}
        for name in names:
            d = drafts.pool_add(d, name=f"{name}-pool", capacity=8)
            d = drafts.profile_add(d, name=f"{name}-gpu", allotment=1)
        for item in d["pools"] + d["profiles"]:
            keys[item["name"]] = item["key"]
        for name in names:
            d = drafts.link_add(
                d, profile=keys[f"{name}-gpu"], pool=keys[f"{name}-pool"], name=f"{name}-link"
            )
        return d

    editor_edit(workspace=workspace, actor=actor, edit=build)
    draft_save(workspace=workspace, actor=actor)
    draft_provision(workspace=workspace, actor=actor)
    from resources.models import Profile

    return {p.name: p for p in Profile.objects.for_workspace(workspace)}


def _policies(workspace, owner, n: int) -> str:
    """N policies, each for its own group with two members, with a queue and pending jobs."""
    profiles = _provision(workspace, owner, n)
    fresh = [p for name, p in profiles.items() if not p.queues.exists()][:n]
    for profile in fresh:
        group = UserGroup.objects.create(workspace=workspace, name=f"g{next(_names)}")
        for _ in range(2):
            user = UserFactory()
            membership_add(workspace=workspace, user=user, role=Role.MEMBER, actor=owner)
            GroupMembership.objects.create(group=group, user=user)
        policy = policy_create(
            workspace=workspace,
            actor=owner,
            name=f"Policy {group.name}",
            group=group,
            reservation=1,
            limit=4,
            queues=[QueueSpec(profile=profile, name=f"q-{profile.name}")],
        )
        queue = policy.queues.get()
        for i in range(3):
            Job.objects.create(
                workspace=workspace,
                name=f"job {i}",
                task_id=f"t{next(_names)}",
                state=JobState.PENDING,
                queue=queue,
                policy=policy,
                profile=profile,
                queue_name=queue.name,
                created_by=owner,
            )
    return policy.name


def test_policies_dashboard(client, owner, workspace):
    resource_management_set(workspace=workspace, actor=owner, enabled=True)
    _policies(workspace, owner, 1)
    client.force_login(owner)
    url = reverse("resources:policies", args=[workspace.slug])
    assert_no_growth(client, url, lambda: _policies(workspace, owner, 6))


def test_policies_dashboard_with_a_policy_shown(client, owner, workspace):
    resource_management_set(workspace=workspace, actor=owner, enabled=True)
    _policies(workspace, owner, 1)
    from resources.models import Policy

    policy = Policy.objects.for_workspace(workspace).get()
    client.force_login(owner)
    url = reverse("resources:policies", args=[workspace.slug]) + f"?policy={policy.pk}"

    def more():
        _policies(workspace, owner, 4)
        for i in range(10):
            queue = policy.queues.get()
            Job.objects.create(
                workspace=workspace,
                name=f"more {i}",
                task_id=f"m{next(_names)}",
                state=JobState.PENDING,
                queue=queue,
                policy=policy,
                profile=queue.profile,
                queue_name=queue.name,
                created_by=owner,
            )

    assert_no_growth(client, url, more)


def test_resource_editor(client, owner, workspace):
    _provision(workspace, owner, 1)
    client.force_login(owner)
    url = reverse("resources:editor", args=[workspace.slug])
    assert_no_growth(client, url, lambda: sorted(_provision(workspace, owner, 8))[-1])


def test_resource_configuration_page(client, owner, workspace):
    _provision(workspace, owner, 1)
    client.force_login(owner)
    url = reverse("resources:config", args=[workspace.slug])
    assert_no_growth(client, url, lambda: _policies(workspace, owner, 5))


# --- Users & Groups: the service-account list -------------------------------------------------------


def _service_accounts(workspace, owner, n: int) -> str:
    """N service accounts, each with a second key pair and in a group."""
    for _ in range(n):
        name = f"bot-{next(_names)}"
        account, _credential, _secret = service_account_create(
            workspace=workspace, actor=owner, name=name, allow_impersonation=True
        )
        credential_create(workspace=workspace, actor=owner, label="second", user=account.user)
        group = UserGroup.objects.create(workspace=workspace, name=f"{name}-group")
        GroupMembership.objects.create(group=group, user=account.user)
    return name


def test_service_account_list(client, owner, workspace):
    _service_accounts(workspace, owner, 1)
    client.force_login(owner)
    url = reverse("access:service-account-list", args=[workspace.slug])
    assert_no_growth(client, url, lambda: _service_accounts(workspace, owner, 8), expect_text="bot-")


def test_user_list(client, owner, workspace):
    client.force_login(owner)
    url = reverse("access:user-list", args=[workspace.slug])

    def more():
        for _ in range(8):
            user = UserFactory()
            membership_add(workspace=workspace, user=user, role=Role.MEMBER, actor=owner)
            group = UserGroup.objects.create(workspace=workspace, name=f"team-{next(_names)}")
            GroupMembership.objects.create(group=group, user=user)
            credential_create(workspace=workspace, actor=user, label="k")
        return user.email

    assert_no_growth(client, url, more)


# --- Vaults: the effective configuration ---------------------------------------------------------


def _vaults(workspace, owner, subject, n: int) -> str:
    """N group vaults that apply to SUBJECT (each through its own group), and more members."""
    for _ in range(n):
        group = UserGroup.objects.create(workspace=workspace, name=f"vg{next(_names)}")
        GroupMembership.objects.create(group=group, user=subject)
        vault_services.group_vault_create(
            workspace=workspace,
            actor=owner,
            name=f"vault {group.name}",
            group=group,
            fmt="hocon",
            content=f'sdk.{group.name}.value: 1\nsdk.{group.name}.secret_key: "s3cret"',
        )
        user = UserFactory()
        membership_add(workspace=workspace, user=user, role=Role.MEMBER, actor=owner)
    vault_services.user_vault_save(
        workspace=workspace, user=subject, actor=subject, fmt="hocon", content=f"own.n: {next(_names)}"
    )
    return f"sdk.{group.name}.value"


@pytest.mark.parametrize("viewer_is_subject", [True, False], ids=["own", "admin-picks-member"])
def test_effective_configuration(client, owner, member, workspace, viewer_is_subject):
    _vaults(workspace, owner, member, 1)
    url = reverse("vaults:effective-config", args=[workspace.slug])
    if viewer_is_subject:
        client.force_login(member)
    else:
        client.force_login(owner)
        url += f"?user={member.pk}"
    assert_no_growth(client, url, lambda: _vaults(workspace, owner, member, 8))


# --- The audit log -------------------------------------------------------------------------------


def test_audit_log(client, owner, workspace):
    client.force_login(owner)
    url = reverse("workspaces:audit-log", args=[workspace.slug])

    def more():
        _service_accounts(workspace, owner, 5)
        _vaults(workspace, owner, owner, 3)
        return "Created a service account"

    assert_no_growth(client, url, more)
