"""The pages and the API that read vaults are bounded too: a bomb sent through a form is refused
and changes nothing, and a stored vault that predates the check (written straight to the
database here) can't blow up the vault box, the effective configuration or users.get_vaults."""

import time

import pytest
from django.test import override_settings
from django.urls import reverse

from tests.api.conftest import Api, _fresh_api_state  # noqa: F401  (autouse fixture)
from tests.vaults.test_budget import substitution_bomb
from vaults import services
from vaults.models import Vault, VaultScope
from workspaces.credentials import credential_create

HX = {"HX-Request": "true"}
CPU_BUDGET = 1.0


def url(name, workspace, *args, query=""):
    return reverse(f"vaults:{name}", args=[workspace.slug, *args]) + query


def timed(call):
    start = time.process_time()
    response = call()
    return response, time.process_time() - start


def stored_vault(
    workspace, *, content, fmt="hocon", scope=VaultScope.GROUP, group=None, user=None, name="Old"
):
    """A vault as an older portal may have saved it: no check, `data` as it would have served it."""
    return Vault.objects.create(
        workspace=workspace,
        scope=scope,
        group=group,
        user=user,
        name=name if scope == VaultScope.GROUP else "",
        format=fmt,
        content=content,
        data=content,
        enabled=True,
    )


# The string variant, five levels: 1.1 million characters once expanded (the reported one
# has six levels and 11 million); small enough that the old code renders it in about a second.
STRING_BOMB = substitution_bomb("string", 10, 5)


# -- writes: refused, nothing changed ------------------------------------------------------


@pytest.mark.parametrize("content", [substitution_bomb("list", 10, 6), substitution_bomb("string", 10, 6)])
def test_a_member_posting_a_bomb_gets_a_clear_error_and_nothing_changes(client, member, workspace, content):
    services.user_vault_save(workspace=workspace, user=member, actor=member, fmt="hocon", content="old: 1")
    client.force_login(member)
    response, cpu = timed(
        lambda: client.post(
            url("user-vault-edit", workspace), {"format": "hocon", "content": content}, headers=HX
        )
    )
    assert cpu <= CPU_BUDGET
    assert response.status_code == 422 and response["HX-Retarget"] == "#modal-content"
    assert "Substitutions make this vault too large" in response.content.decode()
    assert Vault.objects.get(user=member).content == "old: 1"
    plain = client.post(url("user-vault-edit", workspace), {"format": "hocon", "content": content})
    assert plain.status_code == 422


def test_an_administrator_vault_bomb_is_refused_too(client, admin_member, workspace, groups):
    client.force_login(admin_member)
    response = client.post(
        url("vault-create", workspace),
        {
            "name": "Bomb",
            "group": groups["users"].pk,
            "format": "hocon",
            "content": substitution_bomb("list", 10, 6),
        },
    )
    assert response.status_code == 422
    assert "Substitutions make this vault too large" in response.content.decode()
    assert not Vault.objects.filter(name="Bomb").exists()


@pytest.mark.parametrize(
    ("fmt", "content", "message"),
    [
        ("json", '{"sdk": {"key": "\\ud800"}}', "lone surrogate escape (\\ud800)"),
        ("yaml", 'sdk:\n  key: "\\ud800"\n', "invalid Unicode character escape"),
    ],
)
def test_lone_surrogates_in_a_form_are_a_field_error_not_a_500(
    client, member, workspace, fmt, content, message
):
    client.force_login(member)
    response = client.post(url("user-vault-edit", workspace), {"format": fmt, "content": content})
    assert response.status_code == 422
    assert message in response.content.decode()
    assert not Vault.objects.filter(user=member).exists()


# -- reads of a stored vault that predates the check ---------------------------------------------


def test_the_effective_configuration_is_bounded_for_a_stored_bomb(client, member, workspace, groups):
    stored_vault(workspace, content=STRING_BOMB, group=groups["users"], name="Old bomb")
    services.user_vault_save(workspace=workspace, user=member, actor=member, fmt="hocon", content="mine: 1")
    services.user_vault_set_enabled(workspace=workspace, user=member, actor=member, enabled=True)
    client.force_login(member)
    response, cpu = timed(lambda: client.get(url("effective-config", workspace)))
    assert response.status_code == 200
    assert cpu <= CPU_BUDGET
    html = response.content.decode()
    assert len(html) < 100_000  # not the 1.1 million characters of the expanded vault
    assert "not served: the clients skip it" in html
    assert "Substitutions make this vault too large" in html
    assert "<code>mine</code>" in html  # the other vaults still show


