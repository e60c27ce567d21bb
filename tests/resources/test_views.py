"""The Resource Configuration and Resource Policies pages through the test client (htmx and plain)."""

import pytest
from django.urls import reverse

from access.models import GroupMembership, UserGroup
from resources.draft import link_key, pool_key, profile_key
from resources.models import Job, JobState, Link, Policy, Pool, Profile, Queue
from resources.selectors import editor_state_get
from resources.services.policies import QueueSpec, policy_create
from resources.services.scheduling import resource_management_set, settings_get
from workspaces.models import AuditEvent

from .helpers import provision_config

pytestmark = pytest.mark.django_db
HX = {"HX-Request": "true"}


def url(name, workspace, *args):
    return reverse(f"resources:{name}", args=[workspace.slug, *args])


@pytest.fixture
def admin_client(client, admin_member):
    client.force_login(admin_member)
    return client


def draft(workspace):
    return editor_state_get(workspace=workspace).draft


@pytest.mark.parametrize("name", ["config", "editor", "policies"])
def test_access(client, workspace, outsider, member, admin_member, name):
    client.force_login(outsider)
    assert client.get(url(name, workspace)).status_code == 404
    client.force_login(member)
    assert client.get(url(name, workspace)).status_code == 403
    client.force_login(admin_member)
    assert client.get(url(name, workspace)).status_code == 200


def test_editor_journey_without_javascript(admin_client, workspace):
    """Every step as plain form posts: add pool and profile, connect, save, provision."""
    c = admin_client
    response = c.post(
        url("pool-new", workspace), {"name": "H100", "capacity": "8", "description": "superpod"}
    )
    assert response.status_code == 302 and response["Location"] == url("editor", workspace)
    c.post(url("profile-new", workspace), {"name": "4xGPU", "allotment": "4"})
    d = draft(workspace)
    pool, profile = d["pools"][0]["key"], d["profiles"][0]["key"]
    page = c.get(url("connect", workspace), {"profile": profile, "pool": pool})
    assert b"Connect Profile" in page.content and b'value="4xGPU H100"' in page.content
    c.post(url("connect", workspace), {"profile": profile, "pool": pool, "name": "4 GPU H100"})
    assert not Pool.objects.exists()  # nothing provisioned yet
    editor = c.get(url("editor", workspace)).content.decode()
    assert "Unsaved changes" in editor and "4 GPU H100" in editor
    assert "No resource pools" in c.get(url("config", workspace)).content.decode()  # outside: provisioned

    # Provision with unsaved changes asks first (the dialog is a page without JS): nothing applied.
    response = c.post(url("provision", workspace))
    assert response.status_code == 302 and response["Location"] == url("provision", workspace)
    assert "Save and provision" in c.get(url("provision", workspace)).content.decode()
    assert not Pool.objects.exists()
    c.post(url("save", workspace))
    assert "Saved draft" in c.get(url("editor", workspace)).content.decode()
    assert not Pool.objects.exists()
    response = c.post(url("provision", workspace))
    assert response.status_code == 302
    assert Link.objects.get(name="4 GPU H100").pool.capacity == 8
    config = c.get(url("config", workspace)).content.decode()
    assert "H100" in config and "4 GPU H100" in config
    # The line from the server (resources.js redraws it from the cards' boxes): the middle of the
    # first pool card down to the middle of the first profile card.
    assert '<path d="M114.0 0 C114.0 36 114.0 36 114.0 72">' in config
    assert AuditEvent.objects.filter(workspace=workspace, action="resources.provision").exists()

    c.post(url("exit", workspace))
    assert settings_get(workspace=workspace).working_draft is None


def test_editor_with_htmx_answers_the_board(admin_client, workspace):
    c = admin_client
    response = c.post(url("pool-new", workspace), {"name": "Pool A", "capacity": "4"}, headers=HX)
    html = response.content.decode()
    assert (
        response.status_code == 200 and 'id="rc-board"' in html and "<html" not in html and "Pool A" in html
    )
    response = c.get(url("pool-new", workspace), headers=HX)
    assert 'id="pool-form"' in response.content.decode() and "<html" not in response.content.decode()


