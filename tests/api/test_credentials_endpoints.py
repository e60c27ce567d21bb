"""auth.create/get/edit/revoke_credentials with the UI's permission rules."""

import pytest

from tests.factories import make_workspace
from workspaces.credentials import credential_create
from workspaces.models import AuditEvent, Credential, Role

from .conftest import basic


@pytest.fixture
def admin_token(api, workspace, admin_member):
    credential, secret = credential_create(workspace=workspace, actor=admin_member, label="admin laptop")
    return api.login(credential.access_key, secret)


def test_create_credentials_for_the_token_user_in_the_token_workspace(api, member, workspace, member_token):
    status, body = api.call("auth.create_credentials", {"label": "ci runner"}, token=member_token)
    assert status == 200
    created = body["data"]["credentials"]
    assert set(created) == {"access_key", "secret_key", "label"}
    assert created["label"] == "ci runner"
    credential = Credential.objects.get(access_key=created["access_key"])
    assert (credential.user, credential.workspace, credential.created_by) == (member, workspace, member)
    assert created["secret_key"] not in credential.secret_hash
    assert AuditEvent.objects.filter(action="credential.create", target_id=str(credential.pk)).exists()
    # the new pair works
    assert api.call("auth.login", auth=basic(created["access_key"], created["secret_key"]))[0] == 200


def test_create_without_label(api, member_token):
    status, body = api.call("auth.create_credentials", token=member_token)
    assert status == 200
    assert body["data"]["credentials"]["label"] == ""


def test_create_with_a_numeric_label_from_the_query_string(api, member_token):
    status, body = api.call("auth.create_credentials", token=member_token, query="label=2024")
    assert status == 200
    assert body["data"]["credentials"]["label"] == "2024"


@pytest.mark.parametrize("label", ["x" * 256, "two\nlines", ["a"]])
def test_create_with_an_invalid_label_is_400_and_creates_nothing(api, member_token, label):
    before = Credential.objects.count()
    status, body = api.call("auth.create_credentials", {"label": label}, token=member_token)
    assert (status, body["meta"]["result_subcode"]) == (400, 12)
    assert Credential.objects.count() == before


def test_get_credentials_never_returns_secrets(api, member_key, member_token):
    credential, secret = member_key
    status, body = api.call("auth.get_credentials", token=member_token)
    assert status == 200
    (item,) = body["data"]["credentials"]
    assert item["access_key"] == credential.access_key
    assert item["label"] == "laptop"
    assert item["last_used"] is not None  # the login just now
    assert "secret" not in str(body).lower().replace("secret_key", "")
    assert secret not in str(body)
    assert credential.secret_hash not in str(body)


def test_member_sees_only_their_own_and_admin_sees_all(
    api, workspace, owner, member_key, member_token, admin_token
):
    credential_create(workspace=workspace, actor=owner, label="owner's")
    mine = {
        c["label"] for c in api.call("auth.get_credentials", token=member_token)[1]["data"]["credentials"]
    }
    assert mine == {"laptop"}
    everyone = {
        c["label"] for c in api.call("auth.get_credentials", token=admin_token)[1]["data"]["credentials"]
    }
    assert everyone == {"laptop", "owner's", "admin laptop"}


def test_revoked_credentials_are_not_listed(api, workspace, member, member_token):
    other, _ = credential_create(workspace=workspace, actor=member, label="old")
    assert api.call("auth.revoke_credentials", {"access_key": other.access_key}, token=member_token)[0] == 200
    labels = {
        c["label"] for c in api.call("auth.get_credentials", token=member_token)[1]["data"]["credentials"]
    }
    assert labels == {"laptop"}


def test_edit_own_label(api, member_key, member_token):
    credential, _ = member_key
    status, body = api.call(
        "auth.edit_credentials", {"access_key": credential.access_key, "label": "desktop"}, token=member_token
    )
    assert (status, body["data"]) == (200, {"updated": 1})
    credential.refresh_from_db()
    assert credential.label == "desktop"
    assert AuditEvent.objects.filter(action="credential.edit", target_id=str(credential.pk)).exists()
    same = api.call(
        "auth.edit_credentials", {"access_key": credential.access_key, "label": "desktop"}, token=member_token
    )
    assert same[1]["data"] == {"updated": 0}


