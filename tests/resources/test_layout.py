"""The resources services split by job: the policy rules have one source (the form asks the
service's policy_clean), reads never write, and provisioning applies a draft step by step."""

from decimal import Decimal

import pytest

from access.models import UserGroup
from resources import draft as drafts
from resources.forms import PolicyForm
from resources.models import Link, Pool, Profile, ResourceSettings
from resources.selectors import configuration_get, configuration_warning_list, editor_state_get
from resources.services.policies import QueueSpec, policy_create
from resources.services.provisioning import configuration_replace
from tests.resources.helpers import provision_config

pytestmark = pytest.mark.django_db


@pytest.fixture
def profiles(workspace, owner):
    _, profiles, _ = provision_config(
        workspace, owner, pools={"A": 8}, profiles={"4x": 4, "1x": 1}, links=[("4x-A", "4x", "A")]
    )
    return profiles


@pytest.fixture
def group(workspace):
    return UserGroup.objects.create(workspace=workspace, name="Team")


def form(workspace, group, profiles, **data):
    values = {"name": "Team", "group": group.pk, "reservation": "0", "limit": "8", "description": ""}
    values.update(data)
    return PolicyForm(values, workspace=workspace)


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"reservation": "9"}, "reservation", "cannot be larger than the limit"),
        ({"limit": "-1"}, "limit", "negative"),
        ({"limit": "2", "profile_4x": "on", "queue_4x": "big"}, None, "more than the limit"),
        ({"name": "taken"}, "name", "already exists"),
    ],
)
def test_the_policy_form_applies_the_services_rules(workspace, owner, group, profiles, data, field, message):
    policy_create(workspace=workspace, actor=owner, name="taken", group=group, reservation=0, limit=4)
    f4 = profiles["4x"].pk
    data = {key.replace("_4x", f"_{f4}"): value for key, value in data.items()}
    bound = form(workspace, group, profiles, **data)
    assert not bound.is_valid()
    errors = bound.errors.get(field or "__all__")
    assert errors and message in " ".join(errors), bound.errors


def test_a_valid_policy_form_gives_the_cleaned_values(workspace, group, profiles):
    f1 = profiles["1x"]
    bound = form(workspace, group, profiles, name="  Team  ", limit="2.5", **{f"profile_{f1.pk}": "on"})
    assert bound.is_valid(), bound.errors
    assert bound.cleaned_data["name"] == "Team"
    assert bound.cleaned_data["limit"] == Decimal("2.5")
    assert bound.cleaned_data["queues"] == [QueueSpec(profile=f1, name="team-1x")]


def test_reads_never_write(workspace):
    assert not ResourceSettings.objects.filter(workspace=workspace).exists()
    state = editor_state_get(workspace=workspace)
    assert (state.has_saved, state.has_unsaved) == (False, False)
    assert configuration_get(workspace=workspace) == drafts.empty()
    assert configuration_warning_list(workspace=workspace) == []
    assert not ResourceSettings.objects.filter(workspace=workspace).exists()


def test_replacing_the_configuration_renames_swaps_deletes_and_creates(workspace, owner, profiles):
    """One draft that swaps two names, drops a link, adds a pool and changes an amount."""
    pool_a = Pool.objects.get(workspace=workspace, name="A")
    draft = configuration_get(workspace=workspace)
    f4, f1 = (drafts.profile_key(profiles[name].pk) for name in ("4x", "1x"))
    for profile in draft["profiles"]:
        profile["name"] = {"4x": "1x", "1x": "4x"}[profile["name"]]  # swapped
    draft["pools"][0]["capacity"] = "16"
    draft["links"] = []
    draft = drafts.pool_add(draft, name="B", capacity="2")
    draft = drafts.link_add(draft, profile=f1, pool=draft["pools"][1]["key"], name="1x-B")
    result = configuration_replace(workspace=workspace, actor=owner, draft=draft)
    assert result.changed
    names = dict(Profile.objects.for_workspace(workspace).values_list("pk", "name"))
    assert names == {profiles["4x"].pk: "1x", profiles["1x"].pk: "4x"}
    pool_a.refresh_from_db()
    assert pool_a.capacity == Decimal(16)
    assert [(x.name, x.profile_id, x.pool.name) for x in Link.objects.for_workspace(workspace)] == [
        ("1x-B", profiles["1x"].pk, "B")
    ]
    assert drafts.equivalent(configuration_get(workspace=workspace), draft) is False  # new-* keys got ids
    assert f4 in {p["key"] for p in configuration_get(workspace=workspace)["profiles"]}