@pytest.mark.parametrize(
    ("data", "field_error"),
    [
        ({"name": "", "capacity": "4"}, "This field is required"),
        ({"name": "X", "capacity": "-1"}, "Must not be negative"),
        ({"name": "X", "capacity": "abc"}, "Enter the number of resources"),
        ({"name": "X", "capacity": "0.0001"}, "three decimal places"),
    ],
)
def test_bad_pool_input_is_422_and_changes_nothing(admin_client, workspace, data, field_error):
    response = admin_client.post(url("pool-new", workspace), data, headers=HX)
    assert response.status_code == 422
    assert field_error in response.content.decode()
    assert response["HX-Retarget"] == "#modal-content"
    assert draft(workspace)["pools"] == []


def test_duplicate_names_are_refused(admin_client, workspace):
    admin_client.post(url("pool-new", workspace), {"name": "Same", "capacity": "1"})
    response = admin_client.post(url("pool-new", workspace), {"name": "same", "capacity": "2"})
    assert response.status_code == 422 and "already exists" in response.content.decode()
    assert len(draft(workspace)["pools"]) == 1


@pytest.fixture
def provisioned(workspace, owner):
    pools, profiles, _ = provision_config(
        workspace,
        owner,
        pools={"A": 8, "B": 8},
        profiles={"4x": 4, "2x": 2},
        links=[("4x-A", "4x", "A"), ("4x-B", "4x", "B"), ("2x-A", "2x", "A")],
    )
    return pools, profiles


def test_reorder_by_drag_and_by_keyboard(admin_client, workspace, provisioned):
    pools, profiles = provisioned
    f4 = profile_key(profiles["4x"].pk)
    a = pool_key(pools["A"].pk)
    links = {x.name: link_key(x.pk) for x in Link.objects.all()}
    # Drag and drop sends the whole order.
    response = admin_client.post(
        url("order", workspace),
        {"scope": "profile", "owner": f4, "order": [links["4x-B"], links["4x-A"]]},
        headers=HX,
    )
    assert response.status_code == 200
    d = draft(workspace)
    assert [
        x["name"]
        for x in sorted((x for x in d["links"] if x["profile"] == f4), key=lambda x: x["precedence"])
    ] == [
        "4x-B",
        "4x-A",
    ]
    # The ▲▼ buttons move one item.
    admin_client.post(
        url("move", workspace), {"scope": "pool", "owner": a, "item": links["2x-A"], "direction": "up"}
    )
    d = draft(workspace)
    assert [
        x["name"]
        for x in sorted((x for x in d["links"] if x["pool"] == a), key=lambda x: x["execution_priority"])
    ] == [
        "2x-A",
        "4x-A",
    ]
    # A stale or forged order is refused without a change.
    response = admin_client.post(
        url("order", workspace), {"scope": "profile", "owner": f4, "order": [links["4x-A"]]}, headers=HX
    )
    assert response.status_code == 422 and "exactly once" in response.content.decode()
    response = admin_client.post(url("move", workspace), {"scope": "nope"}, headers=HX)
    assert response.status_code == 422
    # Provisioned, the new orders are what the scheduler reads.
    admin_client.post(url("save", workspace))
    admin_client.post(url("provision", workspace))
    assert Link.objects.get(name="4x-B").precedence == 1
    assert Link.objects.get(name="2x-A").execution_priority == 1


