"""Services of Users & Groups: rights, the Admins/role mirror, removal, service accounts, audit."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from access import selectors, services
from access.models import BuiltinGroup, GroupMembership, ServiceAccount, UserGroup
from tests.factories import PASSWORD
from workspaces.credentials import credential_create
from workspaces.models import AuditEvent, Credential, Membership, Role
from workspaces.services import role_grant_check


def admins_of(workspace):
    return selectors.builtin_groups(workspace=workspace)[BuiltinGroup.ADMINS]


# --- Rights -----------------------------------------------------------------------------------------


def test_every_service_refuses_a_plain_member(workspace, member, custom_group, service_account, owner):
    calls = [
        lambda: services.group_create(workspace=workspace, actor=member, name="X"),
        lambda: services.group_update(
            group=custom_group, actor=member, name="Y", description="", member_ids=[]
        ),
        lambda: services.group_add_member(group=custom_group, actor=member, user=owner),
        lambda: services.group_remove_member(group=custom_group, actor=member, user=member),
        lambda: services.group_delete(group=custom_group, actor=member),
        lambda: services.user_groups_set(workspace=workspace, actor=member, user=member, group_ids=[]),
        lambda: services.member_remove(workspace=workspace, actor=member, user=owner),
        lambda: services.service_account_create(workspace=workspace, actor=member, name="z"),
        lambda: services.service_account_update(account=service_account, actor=member, name="z"),
        lambda: services.service_account_credential_create(account=service_account, actor=member),
        lambda: services.service_account_delete(account=service_account, actor=member),
    ]
    events = AuditEvent.objects.count()
    for call in calls:
        with pytest.raises(PermissionDenied):
            call()
    assert AuditEvent.objects.count() == events
    assert UserGroup.objects.filter(pk=custom_group.pk, name="Researchers").exists()


def test_outsiders_are_refused_too(workspace, outsider):
    with pytest.raises(PermissionDenied):
        services.group_create(workspace=workspace, actor=outsider, name="X")


def test_nobody_grants_ownership_or_a_role_above_their_own(workspace, admin_member, member):
    admins = Membership.objects.get(workspace=workspace, user=admin_member)
    with pytest.raises(PermissionDenied):
        role_grant_check(actor_membership=admins, role=Role.OWNER)
    role_grant_check(actor_membership=admins, role=Role.ADMIN)
    members = Membership.objects.get(workspace=workspace, user=member)
    with pytest.raises(PermissionDenied):
        role_grant_check(actor_membership=members, role=Role.ADMIN)
    with pytest.raises(PermissionDenied):
        role_grant_check(actor_membership=None, role=Role.OWNER)


def test_an_admin_cannot_demote_or_remove_the_owner(workspace, admin_member, owner):
    with pytest.raises(ValidationError, match="owner is always"):
        services.group_remove_member(group=admins_of(workspace), actor=admin_member, user=owner)
    with pytest.raises(ValidationError, match="owner"):
        services.member_remove(workspace=workspace, actor=admin_member, user=owner)
    assert Membership.objects.get(workspace=workspace, user=owner).role == Role.OWNER


# --- Admins mirrors the role ----------------------------------------------------------------------------


def test_adding_to_admins_sets_the_role_and_removing_resets_it(workspace, owner, member):
    admins = admins_of(workspace)
    assert services.group_add_member(group=admins, actor=owner, user=member)
    assert Membership.objects.get(workspace=workspace, user=member).role == Role.ADMIN
    assert admins.pk in selectors.user_group_ids(workspace=workspace, user=member)
    assert not GroupMembership.objects.filter(group=admins).exists()  # the role is the source of truth
    assert services.group_remove_member(group=admins, actor=owner, user=member)
    assert Membership.objects.get(workspace=workspace, user=member).role == Role.MEMBER
    assert admins.pk not in selectors.user_group_ids(workspace=workspace, user=member)
    actions = list(AuditEvent.objects.filter(action="member.role").values_list("after", flat=True))
    assert {"role": "Admin"} in actions and {"role": "Member"} in actions


def test_users_group_cannot_be_modified(workspace, owner, member):
    users = selectors.builtin_groups(workspace=workspace)[BuiltinGroup.USERS]
    with pytest.raises(ValidationError):
        services.group_add_member(group=users, actor=owner, user=member)
    with pytest.raises(ValidationError):
        services.group_update(group=users, actor=owner, name="Users", description="x", member_ids=[])
    with pytest.raises(ValidationError):
        services.group_delete(group=users, actor=owner)
    assert users.pk in selectors.user_group_ids(workspace=workspace, user=member)


def test_deleting_a_group_removes_what_it_granted(workspace, owner, member, custom_group):
    assert custom_group.pk in selectors.user_group_ids(workspace=workspace, user=member)
    services.group_delete(group=custom_group, actor=owner)
    assert not UserGroup.objects.filter(pk=custom_group.pk).exists()
    assert selectors.user_group_ids(workspace=workspace, user=member) == {
        selectors.builtin_groups(workspace=workspace)[BuiltinGroup.USERS].pk
    }
    event = AuditEvent.objects.get(action="group.delete")
    assert event.before["members"] == [member.email]


def test_group_update_records_added_and_removed_members(workspace, owner, member, admin_member, custom_group):
    services.group_update(
        group=custom_group,
        actor=owner,
        name="Researchers",
        description="ML research",
        member_ids=[admin_member.pk],
    )
    event = AuditEvent.objects.filter(action="group.update").latest("created_at")
    assert event.after == {"members_added": [admin_member.email], "members_removed": [member.email]}


# --- Removing members ---------------------------------------------------------------------------------


def test_the_last_administrator_cannot_be_removed_or_demoted(workspace, owner, admin_member):
    # A workspace whose owner row lost its role (data from an import): the one admin must stay.
    Membership.objects.filter(workspace=workspace, user=owner).update(role=Role.MEMBER)
    workspace.owner = admin_member
    workspace.save()
    Membership.objects.filter(workspace=workspace, user=admin_member).update(role=Role.OWNER)
    with pytest.raises(ValidationError):
        services.member_remove(workspace=workspace, actor=admin_member, user=admin_member)
    workspace.owner = owner
    workspace.save()
    Membership.objects.filter(workspace=workspace, user=admin_member).update(role=Role.ADMIN)
    with pytest.raises(ValidationError, match="last administrator"):
        services.member_remove(workspace=workspace, actor=None, user=admin_member)
    with pytest.raises(ValidationError, match="last administrator"):
        services.group_remove_member(group=admins_of(workspace), actor=None, user=admin_member)
    assert Membership.objects.get(workspace=workspace, user=admin_member).role == Role.ADMIN


def test_an_admin_may_remove_another_admin_when_one_remains(workspace, owner, admin_member, member):
    services.group_add_member(group=admins_of(workspace), actor=owner, user=member)
    revoked = services.member_remove(workspace=workspace, actor=admin_member, user=member)
    assert revoked == 0
    assert not Membership.objects.filter(workspace=workspace, user=member).exists()


def test_removed_member_keeps_what_they_logged_and_can_come_back_by_invitation(workspace, owner, member):
    from workspaces import invitations

    credential, _ = credential_create(workspace=workspace, actor=member, label="laptop")
    services.member_remove(workspace=workspace, actor=owner, user=member)
    assert Credential.objects.filter(pk=credential.pk).exists()  # rows stay, revoked
    assert Credential.objects.get(pk=credential.pk).revoked_at is not None
    member.refresh_from_db()
    assert member.is_active  # the account itself is untouched
    issued = invitations.invitation_create(workspace=workspace, actor=owner, email=member.email)
    invitations.invitation_accept(invitation=issued.invitation, user=member)
    assert Membership.objects.get(workspace=workspace, user=member).role == Role.MEMBER


# --- Service accounts ------------------------------------------------------------------------------------


def test_service_account_is_an_api_only_member_of_users(workspace, owner, service_account):
    user = service_account.user
    assert user.is_service_account and not user.has_usable_password()
    assert user.email.endswith("@service.invalid")
    assert Membership.objects.get(workspace=workspace, user=user).role == Role.MEMBER
    groups = selectors.builtin_groups(workspace=workspace)
    assert selectors.user_group_ids(workspace=workspace, user=user) == {groups[BuiltinGroup.USERS].pk}
    assert service_account.created_by == owner
    assert Credential.objects.get(user=user).created_by == owner
    event = AuditEvent.objects.get(action="service_account.create")
    assert event.after["allow_impersonation"] is True and "secret" not in str(event.after)


def test_service_account_names_are_unique_per_workspace_and_usernames_site_wide(workspace, owner, outsider):
    from workspaces.selectors import personal_workspace_get

    a, _, _ = services.service_account_create(workspace=workspace, actor=owner, name="agent")
    b, _, _ = services.service_account_create(
        workspace=personal_workspace_get(user=outsider), actor=outsider, name="agent"
    )
    assert a.name == b.name == "agent"
    assert a.user.username == "agent" and b.user.username == "agent-2"
    with pytest.raises(ValidationError):
        services.service_account_create(workspace=workspace, actor=owner, name="AGENT")
    for bad in ["", "x" * 65, "me@example.com", "a/b"]:
        with pytest.raises(ValidationError):
            services.service_account_create(workspace=workspace, actor=owner, name=bad)


def test_service_account_rename_follows_to_the_username(workspace, owner, service_account):
    services.service_account_update(account=service_account, actor=owner, name="renamed")
    service_account.user.refresh_from_db()
    assert service_account.user.username == "renamed"
    event = AuditEvent.objects.get(action="service_account.update")
    assert event.before == {"name": "gpu-agents"} and event.after == {"name": "renamed"}


def test_service_account_credentials_are_audited_and_scoped(workspace, owner, service_account, member):
    credential, secret = services.service_account_credential_create(
        account=service_account, actor=owner, label="n2"
    )
    assert credential.user == service_account.user and secret
    foreign, _ = credential_create(workspace=workspace, actor=member)
    with pytest.raises(ValidationError):
        services.service_account_credential_revoke(account=service_account, actor=owner, credential=foreign)
    services.service_account_credential_revoke(account=service_account, actor=owner, credential=credential)
    credential.refresh_from_db()
    assert credential.revoked_at is not None
    assert AuditEvent.objects.filter(action="credential.revoke", target_id=str(credential.pk)).exists()


def test_delete_service_account(workspace, owner, service_account, custom_group):
    services.group_add_member(group=custom_group, actor=owner, user=service_account.user)
    revoked = services.service_account_delete(account=service_account, actor=owner)
    assert revoked == 1
    assert not ServiceAccount.objects.filter(pk=service_account.pk).exists()
    assert not GroupMembership.objects.filter(user=service_account.user).exists()
    assert not Membership.objects.filter(user=service_account.user).exists()
    again, _, _ = services.service_account_create(workspace=workspace, actor=owner, name="gpu-agents")
    assert again.user.username == "gpu-agents"


# --- Sign-in ----------------------------------------------------------------------------------------------


def test_a_service_account_can_never_sign_in_to_the_ui(client, service_account):
    user = service_account.user
    user.set_password(PASSWORD)  # even if someone gave it a password
    user.save()
    for login in [user.email, user.username]:
        response = client.post(reverse("accounts:login"), {"username": login, "password": PASSWORD})
        assert response.status_code == 422
        assert "service account" in response.content.decode() and "never sign in" in response.content.decode()
    assert "_auth_user_id" not in client.session
    client.force_login(user)  # a session made some other way is not honoured either
    response = client.get(reverse("accounts:profile"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("accounts:login"))