def test_edit_needs_access_key(api, member_token):
    status, body = api.call("auth.edit_credentials", {"label": "x"}, token=member_token)
    assert (status, body["meta"]["result_subcode"]) == (400, 11)
    assert body["meta"]["error_data"] == {"fields": ["access_key"]}


def test_member_cannot_change_someone_elses_credentials_in_the_workspace(api, workspace, owner, member_token):
    theirs, _ = credential_create(workspace=workspace, actor=owner, label="owner's")
    status, body = api.call(
        "auth.edit_credentials", {"access_key": theirs.access_key, "label": "x"}, token=member_token
    )
    assert (status, body["meta"]["result_code"], body["meta"]["result_subcode"]) == (403, 403, 20)
    status, _ = api.call("auth.revoke_credentials", {"access_key": theirs.access_key}, token=member_token)
    assert status == 403
    theirs.refresh_from_db()
    assert theirs.label == "owner's" and not theirs.is_revoked


def test_admin_can_edit_and_revoke_a_members_credentials(
    api, member_key, admin_token, member_token, django_capture_on_commit_callbacks
):
    credential, _ = member_key
    assert api.call("users.get_current_user", token=member_token)[0] == 200
    assert (
        api.call(
            "auth.edit_credentials",
            {"access_key": credential.access_key, "label": "by admin"},
            token=admin_token,
        )[0]
        == 200
    )
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        status, body = api.call(
            "auth.revoke_credentials", {"access_key": credential.access_key}, token=admin_token
        )
    assert (status, body["data"]) == (200, {"revoked": 1})
    assert len(callbacks) == 1
    credential.refresh_from_db()
    assert credential.is_revoked
    assert api.call("users.get_current_user", token=member_token)[0] == 401


def test_credentials_of_another_workspace_do_not_exist_for_you(api, outsider, member_token):
    elsewhere = make_workspace(owner=outsider, name="Elsewhere")
    foreign, _ = credential_create(workspace=elsewhere, actor=outsider)
    for name, data in [
        ("auth.edit_credentials", {"access_key": foreign.access_key, "label": "x"}),
        ("auth.revoke_credentials", {"access_key": foreign.access_key}),
    ]:
        status, body = api.call(name, data, token=member_token)
        assert (status, body["meta"]["result_subcode"]) == (400, 300)
    foreign.refresh_from_db()
    assert not foreign.is_revoked and foreign.label == ""


def test_you_may_manage_credentials_you_created_in_another_workspace(api, member, owner, member_token):
    """The spec's rule: the ones you created in other workspaces are yours to edit/revoke."""
    other = make_workspace(owner=owner, name="Other", members={member: Role.MEMBER})
    created_there, _ = credential_create(workspace=other, actor=member, label="there")
    status, _ = api.call(
        "auth.edit_credentials",
        {"access_key": created_there.access_key, "label": "renamed"},
        token=member_token,
    )
    assert status == 200
    assert (
        api.call("auth.revoke_credentials", {"access_key": created_there.access_key}, token=member_token)[0]
        == 200
    )
    created_there.refresh_from_db()
    assert created_there.label == "renamed" and created_there.is_revoked


def test_revoking_an_unknown_or_revoked_key(
    api, member_key, member_token, django_capture_on_commit_callbacks
):
    credential, _ = member_key
    assert api.call("auth.revoke_credentials", {"access_key": "NOPE"}, token=member_token)[0] == 400
    with django_capture_on_commit_callbacks(execute=True):
        status, _ = api.call(
            "auth.revoke_credentials", {"access_key": credential.access_key}, token=member_token
        )
    assert status == 200
    # the token came from that credential: it is blocked now, whatever it asks
    assert (
        api.call("auth.revoke_credentials", {"access_key": credential.access_key}, token=member_token)[0]
        == 401
    )


def test_revoke_writes_an_audit_event(api, member_key, member_token, member):
    credential, _ = member_key
    api.call("auth.revoke_credentials", {"access_key": credential.access_key}, token=member_token)
    event = AuditEvent.objects.get(action="credential.revoke", target_id=str(credential.pk))
    assert event.actor == member
