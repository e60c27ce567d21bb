import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from vaults import services
from vaults.models import Vault
from workspaces.models import AuditEvent

HX = {"HX-Request": "true"}


def url(name, workspace, *args, query=""):
    return reverse(f"vaults:{name}", args=[workspace.slug, *args]) + query


@pytest.fixture
def group_vault(workspace, owner, groups):
    return services.group_vault_create(
        workspace=workspace,
        actor=owner,
        name="Storage",
        group=groups["users"],
        fmt="yaml",
        content="sdk:\n  aws:\n    s3:\n      key: AKIA\n      secret: shh\n",
    )


# -- access ------------------------------------------------------------------------------------


ADMIN_PAGES = ["vault-list", "vault-create"]
MEMBER_PAGES = ["user-vault", "user-vault-edit", "effective-config"]


@pytest.mark.parametrize("name", ADMIN_PAGES + MEMBER_PAGES)
def test_outsiders_get_404(client, outsider, workspace, name):
    client.force_login(outsider)
    assert client.get(url(name, workspace)).status_code == 404


@pytest.mark.parametrize("name", ["vault-edit", "vault-download", "vault-delete", "vault-toggle"])
def test_members_get_403_on_administrator_vaults(client, member, workspace, group_vault, name):
    client.force_login(member)
    method = client.post if name == "vault-toggle" else client.get
    assert method(url(name, workspace, group_vault.pk)).status_code == 403
    assert client.post(url("vault-delete", workspace, group_vault.pk)).status_code == 403
    assert Vault.objects.filter(pk=group_vault.pk, enabled=True).exists()


@pytest.mark.parametrize("name", ADMIN_PAGES)
def test_members_get_403_on_the_admin_pages(client, member, workspace, name):
    client.force_login(member)
    assert client.get(url(name, workspace)).status_code == 403


def test_another_workspaces_vault_is_404(client, owner, workspace, group_vault, make_group):
    from tests.factories import make_workspace

    other = make_workspace(owner=owner, name="Other")
    client.force_login(owner)
    assert client.get(url("vault-edit", other, group_vault.pk)).status_code == 404
    assert client.post(url("vault-delete", other, group_vault.pk)).status_code == 404
    assert Vault.objects.filter(pk=group_vault.pk).exists()


# -- the member's vault ------------------------------------------------------------------------


def test_user_vault_page_shows_the_box_and_the_tip(client, member, workspace):
    client.force_login(member)
    response = client.get(url("user-vault", workspace))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="user-vault"' in html and "data-vault-box" in html
    assert "Keep the vault disabled while you edit your configuration" in html.replace("keep", "Keep")
    assert "vaults.js" in html


def test_user_vault_fragment_is_the_box_only(client, member, workspace):
    client.force_login(member)
    html = client.get(url("user-vault", workspace), headers=HX).content.decode()
    assert 'id="user-vault"' in html and "<html" not in html and "vaults.js" not in html


def test_user_vault_editor_in_the_dialog(client, member, workspace):
    services.user_vault_save(workspace=workspace, user=member, actor=member, fmt="json", content='{"a": 1}')
    client.force_login(member)
    html = client.get(url("user-vault-edit", workspace), headers=HX).content.decode()
    assert 'id="vault-editor"' in html and "<html" not in html
    assert "data-code-editor" in html and '<option value="json" selected>' in html
    assert "{&quot;a&quot;: 1}" in html
    assert "Configuration file reference" in html


def test_user_vault_save_htmx_returns_the_box(client, member, workspace):
    client.force_login(member)
    response = client.post(
        url("user-vault-edit", workspace), {"format": "hocon", "content": "sdk.aws.s3.region: eu"}, headers=HX
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="user-vault"' in html and "sdk.aws.s3.region: eu" in html
    vault = Vault.objects.get(user=member)
    assert (vault.content, vault.enabled) == ("sdk.aws.s3.region: eu", False)
    assert AuditEvent.objects.filter(action="vault.create", actor=member).exists()


def test_user_vault_save_without_js_redirects(client, member, workspace):
    client.force_login(member)
    response = client.post(url("user-vault-edit", workspace), {"format": "yaml", "content": "a: 1\n"})
    assert response.status_code == 302 and response["Location"] == url("user-vault", workspace)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("sdk {\n  a: [1, 2\n}", "Line 3, column 1"),
        ("agent.worker_id: x", "agent.worker_id is machine/agent specific"),
    ],
)
def test_user_vault_bad_text_is_422_in_the_dialog_and_changes_nothing(
    client, member, workspace, content, message
):
    services.user_vault_save(workspace=workspace, user=member, actor=member, fmt="hocon", content="old: 1")
    events = AuditEvent.objects.count()
    client.force_login(member)
    response = client.post(
        url("user-vault-edit", workspace), {"format": "hocon", "content": content}, headers=HX
    )
    assert response.status_code == 422
    assert response["HX-Retarget"] == "#modal-content"
    html = response.content.decode()
    assert message in html and 'id="vault-editor"' in html
    assert Vault.objects.get(user=member).content == "old: 1"
    assert AuditEvent.objects.count() == events
    plain = client.post(url("user-vault-edit", workspace), {"format": "hocon", "content": content})
    assert plain.status_code == 422 and "<html" in plain.content.decode()


