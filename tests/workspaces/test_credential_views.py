import re
from html import unescape

import pytest
from django.urls import reverse

from tests.factories import UserFactory
from workspaces.credentials import credential_create, secret_matches
from workspaces.models import AuditEvent, Credential
from workspaces.selectors import personal_workspace_get

PAGE = reverse("workspaces:workspace-settings")


def url(name, workspace, *args):
    return reverse(f"workspaces:{name}", args=[workspace.slug, *args])


def test_create_dialog_fragment(client, member, workspace, hx):
    client.force_login(member)
    response = client.get(url("credential-create", workspace), headers=hx)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert 'id="credential-form"' in html and 'name="label"' in html


def test_create_shows_the_pair_once_with_both_formats(client, member, workspace, hx):
    client.force_login(member)
    response = client.post(url("credential-create", workspace), {"label": "laptop"}, headers=hx)
    html = unescape(response.content.decode())
    assert response.status_code == 200
    assert "<html" not in html
    credential = Credential.objects.get(workspace=workspace, user=member)
    assert credential.label == "laptop" and credential.created_by == member
    secret = re.search(r'"secret_key" = "([^"]+)"', html).group(1)
    assert secret_matches(credential, secret)
    assert secret not in credential.secret_hash
    assert f'"access_key" = "{credential.access_key}"' in html
    assert f"%env CLEARML_API_ACCESS_KEY={credential.access_key}" in html
    assert f"%env CLEARML_API_SECRET_KEY={secret}" in html
    assert 'data-copy-from="#credential-configuration"' in html
    assert 'data-copy-from="#credential-jupyter"' in html
    assert 'role="tab"' in html
    assert "no-store" in response["Cache-Control"]
    assert f"credentials-changed-{workspace.slug}" in response["HX-Trigger"]
    # never again: the list shows the access key, not the secret
    page = client.get(PAGE + f"?open={workspace.slug}").content.decode()
    assert credential.access_key in page and secret not in page and credential.secret_hash not in page


def test_create_without_javascript(client, member, workspace):
    client.force_login(member)
    assert "<html" in client.get(url("credential-create", workspace)).content.decode()
    response = client.post(url("credential-create", workspace), {"label": ""})
    html = unescape(response.content.decode())
    assert response.status_code == 200
    assert "<html" in html and '"secret_key" = "' in html
    assert 'id="credential-form"' not in html
    credential = Credential.objects.get(workspace=workspace, user=member)
    assert credential.label == ""


@pytest.mark.parametrize(
    ("label", "error"),
    [("x" * 256, "at most 255 characters"), ("two\nlines", "single line")],
)
def test_create_bad_label(client, member, workspace, hx, label, error):
    client.force_login(member)
    response = client.post(url("credential-create", workspace), {"label": label}, headers=hx)
    assert response.status_code == 422
    assert error in response.content.decode()
    assert response["HX-Retarget"] == "#modal-content"
    assert not Credential.objects.filter(workspace=workspace).exists()


def test_create_in_a_workspace_you_are_not_in(client, outsider, workspace):
    client.force_login(outsider)
    assert client.get(url("credential-create", workspace)).status_code == 404
    assert client.post(url("credential-create", workspace), {"label": "x"}).status_code == 404
    assert not Credential.objects.filter(workspace=workspace).exists()


def test_members_see_their_own_admins_see_all_with_owners(client, owner, member, admin_member, workspace):
    mine, _ = credential_create(workspace=workspace, actor=member, label="mine")
    theirs, _ = credential_create(workspace=workspace, actor=owner, label="theirs")
    revoked, _ = credential_create(workspace=workspace, actor=member, label="gone")
    revoked.revoked_at = revoked.created_at
    revoked.save()
    client.force_login(member)
    html = client.get(PAGE + f"?open={workspace.slug}").content.decode()
    assert mine.access_key in html and theirs.access_key not in html and revoked.access_key not in html
    assert ">Owner</th>" not in html
    client.force_login(admin_member)
    html = client.get(PAGE + f"?open={workspace.slug}").content.decode()
    assert mine.access_key in html and theirs.access_key in html and revoked.access_key not in html
    assert ">Owner</th>" in html
    assert f'aria-label="Revoke {theirs.access_key}"' in html  # admins manage every one


