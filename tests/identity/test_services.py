import pytest

from access.models import BuiltinGroup, UserGroup
from access.selectors import builtin_groups
from identity import services
from identity.models import ExternalIdentity
from workspaces.models import Membership, Role

from ..factories import UserFactory
from .conftest import make_connection

pytestmark = pytest.mark.django_db


def claims(**extra):
    values = {"sub": "s-1", "email": "new@corp.example", "email_verified": True, "groups": []}
    values.update(extra)
    return values


def test_builtin_groups_are_never_granted_by_a_provider(workspace):
    conn = make_connection(workspace, create_users=True, sync_groups=True)
    UserGroup.objects.create(workspace=workspace, name="ml")
    builtin = [group.name for group in builtin_groups(workspace=workspace).values()]
    assert "Admins" in builtin
    plan = services.sign_in_plan(connection=conn, claims=claims(groups=["ml", *builtin]))
    assert plan.groups_added == ["ml"]
    user = services.sign_in_apply(connection=conn, plan=plan)
    assert Membership.objects.get(workspace=workspace, user=user).role == Role.MEMBER
    assert not UserGroup.objects.filter(builtin=BuiltinGroup.QUEUE_ADMINS, memberships__user=user).exists()


def test_admins_keep_their_role_when_the_claim_lacks_admins(workspace, admin_member):
    conn = make_connection(workspace, sync_groups=True)
    ExternalIdentity.objects.create(connection=conn, subject="s-1", user=admin_member)
    plan = services.sign_in_plan(connection=conn, claims=claims(email=admin_member.email, groups=[]))
    services.sign_in_apply(connection=conn, plan=plan)
    assert Membership.objects.get(workspace=workspace, user=admin_member).role == Role.ADMIN


@pytest.mark.parametrize("flag", ["is_active", "is_service_account"])
def test_disabled_or_service_accounts_cannot_sign_in(workspace, flag):
    conn = make_connection(workspace)
    user = UserFactory(email="x@corp.example", username="x")
    setattr(user, flag, flag != "is_active")
    user.save()
    ExternalIdentity.objects.create(connection=conn, subject="s-1", user=user)
    with pytest.raises(services.SignInRefused):
        services.sign_in_plan(connection=conn, claims=claims())


def test_no_user_id_claim_is_refused(workspace):
    conn = make_connection(workspace, create_users=True)
    with pytest.raises(services.SignInRefused):
        services.sign_in_plan(connection=conn, claims=claims(sub=""))


def test_claims_mapping_by_friendly_name_or_oid(workspace):
    conn = make_connection(workspace, claim_user_id="uid", claim_email="mail", claim_name="displayName")
    mapped = services.map_claims(
        conn,
        {
            "urn:oid:0.9.2342.19200300.100.1.1": ["u-5"],
            "urn:oid:0.9.2342.19200300.100.1.3": ["Someone@Corp.Example"],
            "given_name": "Some",
            "family_name": "One",
        },
    )
    assert mapped["user_id"] == "u-5" and mapped["email"] == "someone@corp.example"
    assert mapped["name"] == "Some One" and mapped["email_verified"] is False
    by_oid = make_connection(workspace, name="B", claim_email="urn:oid:0.9.2342.19200300.100.1.3")
    assert services.map_claims(by_oid, {"mail": "a@b.example"})["email"] == "a@b.example"


def test_email_verified_must_be_true_not_just_present(workspace):
    conn = make_connection(workspace)
    for value in ("false", False, None, "yes", 1):
        assert services.map_claims(conn, {"sub": "x", "email_verified": value})["email_verified"] is False
    assert services.map_claims(conn, {"sub": "x", "email_verified": "true"})["email_verified"] is True


@pytest.mark.parametrize(
    ("picture", "stored"),
    [
        ("https://idp.example/a/b.png", "https://idp.example/a/b.png"),
        ("http://idp.example/b.png", ""),  # not over TLS: mixed content, and readable on the way
        ("javascript:alert(1)", ""),
        ("data:image/png;base64,AAAA", ""),
        ("https://", ""),
        ("https://idp.example/" + "x" * 600, ""),
        ("", ""),
    ],
)
def test_the_picture_claim_becomes_the_avatar_when_it_is_an_https_url(workspace, picture, stored):
    conn = make_connection(workspace, create_users=True)
    plan = services.sign_in_plan(connection=conn, claims=claims(picture=picture))
    assert plan.mapped["picture"] == picture  # Test Provider shows what the provider sent
    user = services.sign_in_apply(connection=conn, plan=plan)
    user.refresh_from_db()
    assert user.avatar_url == stored


def test_a_new_picture_replaces_the_avatar_at_the_next_sign_in(workspace):
    conn = make_connection(workspace, create_users=True)
    user = services.sign_in_apply(
        connection=conn,
        plan=services.sign_in_plan(connection=conn, claims=claims(picture="https://idp.example/1.png")),
    )
    services.sign_in_apply(
        connection=conn,
        plan=services.sign_in_plan(connection=conn, claims=claims(picture="https://idp.example/2.png")),
    )
    user.refresh_from_db()
    assert user.avatar_url == "https://idp.example/2.png"


def test_the_profile_shows_the_avatar_unless_scripts_are_blocked(client, workspace):
    from accounts.models import UserPreferences

    user = UserFactory(email="pic@corp.example", username="pic")
    user.avatar_url = "https://idp.example/p.png"
    user.save()
    client.force_login(user)
    page = client.get("/settings/profile/").content.decode()
    assert '<img class="avatar" src="https://idp.example/p.png"' in page
    UserPreferences.objects.update_or_create(user=user, defaults={"block_scripts": True})
    assert "idp.example/p.png" not in client.get("/settings/profile/").content.decode()