def test_user_vault_toggle(client, member, workspace):
    client.force_login(member)
    response = client.post(url("user-vault-toggle", workspace), {"enabled": "on"}, headers=HX)
    assert response.status_code == 200 and "Enabled" in response.content.decode()
    assert Vault.objects.get(user=member).enabled
    response = client.post(url("user-vault-toggle", workspace), {})
    assert response.status_code == 302
    assert not Vault.objects.get(user=member).enabled


def test_user_vault_only_touches_the_signed_in_users_vault(client, member, admin_member, workspace):
    services.user_vault_save(
        workspace=workspace, user=admin_member, actor=admin_member, fmt="hocon", content="x: 1"
    )
    client.force_login(member)
    client.post(url("user-vault-edit", workspace), {"format": "hocon", "content": "mine: 1"})
    assert Vault.objects.get(user=admin_member).content == "x: 1"
    assert Vault.objects.get(user=member).content == "mine: 1"


def test_user_vault_box_redacts_hidden_arguments(client, member, workspace):
    services.user_vault_save(
        workspace=workspace,
        user=member,
        actor=member,
        fmt="hocon",
        content='environment { AWS_SECRET_ACCESS_KEY: "xyz" }',
    )
    client.force_login(member)
    html = client.get(url("user-vault", workspace)).content.decode()
    assert "xyz" not in html and "********" in html


# -- administrator vaults ----------------------------------------------------------------------


def test_vault_list_rows(client, admin_member, workspace, group_vault):
    client.force_login(admin_member)
    html = client.get(url("vault-list", workspace)).content.decode()
    assert "+ Add Vault" in html and "Storage" in html and "Users" in html
    assert f'data-copy="{group_vault.pk.hex}"' in html
    assert "sdk.aws.s3.key" in html and "AKIA" not in html and "shh" not in html
    assert url("vault-download", workspace, group_vault.pk) in html
    # Delete opens the portal's confirmation dialog (never the browser's confirm()).
    delete = url("vault-delete", workspace, group_vault.pk)
    assert f'hx-get="{delete}" hx-target="#modal-content"' in html and "hx-confirm" not in html


def test_vault_list_fragment(client, admin_member, workspace, group_vault):
    client.force_login(admin_member)
    html = client.get(url("vault-list", workspace), headers=HX).content.decode()
    assert html.lstrip().startswith('<div id="vault-table"') and "<html" not in html


def test_vault_list_query_count_does_not_grow(
    client, admin_member, workspace, owner, make_group, django_assert_num_queries
):
    client.force_login(admin_member)

    def add(n):
        for _ in range(n):
            group = make_group(f"group-{Vault.objects.count()}")
            services.group_vault_create(
                workspace=workspace,
                actor=owner,
                name=f"v{group.pk}",
                group=group,
                fmt="hocon",
                content="a.b: 1",
            )

    add(1)
    client.get(url("vault-list", workspace))  # warm the session
    with CaptureQueriesContext(connection) as first:
        assert client.get(url("vault-list", workspace)).status_code == 200
    vault_queries = [q for q in first.captured_queries if "vaults_vault" in q["sql"]]
    assert len(vault_queries) == 1  # the table is one query, groups and editors joined
    add(5)
    with django_assert_num_queries(len(first.captured_queries)):
        response = client.get(url("vault-list", workspace))
    assert response.content.decode().count('class="hover-row"') == 6