def test_last_used_and_from_where(client, member, workspace):
    credential, _ = credential_create(workspace=workspace, actor=member, label="ci")
    credential.last_used_at = credential.created_at
    credential.last_used_from = "10.1.2.3"
    credential.save()
    client.force_login(member)
    html = client.get(PAGE + f"?open={workspace.slug}").content.decode()
    assert "from 10.1.2.3" in html


# --- Label ------------------------------------------------------------------------------------


def test_label_edit_fragment_and_save(client, member, workspace, hx):
    credential, _ = credential_create(workspace=workspace, actor=member, label="old")
    client.force_login(member)
    response = client.get(url("credential-label", workspace, credential.pk) + "?edit=1", headers=hx)
    html = response.content.decode()
    assert "<html" not in html and f'id="credential-label-{credential.pk}"' in html and 'value="old"' in html
    response = client.post(url("credential-label", workspace, credential.pk), {"label": "new"}, headers=hx)
    html = response.content.decode()
    assert response.status_code == 200 and "Saved" in html and ">new</span>" in html
    credential.refresh_from_db()
    assert credential.label == "new"
    assert AuditEvent.objects.filter(action="credential.edit", target_id=str(credential.pk)).exists()


def test_label_cancel_fragment_is_read_only(client, member, workspace, hx):
    credential, _ = credential_create(workspace=workspace, actor=member, label="old")
    client.force_login(member)
    html = client.get(url("credential-label", workspace, credential.pk), headers=hx).content.decode()
    assert 'name="label"' not in html and ">old</span>" in html


def test_label_without_javascript(client, member, workspace):
    credential, _ = credential_create(workspace=workspace, actor=member, label="old")
    client.force_login(member)
    html = client.get(url("credential-label", workspace, credential.pk) + "?edit=1").content.decode()
    assert "<html" in html and f'id="credential-label-{credential.pk}-input"' in html
    response = client.post(url("credential-label", workspace, credential.pk), {"label": "new"}, follow=True)
    assert "Label saved." in response.content.decode()
    credential.refresh_from_db()
    assert credential.label == "new"


@pytest.mark.parametrize("htmx", [True, False])
def test_label_too_long(client, member, workspace, hx, htmx):
    credential, _ = credential_create(workspace=workspace, actor=member, label="old")
    client.force_login(member)
    response = client.post(
        url("credential-label", workspace, credential.pk), {"label": "y" * 300}, headers=hx if htmx else {}
    )
    assert response.status_code == 422
    assert "at most 255 characters" in response.content.decode()
    credential.refresh_from_db()
    assert credential.label == "old"


def test_label_of_someone_elses_credentials_is_forbidden(client, owner, member, workspace):
    credential, _ = credential_create(workspace=workspace, actor=owner, label="owner's")
    client.force_login(member)
    assert client.get(url("credential-label", workspace, credential.pk) + "?edit=1").status_code == 403
    assert (
        client.post(url("credential-label", workspace, credential.pk), {"label": "mine"}).status_code == 403
    )
    credential.refresh_from_db()
    assert credential.label == "owner's"


def test_label_of_another_workspaces_credentials_is_not_found(client, member, owner, workspace):
    personal = personal_workspace_get(user=owner)
    credential, _ = credential_create(workspace=personal, actor=owner, label="private")
    client.force_login(owner)  # owner of both, but the id is not in this workspace
    response = client.post(url("credential-label", workspace, credential.pk), {"label": "moved"})
    assert response.status_code == 404
    client.force_login(member)
    assert client.post(url("credential-label", personal, credential.pk), {"label": "x"}).status_code == 404
    credential.refresh_from_db()
    assert credential.label == "private"