def test_policy_priority_is_edited_in_the_editor(admin_client, workspace, owner, provisioned):
    _pools, profiles = provisioned
    group = UserGroup.objects.create(workspace=workspace, name="G")
    for name in ("First", "Second"):
        policy_create(
            workspace=workspace,
            actor=owner,
            name=name,
            group=group,
            reservation=0,
            limit=8,
            queues=[QueueSpec(profile=profiles["4x"], name=f"{name}-4x")],
        )
    second = Queue.objects.get(name="Second-4x")
    key = profile_key(profiles["4x"].pk)
    admin_client.post(
        url("move", workspace), {"scope": "policies", "owner": key, "item": second.pk, "direction": "up"}
    )
    assert Queue.objects.get(name="Second-4x").priority == 2  # not yet provisioned
    admin_client.post(url("save", workspace))
    admin_client.post(url("provision", workspace))
    assert Queue.objects.get(name="Second-4x").priority == 1


def test_deleting_a_profile_that_policies_use_is_refused(admin_client, workspace, owner, provisioned):
    _pools, profiles = provisioned
    group = UserGroup.objects.create(workspace=workspace, name="G")
    policy_create(
        workspace=workspace,
        actor=owner,
        name="Dev",
        group=group,
        reservation=0,
        limit=8,
        queues=[QueueSpec(profile=profiles["4x"], name="dev-4x")],
    )
    key = profile_key(profiles["4x"].pk)
    response = admin_client.post(url("profile-delete", workspace, key), headers=HX)
    assert response.status_code == 422
    assert "used by the resource policy Dev" in response.content.decode()
    assert any(p["key"] == key for p in draft(workspace)["profiles"])


def test_disconnect_delete_and_reset(admin_client, workspace, provisioned):
    pools, _profiles = provisioned
    link = Link.objects.get(name="4x-B")
    admin_client.post(url("link-delete", workspace, link_key(link.pk)))
    admin_client.post(url("pool-delete", workspace, pool_key(pools["B"].pk)))
    admin_client.post(url("save", workspace))
    assert "4x-B" not in [x["name"] for x in draft(workspace)["links"]]
    admin_client.post(url("reset", workspace))
    assert "4x-B" in [x["name"] for x in draft(workspace)["links"]]
    assert settings_get(workspace=workspace).saved_draft is None
    assert Link.objects.filter(name="4x-B").exists()


def test_provision_with_unsaved_changes_saves_and_provisions_in_one_step(
    admin_client, workspace, provisioned
):
    c = admin_client
    editor = c.get(url("editor", workspace)).content.decode()
    assert 'disabled aria-describedby="rc-status">Provision' in editor  # nothing to provision yet
    c.post(url("pool-new", workspace), {"name": "C", "capacity": "2"})
    editor = c.get(url("editor", workspace)).content.decode()
    assert f'href="{url("provision", workspace)}" hx-get=' in editor  # opens the dialog
    dialog = c.get(url("provision", workspace), headers=HX).content.decode()
    assert "unsaved changes" in dialog and f'action="{url("provision", workspace)}?save=1"' in dialog
    assert "<html" not in dialog and "Save and provision</button>" in dialog

    response = c.post(f"{url('provision', workspace)}?save=1", headers=HX)
    assert response.status_code == 200 and response["HX-Redirect"] == url("editor", workspace)  # PRG
    assert Pool.objects.get(name="C").capacity == 2
    assert settings_get(workspace=workspace).working_draft is None
    actions = set(AuditEvent.objects.filter(workspace=workspace).values_list("action", flat=True))
    assert {"resources.draft_save", "resources.provision"} <= actions
    page = c.get(url("editor", workspace)).content.decode()
    assert "Configuration saved and provisioned" in page

    # Without JS, the confirmed post ends on the editor page too.
    c.post(url("pool-new", workspace), {"name": "D", "capacity": "1"})
    response = c.post(f"{url('provision', workspace)}?save=1")
    assert response.status_code == 302 and response["Location"] == url("editor", workspace)
    assert Pool.objects.filter(name="D").exists()


