"""Look-alike names are one name: groups, vaults, resource policies, service accounts, pools and
profiles compare names after NFKC and without format characters (settings_portal/names.py),
in the services (a field error) and in the database (a unique key per workspace)."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from access import services as access_services
from access.models import ServiceAccount, UserGroup
from resources import draft as drafts
from resources.models import Policy, Pool, Profile
from resources.services.policies import QueueSpec, policy_create
from resources.services.provisioning import configuration_replace
from settings_portal.names import fill_name_keys, name_digest, name_key
from tests.factories import UserFactory
from vaults import services as vault_services
from vaults.models import Vault, VaultScope

pytestmark = pytest.mark.django_db

FULL_WIDTH = str.maketrans({chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)})


def full_width(text: str) -> str:
    """`ml` as `ｍｌ`: the look-alike the issue names first."""
    return text.translate(FULL_WIDTH)


def zero_width(text: str) -> str:
    """`ml` as `m\u200bl`: the same on screen, a zero-width space inside."""
    return text[0] + "\u200b" + text[1:]


LOOK_ALIKES = [full_width, zero_width]


# --- the key ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "variant",
    [
        "ＧＰＵ Team",  # full-width letters
        "gpu\u200b team",  # zero-width space
        "g\u200dpu\u2060 te\ufeffam",  # zero-width joiner, word joiner, BOM
        "gp\u00adu team",  # soft hyphen
        "\u202egpu team\u202c",  # bidirectional override and pop
        "GPU\u00a0team",  # no-break space
        "gpu\u3000team",  # ideographic space
        "  GPU   team ",  # runs of spaces collapse (HTML shows them as one)
        "ＧＰＵ　ｔｅａｍ",
    ],
)
def test_look_alikes_share_the_key(variant):
    assert name_key(variant) == name_key("gpu team") == "gpu team"
    assert name_digest(variant) == name_digest("gpu team")


def test_compatibility_forms_fold():
    assert name_key("ﬁne-tune") == name_key("fine-tune")  # the ligature ﬁ
    assert name_key("\u212a8s") == name_key("k8s")  # KELVIN SIGN
    assert name_key("Straße") == name_key("STRASSE")  # case folding, not only lower()


@pytest.mark.parametrize("other", ["gpu-team", "gpu team 2", "gputeam", "gpü team"])
def test_different_names_stay_different(other):
    assert name_key(other) != name_key("gpu team")


def test_the_digest_is_bounded_whatever_nfkc_makes_of_the_name():
    name = "\ufdfa" * 100  # one character that NFKC spells with 18
    assert len(name_key(name)) == 1800
    assert len(name_digest(name)) == 64
    assert name_digest("") == "" and name_digest("\u200b") == ""


# --- every entity, through its service -------------------------------------------------------


@pytest.fixture
def group(workspace, owner):
    return access_services.group_create(workspace=workspace, actor=owner, name="ml")


def _refused(call, field="name"):
    with pytest.raises(ValidationError) as caught:
        call()
    assert field in caught.value.message_dict, caught.value
    return caught.value.message_dict[field]


@pytest.mark.parametrize("look_alike", LOOK_ALIKES)
def test_groups(workspace, owner, group, look_alike):
    assert (
        "already exists"
        in _refused(
            lambda: access_services.group_create(workspace=workspace, actor=owner, name=look_alike("ml"))
        )[0]
    )
    other = access_services.group_create(workspace=workspace, actor=owner, name="ops")
    _refused(
        lambda: access_services.group_update(
            group=other, actor=owner, name=look_alike("ML"), description="", member_ids=[]
        )
    )
    assert UserGroup.objects.filter(workspace=workspace, builtin="").count() == 2


def test_a_group_cannot_pass_for_a_builtin_group(workspace, owner):
    _refused(lambda: access_services.group_create(workspace=workspace, actor=owner, name="Ａｄｍｉｎｓ"))


@pytest.mark.parametrize("look_alike", LOOK_ALIKES)
def test_service_accounts(workspace, owner, look_alike):
    access_services.service_account_create(workspace=workspace, actor=owner, name="ci-bot")
    _refused(
        lambda: access_services.service_account_create(
            workspace=workspace, actor=owner, name=look_alike("ci-bot")
        )
    )
    other, _, _ = access_services.service_account_create(workspace=workspace, actor=owner, name="nightly")
    _refused(
        lambda: access_services.service_account_update(account=other, actor=owner, name=look_alike("CI-bot"))
    )
    assert ServiceAccount.objects.filter(workspace=workspace).count() == 2


def _vault(workspace, owner, group, name):
    return vault_services.group_vault_create(
        workspace=workspace, actor=owner, name=name, group=group, fmt="hocon", content="a = 1"
    )


@pytest.mark.parametrize("look_alike", LOOK_ALIKES)
def test_vaults(workspace, owner, group, look_alike):
    _vault(workspace, owner, group, "shared")
    assert "has this name" in _refused(lambda: _vault(workspace, owner, group, look_alike("shared")))[0]
    other = _vault(workspace, owner, group, "private")
    _refused(
        lambda: vault_services.group_vault_update(
            vault=other, actor=owner, name=look_alike("Shared"), group=group, fmt="hocon", content="a = 2"
        )
    )
    assert Vault.objects.filter(workspace=workspace, scope=VaultScope.GROUP).count() == 2


def _policy(workspace, owner, group, name):
    return policy_create(workspace=workspace, actor=owner, name=name, group=group, reservation="0", limit="4")


@pytest.mark.parametrize("look_alike", LOOK_ALIKES)
def test_policies(workspace, owner, group, look_alike):
    _policy(workspace, owner, group, "team-a")
    assert "already exists" in _refused(lambda: _policy(workspace, owner, group, look_alike("team-a")))[0]
    assert Policy.objects.filter(workspace=workspace).count() == 1


@pytest.mark.parametrize("look_alike", LOOK_ALIKES)
def test_queue_names_of_policies(workspace, owner, group, look_alike):
    profile = Profile.objects.create(workspace=workspace, name="small", allotment=Decimal(1))

    def policy_with_queue(name, queue_name):
        queues = [QueueSpec(profile=profile, name=queue_name)]
        return policy_create(
            workspace=workspace,
            actor=owner,
            name=name,
            group=group,
            reservation="0",
            limit="4",
            queues=queues,
        )

    policy_with_queue("a", "gpu-queue")
    _refused(lambda: policy_with_queue("b", look_alike("gpu-queue")), field="queues")


@pytest.mark.parametrize("look_alike", LOOK_ALIKES)
@pytest.mark.parametrize(
    "add",
    [
        lambda d, name: drafts.pool_add(d, name=name, capacity="8"),
        lambda d, name: drafts.profile_add(d, name=name, allotment="1"),
    ],
    ids=["pools", "profiles"],
)
def test_pools_and_profiles_in_the_editor(add, look_alike):
    draft = add(drafts.empty(), "gpu")
    _refused(lambda: add(draft, look_alike("gpu")))
    kind = "pools" if draft["pools"] else "profiles"
    renamed = add(draft, "cpu")
    other = next(item for item in renamed[kind] if item["name"] == "cpu")
    edit = drafts.pool_edit if kind == "pools" else drafts.profile_edit
    values = {"capacity": "8"} if kind == "pools" else {"allotment": "1"}
    _refused(lambda: edit(renamed, other["key"], name=look_alike("GPU"), **values))


@pytest.mark.parametrize("look_alike", LOOK_ALIKES)
def test_pools_and_profiles_of_an_imported_configuration(workspace, owner, look_alike):
    """An imported file (or a hand-made draft) is checked the same way before it is provisioned."""
    pools = [
        {"key": f"new-pool-{n}", "name": name, "capacity": "8"}
        for n, name in enumerate(["gpu", look_alike("gpu")])
    ]
    draft = {"pools": pools, "profiles": [], "links": [], "policy_priority": {}}
    with pytest.raises(ValidationError, match="already exists"):
        configuration_replace(workspace=workspace, actor=owner, draft=draft)
    assert not Pool.objects.filter(workspace=workspace).exists()


# --- the database holds the line (concurrent creates, code that skips the services) ----------


def _make(model, workspace, name):
    if model is Vault:
        return Vault.objects.create(workspace=workspace, scope=VaultScope.GROUP, name=name)
    if model is ServiceAccount:
        return ServiceAccount.objects.create(workspace=workspace, user=UserFactory(), name=name)
    if model in (Pool, Profile):
        field = "capacity" if model is Pool else "allotment"
        return model.objects.create(workspace=workspace, name=name, **{field: Decimal(1)})
    if model is Policy:
        return Policy.objects.create(workspace=workspace, name=name, limit=Decimal(1))
    return model.objects.create(workspace=workspace, name=name)


MODELS = [UserGroup, ServiceAccount, Vault, Policy, Pool, Profile]


@pytest.mark.parametrize("look_alike", LOOK_ALIKES)
@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_the_database_refuses_a_look_alike(workspace, owner, model, look_alike):
    _make(model, workspace, "shared-name")
    with pytest.raises(IntegrityError), transaction.atomic():
        _make(model, workspace, look_alike("shared-name"))


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_the_key_follows_a_rename_saved_with_update_fields(workspace, owner, outsider, model):
    row = _make(model, workspace, "before")
    row.name = "after"
    row.save(update_fields=["name"])
    row.refresh_from_db()
    assert row.name_key == name_digest("after")
    _make(model, workspace, "ＢＥＦＯＲＥ")  # the old name is free again
    with pytest.raises(IntegrityError), transaction.atomic():
        _make(model, workspace, "Ａｆｔｅｒ")
    # Another workspace may use the name.
    from tests.factories import make_workspace

    _make(model, make_workspace(owner=outsider, name="Elsewhere"), "after")


def test_user_vaults_have_no_name_and_do_not_clash(workspace, owner, member):
    for user in (owner, member):
        vault_services.user_vault_set_enabled(workspace=workspace, user=user, actor=user, enabled=True)
    assert set(Vault.objects.filter(scope=VaultScope.USER).values_list("name_key", flat=True)) == {""}


def test_a_create_that_lost_the_race_is_a_field_error(workspace, owner, monkeypatch):
    """Two admins create `ml` and `ｍｌ` at once: both pass the check, the database refuses the
    second, and its admin sees the same field error, not a 500."""
    access_services.group_create(workspace=workspace, actor=owner, name="ml")
    monkeypatch.setattr(access_services, "_check_name_free", lambda *args, **kwargs: None)
    _refused(lambda: access_services.group_create(workspace=workspace, actor=owner, name="ｍｌ"))


def test_a_vault_create_that_lost_the_race_is_a_field_error(workspace, owner, group, monkeypatch):
    _vault(workspace, owner, group, "shared")
    monkeypatch.setattr(vault_services, "_clean_name", lambda *, workspace, name, exclude=None: name)
    _refused(lambda: _vault(workspace, owner, group, "ｓｈａｒｅｄ"))


# --- the migration: existing look-alikes keep working ---------------------------------------


def test_existing_look_alikes_get_distinct_legacy_keys(workspace, owner):
    """Rows that were look-alikes before the key existed: the migration (fill_name_keys) keeps
    them apart so the constraint can be added; they can still be saved, and a rename gives a
    plain key."""
    first = _make(UserGroup, workspace, "ml")
    second = _make(UserGroup, workspace, "ops")
    # As before the migration: a look-alike pair, keys not computed yet (the column's default
    # "" cannot be shown here: the constraint already exists in the test database).
    UserGroup.objects.filter(pk=second.pk).update(name="ｍｌ", name_key="not computed 2")
    UserGroup.objects.filter(pk=first.pk).update(name_key="not computed 1")
    fill_name_keys(UserGroup)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.name_key == name_digest("ml")
    assert second.name_key == f"{name_digest('ml')}.{second.pk}"
    second.description = "edited"
    second.save()  # keeps its legacy key: no IntegrityError
    second.refresh_from_db()
    assert second.name_key == f"{name_digest('ml')}.{second.pk}"
    access_services.group_update(group=second, actor=owner, name="ops", description="", member_ids=[])
    second.refresh_from_db()
    assert second.name_key == name_digest("ops")


@pytest.mark.django_db(transaction=True)
def test_the_migration_keeps_existing_look_alikes_and_adds_the_constraint(owner):
    """Run access 0004/0005 on a database that already holds `ml` and `ｍｌ` in one workspace."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before, after = [("access", "0003_access_rule")], [("access", "0005_name_key_unique")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        old = executor.loader.project_state(before).apps
        workspace = old.get_model("workspaces", "Workspace").objects.create(
            name="Legacy", slug="legacy", owner_id=owner.pk
        )
        groups = old.get_model("access", "UserGroup")
        first = groups.objects.create(workspace_id=workspace.pk, name="ml")
        second = groups.objects.create(workspace_id=workspace.pk, name="ｍｌ")
        executor = MigrationExecutor(connection)
        executor.migrate(after)
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    keys = dict(UserGroup.objects.filter(pk__in=[first.pk, second.pk]).values_list("pk", "name_key"))
    assert keys == {first.pk: name_digest("ml"), second.pk: f"{name_digest('ml')}.{second.pk}"}
    with pytest.raises(IntegrityError), transaction.atomic():
        UserGroup.objects.create(workspace_id=workspace.pk, name="ＭＬ")


def test_the_form_shows_the_refusal_next_to_the_name(client, workspace, owner, group):
    from django.urls import reverse

    client.force_login(owner)
    response = client.post(
        reverse("access:group-create", args=[workspace.slug]),
        {"name": "ｍ\u200bｌ"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 422
    assert "A group with that name already exists." in response.content.decode()
    assert UserGroup.objects.filter(workspace=workspace, builtin="").count() == 1