def test_label_with_a_non_numeric_id_is_not_found(client, member, workspace):
    client.force_login(member)
    response = client.post(f"/w/{workspace.slug}/credentials/abc/label/", {"label": "x"})
    assert response.status_code == 404


# --- Revoke -----------------------------------------------------------------------------------


def test_revoke_confirmation_then_revoke_with_htmx(client, member, workspace, hx):
    credential, _ = credential_create(workspace=workspace, actor=member, label="old")
    keep, _ = credential_create(workspace=workspace, actor=member, label="keep")
    client.force_login(member)
    html = client.get(url("credential-revoke", workspace, credential.pk), headers=hx).content.decode()
    assert "<html" not in html and "cannot be undone" in html and credential.access_key in html
    credential.refresh_from_db()
    assert credential.revoked_at is None  # showing the confirmation changes nothing
    response = client.post(url("credential-revoke", workspace, credential.pk), headers=hx)
    html = response.content.decode()
    assert response.status_code == 200
    assert f'id="credentials-{workspace.slug}"' in html and "<html" not in html
    assert credential.access_key not in html and keep.access_key in html
    credential.refresh_from_db()
    assert credential.revoked_at is not None
    assert AuditEvent.objects.filter(action="credential.revoke", target_id=str(credential.pk)).exists()


def test_revoke_without_javascript(client, member, workspace):
    credential, _ = credential_create(workspace=workspace, actor=member)
    client.force_login(member)
    assert "<html" in client.get(url("credential-revoke", workspace, credential.pk)).content.decode()
    response = client.post(url("credential-revoke", workspace, credential.pk), follow=True)
    assert f"Credentials {credential.access_key} revoked." in response.content.decode()
    credential.refresh_from_db()
    assert credential.is_revoked


def test_revoke_twice_is_not_found(client, member, workspace):
    credential, _ = credential_create(workspace=workspace, actor=member)
    client.force_login(member)
    client.post(url("credential-revoke", workspace, credential.pk))
    assert client.post(url("credential-revoke", workspace, credential.pk)).status_code == 404


def test_revoke_roles(client, owner, member, admin_member, outsider, workspace):
    credential, _ = credential_create(workspace=workspace, actor=owner)
    client.force_login(member)
    assert client.get(url("credential-revoke", workspace, credential.pk)).status_code == 403
    assert client.post(url("credential-revoke", workspace, credential.pk)).status_code == 403
    client.force_login(outsider)
    assert client.post(url("credential-revoke", workspace, credential.pk)).status_code == 404
    credential.refresh_from_db()
    assert not credential.is_revoked
    client.force_login(admin_member)  # any credentials in a workspace you administer
    assert client.post(url("credential-revoke", workspace, credential.pk)).status_code == 302
    credential.refresh_from_db()
    assert credential.is_revoked


def test_revoke_is_post_or_get_only(client, member, workspace):
    credential, _ = credential_create(workspace=workspace, actor=member)
    client.force_login(member)
    assert client.delete(url("credential-revoke", workspace, credential.pk)).status_code == 405


def test_credential_table_without_htmx_goes_to_the_page(client, member, workspace):
    client.force_login(member)
    response = client.get(url("credential-table", workspace))
    assert response.status_code == 302 and response["Location"].startswith(PAGE)


def test_other_members_credentials_stay_hidden_in_the_fragment(client, owner, workspace, hx):
    other = UserFactory()
    from workspaces.models import Role
    from workspaces.services import membership_add

    membership_add(workspace=workspace, user=other, role=Role.MEMBER, actor=owner)
    credential, _ = credential_create(workspace=workspace, actor=other)
    client.force_login(UserFactory())
    assert client.get(url("credential-table", workspace), headers=hx).status_code == 404
    client.force_login(other)
    assert (
        credential.access_key in client.get(url("credential-table", workspace), headers=hx).content.decode()
    )