def test_provision_says_why_it_cannot_before_it_is_pressed(admin_client, workspace, owner, provisioned):
    """A profile deleted in the draft that a policy started to use since: Provision is disabled with
    the reason, the dialog says it, and a post anyway changes nothing and ends on the editor."""
    c = admin_client
    _pools, profiles = provisioned
    key = profile_key(profiles["2x"].pk)
    c.post(url("profile-delete", workspace, key))
    group = UserGroup.objects.create(workspace=workspace, name="G")
    policy_create(
        workspace=workspace,
        actor=owner,
        name="Late",
        group=group,
        reservation=0,
        limit=8,
        queues=[QueueSpec(profile=profiles["2x"], name="late-2x")],
    )
    editor = c.get(url("editor", workspace)).content.decode()
    assert 'disabled aria-describedby="rc-provision-why">Provision' in editor
    assert "Provision is not possible yet" in editor and "policy Late" in editor
    dialog = c.get(url("provision", workspace), headers=HX).content.decode()
    assert "It cannot be provisioned yet" in dialog and "Save and provision</button>" not in dialog

    saves = AuditEvent.objects.filter(workspace=workspace, action="resources.draft_save").count()
    response = c.post(f"{url('provision', workspace)}?save=1", headers=HX)
    assert response.status_code == 422 and "policy Late" in response.content.decode()
    assert response["HX-Retarget"] == "#modal-content"
    response = c.post(f"{url('provision', workspace)}?save=1")
    assert response.status_code == 302 and response["Location"] == url("editor", workspace)
    assert Profile.objects.filter(pk=profiles["2x"].pk).exists()
    state = settings_get(workspace=workspace)
    assert state.working_draft is not None and state.saved_draft is None  # not even saved
    assert AuditEvent.objects.filter(workspace=workspace, action="resources.draft_save").count() == saves


def test_unknown_keys_are_404(admin_client, workspace):
    assert admin_client.get(url("pool-edit", workspace, "p999")).status_code == 404
    assert admin_client.get(url("profile-edit", workspace, "new-profile-x")).status_code == 404


def test_enable_toggle(admin_client, workspace):
    response = admin_client.post(url("enable", workspace), {"enabled": "on"}, headers=HX)
    assert response.status_code == 200 and 'id="enable-toggle"' in response.content.decode()
    assert settings_get(workspace=workspace).enabled
    admin_client.post(url("enable", workspace), {})
    assert not settings_get(workspace=workspace).enabled
    assert AuditEvent.objects.filter(workspace=workspace, action="resources.disable").exists()


def test_provisioning_warns_about_reservations_beyond_capacity(admin_client, workspace, owner, provisioned):
    group = UserGroup.objects.create(workspace=workspace, name="G")
    policy_create(workspace=workspace, actor=owner, name="Big", group=group, reservation=100, limit=100)
    response = admin_client.post(url("provision", workspace), follow=True)
    assert "reserve 100 resources but the pools have 16" in response.content.decode()


# --- policies ---------------------------------------------------------------------------------


@pytest.fixture
def team(workspace, admin_member):
    group = UserGroup.objects.create(workspace=workspace, name="Team")
    GroupMembership.objects.create(group=group, user=admin_member)
    return group


