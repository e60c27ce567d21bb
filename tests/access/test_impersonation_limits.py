"""Impersonation never raises privileges (issue 9, section 2).

- An impersonated token carries the owner's identity, vaults and access to resources, with
  the role capped at member; it never creates, lists, edits or revokes credentials, never
  acts as an agent, never impersonates again.
- It stops at once (the revocation cache, no waiting) when the service account's credential
  is revoked, "Allow impersonation" is switched off, the service account is deleted, the
  owner leaves or is removed, the caller stops being an administrator, or either user is
  deactivated; a Bearer auth.login refresh re-checks all of it in the database.
- Audit rows written with it name the service account as actor, the owner as "on behalf of".
"""

import time

import pytest
import redis
from django.conf import settings as django_settings
from django.urls import reverse
from django.utils import timezone

from access import services
from access.models import ImpersonationGrant, ServiceAccount
from access.selectors import builtin_groups
from settings_portal.api import registry, tokens
from tests.access.test_access_rules import QUEUE, READ, make_rule
from tests.access.test_impersonation import IMPERSONATE, claims_of, impersonate, login
from tests.api.conftest import Api, _fresh_api_state, basic  # noqa: F401  (autouse fixture)
from workspaces import revocation
from workspaces.audit import audit_log
from workspaces.credentials import credential_create
from workspaces.models import AuditEvent, Credential, Membership
from workspaces.services import membership_leave

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client):
    return Api(client)


@pytest.fixture
def listening():
    """The production path: the revocation cache fed by Redis pub/sub (the embedded default,
    without Redis, asks the database on every call instead)."""
    assert django_settings.REDIS_URL, "this test needs Redis (REDIS_URL)"
    assert revocation.wait_listening(timeout=5)


def impersonated(api, service_account, target) -> str:
    status, body = impersonate(api, login(api, service_account), target.id.hex)
    assert status == 200, body
    return body["data"]["token"]


@pytest.fixture
def as_admin(api, service_account, admin_member):
    """A token the impersonating service account obtained for the administrator `admin_member`."""
    return impersonated(api, service_account, admin_member)


@pytest.fixture
def as_member(api, service_account, member):
    return impersonated(api, service_account, member)


def works(api, token) -> bool:
    status, body = api.call("users.get_current_user", token=token)
    assert status in (200, 401), body
    return status == 200


def blocked(api, token) -> bool:
    status, body = api.call("users.get_current_user", token=token)
    return (status, body["meta"]["result_subcode"]) == (401, 31)