def test_create_vault_htmx_returns_the_table(client, admin_member, workspace, groups):
    client.force_login(admin_member)
    form = client.get(url("vault-create", workspace), headers=HX).content.decode()
    assert 'id="vault-form"' in form and "Users" in form and "Admins" in form and "Queue admins" in form
    response = client.post(
        url("vault-create", workspace),
        {
            "name": "S3",
            "group": groups["users"].pk,
            "format": "hocon",
            "content": "sdk.aws.s3.key: K",
            "enabled": "on",
        },
        headers=HX,
    )
    assert response.status_code == 200
    assert 'id="vault-table"' in response.content.decode()
    vault = Vault.objects.get(name="S3")
    assert vault.enabled and vault.group == groups["users"] and vault.created_by == admin_member


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "", "format": "hocon", "content": "a: 1"}, "This field is required"),
        (
            {"name": "X", "format": "hocon", "content": "agent { debug: true }"},
            "agent.debug is machine/agent specific",
        ),
        ({"name": "X", "format": "json", "content": '{"a": 1,}'}, "Line 1, column 9"),
        ({"name": "X", "format": "yaml", "content": "agent:\n  cuda_version: '12'\n"}, "agent.cuda_version"),
        ({"name": "X", "format": "ini", "content": "a=1"}, "Select a valid choice"),
    ],
)
def test_create_vault_errors_are_422_and_save_nothing(client, admin_member, workspace, groups, data, message):
    client.force_login(admin_member)
    response = client.post(url("vault-create", workspace), {**data, "group": groups["users"].pk}, headers=HX)
    assert response.status_code == 422
    assert message in response.content.decode()
    assert response["HX-Retarget"] == "#modal-content"
    assert not Vault.objects.exists()


def test_create_vault_from_an_imported_file(client, admin_member, workspace, groups):
    client.force_login(admin_member)
    upload = SimpleUploadedFile(
        "team.yaml", b"sdk:\n  aws:\n    s3:\n      region: eu-west-1\n", content_type="application/yaml"
    )
    response = client.post(
        url("vault-create", workspace),
        {
            "name": "Imported",
            "group": groups["users"].pk,
            "format": "hocon",
            "content": "ignored: 1",
            "upload": upload,
        },
    )
    assert response.status_code == 302
    vault = Vault.objects.get(name="Imported")
    assert (
        vault.format == "yaml" and vault.content.startswith("sdk:") and vault.summary == ["sdk.aws.s3.region"]
    )


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (SimpleUploadedFile("big.conf", b"a: " + b"x" * 3000), "a vault holds at most 2 KiB"),
        (SimpleUploadedFile("bin.conf", b"\xff\xfe\x00\x01"), "not UTF-8 text"),
        (SimpleUploadedFile("bad.json", b'{"agent": {"worker_name": "w"}}'), "agent.worker_name"),
    ],
)
def test_an_invalid_upload_changes_nothing(
    client, admin_member, workspace, groups, group_vault, settings, upload, message
):
    settings.PORTAL_VAULT_MAX_BYTES = 2048
    client.force_login(admin_member)
    before = (group_vault.content, group_vault.format, group_vault.name)
    response = client.post(
        url("vault-edit", workspace, group_vault.pk),
        {
            "name": "Changed",
            "group": groups["admins"].pk,
            "format": "hocon",
            "content": "a: 1",
            "upload": upload,
        },
        headers=HX,
    )
    assert response.status_code == 422
    assert message in response.content.decode()
    group_vault.refresh_from_db()
    assert (group_vault.content, group_vault.format, group_vault.name) == before
    assert group_vault.group.name == "Users"


def test_edit_vault(client, admin_member, workspace, group_vault, research):
    client.force_login(admin_member)
    form = client.get(url("vault-edit", workspace, group_vault.pk), headers=HX).content.decode()
    assert "Edit vault" in form and "AKIA" in form and 'name="enabled"' not in form
    response = client.post(
        url("vault-edit", workspace, group_vault.pk),
        {"name": "Storage", "group": research.pk, "format": "hocon", "content": "sdk.aws.s3.key: NEW"},
        headers=HX,
    )
    assert response.status_code == 200 and 'id="vault-table"' in response.content.decode()
    group_vault.refresh_from_db()
    assert (group_vault.group, group_vault.format, group_vault.enabled) == (research, "hocon", True)
    event = AuditEvent.objects.get(action="vault.update")
    assert event.after["keys"] == {"changed": ["sdk.aws.s3.key"], "removed": ["sdk.aws.s3.secret"]}
    assert "NEW" not in str(event.after) and "shh" not in str(event.before)