def test_policy_create_edit_delete(admin_client, workspace, provisioned, team):
    _pools, profiles = provisioned
    f4, f2 = profiles["4x"], profiles["2x"]
    response = admin_client.post(
        url("policy-new", workspace),
        {
            "name": "Dev Team",
            "group": team.pk,
            "reservation": "4",
            "limit": "8",
            f"profile_{f4.pk}": "on",
            f"queue_{f4.pk}": "",
        },
        headers=HX,
    )
    assert response.status_code == 200 and response["HX-Redirect"] == url("policies", workspace)
    policy = Policy.objects.get(name="Dev Team")
    assert [q.name for q in policy.queues.all()] == ["dev-team-4x"]
    page = admin_client.get(url("policies", workspace)).content.decode()
    assert "Dev Team" in page and "dev-team-4x" in page

    admin_client.post(
        url("policy-edit", workspace, policy.pk),
        {
            "name": "Dev Team",
            "group": team.pk,
            "reservation": "0",
            "limit": "8",
            f"profile_{f2.pk}": "on",
            f"queue_{f2.pk}": "dev-2x",
        },
    )
    policy.refresh_from_db()
    assert policy.reservation == 0 and [q.name for q in policy.queues.all()] == ["dev-2x"]

    assert admin_client.get(url("policy-delete", workspace, policy.pk)).status_code == 200
    admin_client.post(url("policy-delete", workspace, policy.pk))
    assert not Policy.objects.exists()


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"name": "", "reservation": "0", "limit": "8"}, "This field is required"),
        ({"name": "P", "reservation": "9", "limit": "8"}, "cannot be larger than the limit"),
        ({"name": "P", "reservation": "0", "limit": "2", "use4": True}, "more than the limit"),
    ],
)
def test_bad_policy_input_is_422(admin_client, workspace, provisioned, team, data, error):
    _pools, profiles = provisioned
    f4 = profiles["4x"]
    post = {"group": team.pk, **{k: v for k, v in data.items() if k != "use4"}}
    if data.get("use4"):
        post[f"profile_{f4.pk}"] = "on"
    response = admin_client.post(url("policy-new", workspace), post, headers=HX)
    assert response.status_code == 422 and error in response.content.decode()
    assert not Policy.objects.exists()


def test_enqueue_and_abort_from_the_ui(
    admin_client, workspace, owner, provisioned, team, django_capture_on_commit_callbacks
):
    _pools, profiles = provisioned
    resource_management_set(workspace=workspace, actor=owner, enabled=True)
    policy = policy_create(
        workspace=workspace,
        actor=owner,
        name="Team",
        group=team,
        reservation=0,
        limit=16,
        queues=[QueueSpec(profile=profiles["4x"], name="team-4x")],
    )
    queue = policy.queues.get()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url("enqueue", workspace), {"queue": queue.pk, "name": "train"})
    assert response.status_code == 302
    job = Job.objects.get(name="train")
    assert job.state == JobState.RUNNING
    page = admin_client.get(url("policies", workspace)).content.decode()
    assert "train" in page and "Running" in page
    response = admin_client.post(url("job-abort", workspace, job.pk), headers=HX)
    assert response.status_code == 200 and 'id="policy-dashboard"' in response.content.decode()
    job.refresh_from_db()
    assert job.state == JobState.ABORTED
    assert AuditEvent.objects.filter(workspace=workspace, action="resources.job_abort").exists()


def test_enqueue_needs_the_group(client, workspace, owner, provisioned, team):
    _pools, profiles = provisioned
    policy = policy_create(
        workspace=workspace,
        actor=owner,
        name="Team",
        group=team,
        reservation=0,
        limit=16,
        queues=[QueueSpec(profile=profiles["4x"], name="team-4x")],
    )
    client.force_login(owner)  # the owner is not in Team
    response = client.post(url("enqueue", workspace), {"queue": policy.queues.get().pk}, headers=HX)
    assert response.status_code == 422 and "not in the user group" in response.content.decode()
    assert not Job.objects.exists()


def test_config_page_query_count(admin_client, workspace, provisioned, django_assert_max_num_queries):
    admin_client.get(url("config", workspace))
    with django_assert_max_num_queries(20):
        admin_client.get(url("config", workspace))


def test_profiles_and_pools_of_other_workspaces_are_invisible(client, owner, outsider, provisioned):
    from workspaces.services import workspace_create

    other = workspace_create(owner=outsider, name="Theirs")
    client.force_login(outsider)
    page = client.get(url("config", other)).content.decode()
    assert "4x-A" not in page
    assert client.get(url("pool-edit", other, pool_key(Pool.objects.first().pk))).status_code == 404
    assert not Profile.objects.for_workspace(other).exists()