def test_the_vault_box_is_bounded_for_a_stored_bomb(client, member, workspace):
    stored_vault(workspace, content=STRING_BOMB, scope=VaultScope.USER, user=member)
    client.force_login(member)
    session = client.session
    session["workspace_id"] = str(workspace.id)  # the Workspace page shows the current workspace's box
    session.save()
    for page in (url("user-vault", workspace), reverse("workspaces:workspace-settings")):
        response, cpu = timed(lambda page=page: client.get(page))
        assert response.status_code == 200 and cpu <= CPU_BUDGET
        html = response.content.decode()
        assert len(html) < 200_000
        assert "can't be shown or served" in html and "Substitutions make this vault too large" in html


def test_editing_or_deleting_a_stored_bomb_works(client, admin_member, workspace, groups):
    vault = stored_vault(workspace, content=STRING_BOMB, group=groups["users"], name="Old bomb")
    client.force_login(admin_member)
    response, cpu = timed(
        lambda: client.post(
            url("vault-edit", workspace, vault.pk),
            {"name": "Fixed", "group": groups["users"].pk, "format": "hocon", "content": "a: 1"},
        )
    )
    assert response.status_code == 302 and cpu <= CPU_BUDGET
    vault.refresh_from_db()
    assert (vault.name, vault.content) == ("Fixed", "a: 1")
    assert client.post(url("vault-delete", workspace, vault.pk)).status_code == 302
    assert not Vault.objects.filter(pk=vault.pk).exists()


@pytest.fixture
def api(client):
    return Api(client)


@pytest.fixture
def token(api, workspace, member):
    credential, secret = credential_create(workspace=workspace, actor=member, label="laptop")
    return api.login(credential.access_key, secret)


def served(api, token):
    status, body = api.call("users.get_vaults", method="get", query="enabled=true&types=config", token=token)
    assert status == 200, body
    return [vault["description"] for vault in body["data"]["vaults"]]


@pytest.mark.parametrize(
    "content", [STRING_BOMB, substitution_bomb("list", 10, 6), "a = ${b}\nb = ${a}", "a {" * 5000]
)
def test_users_get_vaults_leaves_out_a_stored_vault_the_clients_cant_read(
    api, token, workspace, groups, content
):
    stored_vault(workspace, content=content, group=groups["users"], name="Old bomb")
    services.group_vault_create(
        workspace=workspace, actor=None, name="Fine", group=groups["users"], fmt="hocon", content="a: 1"
    )
    names, cpu = timed(lambda: served(api, token))
    assert names == ["Fine"]
    assert cpu <= CPU_BUDGET


def test_users_get_vaults_leaves_out_a_stored_vault_over_the_size_limit(api, token, workspace, groups):
    stored_vault(workspace, content="a: 1\n" + "# padding\n" * 2000, group=groups["users"], name="Large")
    stored_vault(workspace, content="b: 2\n", group=groups["users"], name="Small")
    assert served(api, token) == ["Large", "Small"]
    with override_settings(PORTAL_VAULT_MAX_BYTES=1024):  # lowered since: 8 KiB served at most
        assert served(api, token) == ["Small"]


def test_the_effective_configuration_reads_a_bounded_amount_of_vault_text_in_all(
    client, member, workspace, groups
):
    """Each vault is bounded on its own; a member of many groups is bounded too (8 x the vault limit)."""
    with override_settings(PORTAL_VAULT_MAX_BYTES=1024):
        for index in range(3):
            stored_vault(
                workspace,
                content=f"v{index}: 1\n" + "# padding\n" * 300,
                group=groups["users"],
                name=f"V{index}",
            )
        client.force_login(member)
        response, cpu = timed(lambda: client.get(url("effective-config", workspace)))
    html = response.content.decode()
    assert response.status_code == 200 and cpu <= CPU_BUDGET
    assert "more configuration than this page shows at once" in html
    assert all(f"V{index}" in html for index in range(3))  # the vaults are still listed, in order