def test_toggle_vault(client, admin_member, workspace, group_vault):
    client.force_login(admin_member)
    response = client.post(url("vault-toggle", workspace, group_vault.pk), {}, headers=HX)
    assert response.status_code == 200 and 'id="vault-table"' in response.content.decode()
    group_vault.refresh_from_db()
    assert not group_vault.enabled
    assert AuditEvent.objects.filter(action="vault.disable", actor=admin_member).exists()
    client.post(url("vault-toggle", workspace, group_vault.pk), {"enabled": "on"})
    group_vault.refresh_from_db()
    assert group_vault.enabled


def test_delete_vault(client, admin_member, workspace, group_vault):
    client.force_login(admin_member)
    confirm = client.get(url("vault-delete", workspace, group_vault.pk))
    assert confirm.status_code == 200 and "Delete the vault" in confirm.content.decode()
    assert Vault.objects.filter(pk=group_vault.pk).exists()
    response = client.post(url("vault-delete", workspace, group_vault.pk), headers=HX)
    assert response.status_code == 200 and "No administrator vaults yet" in response.content.decode()
    assert not Vault.objects.filter(pk=group_vault.pk).exists()
    assert client.post(url("vault-delete", workspace, group_vault.pk)).status_code == 404


@pytest.mark.parametrize(
    ("fmt", "content_type", "extension"),
    [
        ("hocon", "text/plain", "conf"),
        ("json", "application/json", "json"),
        ("yaml", "application/yaml", "yaml"),
    ],
)
def test_download_is_the_original_text(
    client, admin_member, workspace, groups, owner, fmt, content_type, extension
):
    text = {"hocon": "# note\na: 1 // c\n", "json": '{\n  "a": 1\n}\n', "yaml": "# note\na: 1\n"}[fmt]
    vault = services.group_vault_create(
        workspace=workspace, actor=owner, name="My vault/1", group=groups["users"], fmt=fmt, content=text
    )
    client.force_login(admin_member)
    response = client.get(url("vault-download", workspace, vault.pk))
    assert response.status_code == 200
    assert response.content.decode() == text
    assert response["Content-Type"].startswith(content_type)
    assert response["Content-Disposition"] == f'attachment; filename="My-vault-1.{extension}"'
    assert response["Cache-Control"] == "no-store"


# -- effective configuration -------------------------------------------------------------------


def test_effective_config_for_oneself(client, member, workspace, group_vault):
    client.force_login(member)
    html = client.get(url("effective-config", workspace)).content.decode()
    assert "sdk.aws.s3.key" in html and "AKIA" in html and "shh" not in html
    assert "Storage" in html and 'name="user"' not in html


def test_members_cannot_see_others_effective_config(client, member, admin_member, workspace):
    client.force_login(member)
    assert (
        client.get(url("effective-config", workspace, query=f"?user={admin_member.pk.hex}")).status_code
        == 403
    )
    assert client.get(url("effective-config", workspace, query=f"?user={member.pk.hex}")).status_code == 200


def test_admins_see_any_members_effective_config(
    client, member, admin_member, outsider, workspace, group_vault
):
    services.user_vault_save(
        workspace=workspace, user=member, actor=member, fmt="hocon", content="personal.token_like: abc123"
    )
    services.user_vault_set_enabled(workspace=workspace, user=member, actor=member, enabled=True)
    client.force_login(admin_member)
    response = client.get(url("effective-config", workspace, query=f"?user={member.pk.hex}"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "personal.token_like" in html and "abc123" not in html and "member's configuration vault" in html
    assert 'name="user"' in html
    assert client.get(url("effective-config", workspace, query=f"?user={outsider.pk.hex}")).status_code == 404
    assert client.get(url("effective-config", workspace, query="?user=garbage")).status_code == 404


def test_the_workspace_page_shows_the_vault_box_of_the_current_workspace(client, member, workspace):
    services.user_vault_save(
        workspace=workspace, user=member, actor=member, fmt="hocon", content="sdk.box: shown"
    )
    client.force_login(member)
    client.get(url("user-vault", workspace))  # makes `workspace` the current one
    html = client.get(reverse("workspaces:workspace-settings")).content.decode()
    assert html.count('id="user-vault"') == 1
    assert "sdk.box: shown" in html and url("user-vault-edit", workspace) in html