def wait_for(predicate, timeout=3.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


# --- The role is capped at member ---------------------------------------------------------------------


def test_the_api_sees_an_impersonated_admin_as_a_member(api, as_admin, admin_member, workspace):
    status, body = api.call("users.get_current_user", token=as_admin)
    assert status == 200
    user = body["data"]["user"]
    assert (user["id"], user["role"], user["workspace_role"]) == (admin_member.id.hex, "user", "member")
    # The same user with their own key pair is an administrator (and the profile cache keeps them apart).
    credential, secret = credential_create(workspace=workspace, actor=admin_member)
    status, body = api.call("users.get_current_user", token=api.login(credential.access_key, secret))
    assert body["data"]["user"]["role"] == "admin"
    status, body = api.call("users.get_current_user", token=as_admin)
    assert body["data"]["user"]["role"] == "user"


def test_an_impersonated_token_never_says_it_may_impersonate(api, service_account, owner, workspace):
    """Impersonating another service account with "Allow impersonation" gives a plain type (1)."""
    other, _, _ = services.service_account_create(
        workspace=workspace, actor=owner, name="other-agents", allow_impersonation=True
    )
    token = impersonated(api, service_account, other.user)
    assert claims_of(token)["identity"]["service_account_type"] == 1


def owners_key(workspace, owner):
    return credential_create(workspace=workspace, actor=owner, label="the owner's laptop")[0]


@pytest.mark.parametrize(
    "endpoint",
    ["auth.get_credentials", "auth.create_credentials", "auth.edit_credentials", "auth.revoke_credentials"],
)
def test_an_impersonated_token_never_touches_credentials(api, as_admin, workspace, owner, endpoint):
    """Before: get_credentials listed every key of the workspace, revoke_credentials revoked the
    owner's key, create_credentials minted a key pair for the administrator."""
    key = owners_key(workspace, owner)
    keys_before = set(Credential.objects.values_list("pk", "label", "revoked_at"))
    audit_before = AuditEvent.objects.count()
    status, body = api.call(endpoint, {"access_key": key.access_key, "label": "mine now"}, token=as_admin)
    assert status == 403, body
    message = body["meta"]["result_msg"]
    assert endpoint in message and "impersonated" in message and "credentials" in message
    assert "credentials" not in body["data"]
    assert set(Credential.objects.values_list("pk", "label", "revoked_at")) == keys_before
    assert AuditEvent.objects.count() == audit_before


def test_a_bearer_refresh_stays_impersonated_and_capped(api, as_admin, service_account, admin_member):
    """Before: exchanging the impersonated token gave a plain token of the administrator, with
    their role and full rights."""
    status, body = api.call("auth.login", token=as_admin)
    assert status == 200, body
    refreshed = body["data"]["token"]
    claims, original = claims_of(refreshed), claims_of(as_admin)
    assert claims["identity"]["user"] == admin_member.id.hex
    assert claims["identity"]["role"] == "user"
    assert claims["impersonated_by"] == service_account.user_id.hex
    assert claims["grant_id"] == original["grant_id"]
    assert claims["credential_id"] == original["credential_id"]
    assert api.call("auth.get_credentials", token=refreshed)[0] == 403


def test_an_impersonated_token_cannot_impersonate_again(api, as_admin, member):
    status, body = api.call("auth.login", token=as_admin, headers={IMPERSONATE: member.id.hex})
    assert status == 403
    assert "cannot impersonate" in body["meta"]["result_msg"]


def test_an_impersonated_admin_is_not_an_agent(api, as_admin, workspace, admin_member):
    for endpoint, data in [("queues.get_next_task", {"queue": "gpu"}), ("tasks.completed", {"task": "t"})]:
        status, body = api.call(endpoint, data, token=as_admin)
        assert status == 403, (endpoint, body)
    credential, secret = credential_create(workspace=workspace, actor=admin_member)
    own = api.login(credential.access_key, secret)
    # With their own key the administrator passes the agent check (and then finds no such pool).
    assert api.call("queues.get_next_task", {"queue": "gpu"}, token=own)[0] == 400


def test_access_rules_bind_an_impersonated_admin(
    api,
    service_account,
    workspace,
    owner,
    admin_member,
    member,
    setup,
):
    from access.models import GroupMembership

    GroupMembership.objects.create(group=setup["dev"], user=admin_member)
    make_rule(workspace, owner, QUEUE, setup["queue"], READ, users=[member])
    credential, secret = credential_create(workspace=workspace, actor=admin_member)
    own = api.login(credential.access_key, secret)
    status, body = api.call("tasks.enqueue", {"task": "mine", "queue_name": "dev-4x"}, token=own)
    assert status == 200, body  # administrators pass every access rule
    token = impersonated(api, service_account, admin_member)
    status, body = api.call("tasks.enqueue", {"task": "theirs", "queue_name": "dev-4x"}, token=token)
    assert status == 403, body
    assert "access rule" in body["meta"]["result_msg"]


def test_an_impersonated_admin_does_not_get_the_admins_group_vault(
    api, service_account, workspace, owner, admin_member
):
    from vaults import services as vault_services

    admins = builtin_groups(workspace=workspace)["admins"]
    vault_services.group_vault_create(
        workspace=workspace, actor=owner, group=admins, name="admin secrets", fmt="hocon", content="a: 1"
    )
    credential, secret = credential_create(workspace=workspace, actor=admin_member)
    own = api.login(credential.access_key, secret)
    query = "enabled=true&types=config"
    assert [v["data"] for v in api.call("users.get_vaults", token=own, query=query)[1]["data"]["vaults"]] == [
        "a: 1"
    ]
    token = impersonated(api, service_account, admin_member)
    assert api.call("users.get_vaults", token=token, query=query)[1]["data"]["vaults"] == []


# --- Tokens stop at once ------------------------------------------------------------------------------


def switch_impersonation_off(service_account, owner, member, workspace):
    services.service_account_update(account=service_account, actor=owner, allow_impersonation=False)


def delete_service_account(service_account, owner, member, workspace):
    services.service_account_delete(account=service_account, actor=owner)


def revoke_service_account_key(service_account, owner, member, workspace):
    services.service_account_credential_revoke(
        account=service_account, actor=owner, credential=service_account.first_credential
    )


def owner_leaves(service_account, owner, member, workspace):
    membership_leave(membership=Membership.objects.get(workspace=workspace, user=member))


def owner_removed(service_account, owner, member, workspace):
    services.member_remove(workspace=workspace, actor=owner, user=member)


def owner_deactivated(service_account, owner, member, workspace):
    member.is_active = False
    member.save(update_fields=["is_active"])


def service_account_user_deactivated(service_account, owner, member, workspace):
    user = service_account.user
    user.is_active = False
    user.save(update_fields=["is_active"])


@pytest.mark.parametrize(
    "event",
    [
        switch_impersonation_off,
        delete_service_account,
        revoke_service_account_key,
        owner_leaves,
        owner_removed,
        owner_deactivated,
        service_account_user_deactivated,
    ],
)
def test_an_impersonated_token_stops_at_once(
    api, as_member, service_account, owner, member, workspace, event, django_capture_on_commit_callbacks
):
    assert works(api, as_member)  # verified and cached: from here on, no database check per call
    with django_capture_on_commit_callbacks(execute=True):
        event(service_account, owner, member, workspace)
    assert blocked(api, as_member)
    status, _ = api.call("auth.login", token=as_member)  # and it cannot be refreshed either
    assert status == 401


def test_switching_impersonation_back_on_does_not_revive_old_tokens(
    api, as_member, service_account, owner, member, django_capture_on_commit_callbacks
):
    assert works(api, as_member)
    with django_capture_on_commit_callbacks(execute=True):
        services.service_account_update(account=service_account, actor=owner, allow_impersonation=False)
        services.service_account_update(account=service_account, actor=owner, allow_impersonation=True)
    assert blocked(api, as_member)
    assert ImpersonationGrant.objects.get(pk=claims_of(as_member)["grant_id"]).revoked_at is not None
    fresh = impersonated(api, service_account, member)  # a new grant
    assert claims_of(fresh)["grant_id"] != claims_of(as_member)["grant_id"]
    assert works(api, fresh)


def test_an_administrator_who_is_demoted_loses_the_tokens_they_impersonated(
    api, workspace, owner, admin_member, member, django_capture_on_commit_callbacks
):
    credential, secret = credential_create(workspace=workspace, actor=admin_member)
    status, body = impersonate(api, api.login(credential.access_key, secret), member.id.hex)
    assert status == 200
    token = body["data"]["token"]
    assert works(api, token)
    admins = builtin_groups(workspace=workspace)["admins"]
    with django_capture_on_commit_callbacks(execute=True):
        services.group_remove_member(group=admins, actor=owner, user=admin_member)
    assert blocked(api, token)


def test_an_admin_service_account_keeps_its_grants_when_demoted_if_it_may_impersonate(
    api, service_account, workspace, owner, member, django_capture_on_commit_callbacks
):
    admins = builtin_groups(workspace=workspace)["admins"]
    services.group_add_member(group=admins, actor=owner, user=service_account.user)
    token = impersonated(api, service_account, member)
    with django_capture_on_commit_callbacks(execute=True):
        services.group_remove_member(group=admins, actor=owner, user=service_account.user)
    assert works(api, token)  # "Allow impersonation" still gives it the right


def test_a_reactivated_owner_works_again_but_revoked_grants_never_do(
    api, as_member, member, django_capture_on_commit_callbacks
):
    assert works(api, as_member)
    with django_capture_on_commit_callbacks(execute=True):
        member.is_active = False
        member.save(update_fields=["is_active"])
    assert blocked(api, as_member)
    with django_capture_on_commit_callbacks(execute=True):
        member.is_active = True
        member.save(update_fields=["is_active"])
    assert works(api, as_member)


def test_the_hot_path_stays_free_of_queries(listening, api, as_member, django_assert_num_queries):
    assert works(api, as_member)
    with django_assert_num_queries(0):
        for _ in range(5):
            assert works(api, as_member)


def test_a_grant_revoked_in_another_process_arrives_through_pubsub(listening, api, as_member):
    assert works(api, as_member)
    grant_id = claims_of(as_member)["grant_id"]
    ImpersonationGrant.objects.filter(pk=grant_id).update(revoked_at=timezone.now())
    redis.Redis.from_url(django_settings.REDIS_URL).publish(revocation.channel_name(), f"g:{grant_id}")
    assert wait_for(lambda: blocked(api, as_member), timeout=2)


def test_a_token_that_predates_grants_is_refused(api, service_account, member, workspace):
    old_style = tokens.issue(
        user_id=member.id.hex,
        user_name=member.username,
        company_id=workspace.id.hex,
        company_name=workspace.name,
        role="user",
        credential_id=service_account.first_credential.pk,
        extra={"impersonated_by": service_account.user_id.hex},
    )
    status, body = api.call("users.get_current_user", token=old_style)
    assert (status, body["meta"]["result_subcode"]) == (401, 30)


# --- A Bearer refresh re-checks everything in the database -----------------------------------------------


def by_hand_flag_off(service_account, member, workspace, grant_id):
    ServiceAccount.objects.filter(pk=service_account.pk).update(allow_impersonation=False)


def by_hand_owner_gone(service_account, member, workspace, grant_id):
    Membership.objects.filter(workspace=workspace, user=member).delete()


def by_hand_grant_revoked(service_account, member, workspace, grant_id):
    ImpersonationGrant.objects.filter(pk=grant_id).update(revoked_at=timezone.now())


def by_hand_key_revoked(service_account, member, workspace, grant_id):
    Credential.objects.filter(pk=service_account.first_credential.pk).update(revoked_at=timezone.now())


def by_hand_service_account_left(service_account, member, workspace, grant_id):
    Membership.objects.filter(workspace=workspace, user=service_account.user).delete()


@pytest.mark.parametrize(
    "change, status",
    [
        (by_hand_flag_off, 403),
        (by_hand_owner_gone, 403),
        (by_hand_grant_revoked, 401),
        (by_hand_key_revoked, 401),
        (by_hand_service_account_left, 403),
    ],
)
def test_a_bearer_refresh_rechecks_in_the_database(
    listening, api, as_member, service_account, member, workspace, change, status
):
    """Changes made without the services (so nothing is published): the cached verdict still
    lets calls through until it expires, but a refresh asks the database and is refused."""
    assert works(api, as_member)
    change(service_account, member, workspace, claims_of(as_member)["grant_id"])
    assert works(api, as_member)  # the cache has not heard of it: this is what the refresh guards
    got, body = api.call("auth.login", token=as_member)
    assert got == status, body
    assert "token" not in body["data"]


# --- Audit ----------------------------------------------------------------------------------------------


def test_obtaining_a_grant_is_audited_with_the_service_account_as_actor(
    api, as_member, service_account, member, workspace, owner, client
):
    event = AuditEvent.objects.get(action="impersonation.grant")
    assert event.actor == service_account.user
    assert event.actor_label == "gpu-agents (service account)"
    assert (event.on_behalf_of, event.on_behalf_of_label) == (member, "member@example.com")
    # Impersonating again under the same grant adds no row.
    impersonated(api, service_account, member)
    assert AuditEvent.objects.filter(action="impersonation.grant").count() == 1
    client.force_login(owner)
    html = client.get(reverse("workspaces:audit-log", args=[workspace.slug])).content.decode()
    assert "gpu-agents (service account)" in html and "on behalf of member@example.com" in html
    html = client.get(
        reverse("workspaces:audit-log", args=[workspace.slug]), {"actor": "member@"}
    ).content.decode()
    assert "impersonation.grant" in html


def test_audit_rows_written_under_impersonation_name_the_service_account(
    api, as_member, service_account, member, workspace
):
    """Whatever endpoint writes an audit row with the token's user as actor, the row records
    the service account as actor and the owner as "on behalf of"."""

    def probe(call):
        audit_log(actor=call.user, action="probe.change", workspace=call.workspace)
        return {}

    name = "probe.audit"
    with registry.replaced(name):
        registry.register(
            registry.Endpoint(name=name, func=probe, auth=True, min_version=(1, 0), fallback=False)
        )
        assert api.call(name, token=as_member)[0] == 200
        credential, secret = credential_create(workspace=workspace, actor=member)
        assert api.call(name, token=api.login(credential.access_key, secret))[0] == 200
    impersonated_row, own_row = AuditEvent.objects.filter(action="probe.change").order_by("id")
    assert (impersonated_row.actor, impersonated_row.on_behalf_of) == (service_account.user, member)
    assert impersonated_row.actor_label == "gpu-agents (service account)"
    assert impersonated_row.on_behalf_of_label == "member@example.com"
    assert (own_row.actor, own_row.on_behalf_of, own_row.on_behalf_of_label) == (member, None, "")


def test_the_key_pair_path_works_too(api, service_account, admin_member):
    status, body = api.call(
        "auth.login",
        auth=basic(service_account.first_credential.access_key, service_account.first_secret),
        headers={IMPERSONATE: admin_member.id.hex},
    )
    assert status == 200
    claims = claims_of(body["data"]["token"])
    assert claims["identity"]["role"] == "user" and isinstance(claims["grant_id"], int)
