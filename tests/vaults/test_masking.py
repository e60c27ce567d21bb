"""Secrets are masked the same way wherever a vault is shown (the vault box on the vault and
Workspace pages, the effective configuration); only the editor shows the text as written."""

import pytest
from django.urls import reverse

from accounts.models import User
from accounts.services import hidden_args_update
from vaults import masking, selectors, services

SECRETS = ["SHH-S3", "SHH-PASS", "SHH-TOKEN", "SHH-LIST", "SHH-ENV", "SHH-GIT", "SHH-AZURE", "SHH-HIDDEN"]
VISIBLE = ["eu-west-1", "AKIA-VISIBLE", "bucket-one", "git-user"]

VAULT = """
sdk.aws.s3 { key: "AKIA-VISIBLE", secret: "SHH-S3", region: eu-west-1 }
sdk.aws.s3.credentials: [{ bucket: "bucket-one", key: "k1", secret: "SHH-LIST" }]
sdk.azure.storage.containers: [{ account_name: "acc", account_key: "SHH-AZURE" }]
api.password = "SHH-PASS"
auth.Access_Token: "SHH-TOKEN"
environment { AWS_SECRET_ACCESS_KEY: "SHH-ENV", MY_HIDDEN_VAR: "SHH-HIDDEN" }
agent { git_user: "git-user", git_pass: "SHH-GIT" }
agent.extra_docker_arguments: ["-e", "MY_HIDDEN_VAR=SHH-HIDDEN"]
"""

MASKED_PATHS = {
    "sdk.aws.s3.secret",
    "api.password",
    "auth.Access_Token",
    "environment.AWS_SECRET_ACCESS_KEY",
    "environment.MY_HIDDEN_VAR",
    "agent.git_pass",
}


@pytest.fixture
def owner_of_vault(workspace, member):
    hidden_args_update(user=member, names=["MY_HIDDEN_VAR"])
    member = User.objects.get(pk=member.pk)
    services.user_vault_save(workspace=workspace, user=member, actor=member, fmt="hocon", content=VAULT)
    services.user_vault_set_enabled(workspace=workspace, user=member, actor=member, enabled=True)
    return member


def test_the_helper_masks_secret_names_hidden_arguments_and_secrets_inside_lists():
    tree = {
        "sdk": {
            "aws": {"s3": {"secret": "x", "key": "AKIA", "credentials": [{"bucket": "b", "secret": "y"}]}}
        },
        "agent": {"git_pass": "p", "extra_docker_arguments": ["-e", "HIDDEN=z"]},
        "env": {"HIDDEN": "h", "PLAIN": "ok"},
    }
    shown = {leaf.path: leaf for leaf in masking.shown_leaves(tree, hidden={"HIDDEN"})}
    assert shown["sdk.aws.s3.secret"].masked and shown["sdk.aws.s3.secret"].text == "********"
    assert shown["agent.git_pass"].masked and shown["env.HIDDEN"].masked
    assert shown["sdk.aws.s3.credentials"].value == [{"bucket": "b", "secret": "********"}]
    assert shown["agent.extra_docker_arguments"].value == ["-e", "HIDDEN=********"]
    assert (shown["sdk.aws.s3.key"].text, shown["env.PLAIN"].text) == ("AKIA", "ok")
    hidden_all = masking.shown_leaves(tree, hidden=set(), hide_all=True)
    assert all(leaf.masked for leaf in hidden_all)


def test_the_vault_box_and_the_effective_configuration_mask_the_same_leaves(workspace, owner_of_vault):
    vault = selectors.user_vault_get(workspace=workspace, user=owner_of_vault)
    preview = selectors.vault_preview(vault, viewer=owner_of_vault)
    box_masked = {line.split(":", 1)[0] for line in preview.lines if line.endswith(": ********")}
    result = selectors.effective_configuration(
        workspace=workspace, user=owner_of_vault, viewer=owner_of_vault
    )
    effective_masked = {entry.path for entry in result.entries if entry.hidden}
    assert box_masked == effective_masked == MASKED_PATHS


@pytest.mark.parametrize(
    "page", ["vaults:user-vault", "workspaces:workspace-settings", "vaults:effective-config"]
)
def test_no_page_shows_a_secret_of_the_vault(client, workspace, owner_of_vault, page):
    client.force_login(owner_of_vault)
    session = client.session
    session["workspace_id"] = str(workspace.id)  # the Workspace page shows the current workspace's box
    session.save()
    path = reverse(page) if page.startswith("workspaces") else reverse(page, args=[workspace.slug])
    html = client.get(path).content.decode()
    leaked = [secret for secret in SECRETS if secret in html]
    assert leaked == []
    assert all(value in html for value in VISIBLE), [value for value in VISIBLE if value not in html]
    assert "********" in html


def test_the_editor_shows_the_text_as_written(client, workspace, owner_of_vault):
    client.force_login(owner_of_vault)
    html = client.get(reverse("vaults:user-vault-edit", args=[workspace.slug])).content.decode()
    assert all(secret in html for secret in SECRETS)


def test_an_administrator_sees_a_members_keys_but_no_value(client, workspace, owner_of_vault, admin_member):
    client.force_login(admin_member)
    html = client.get(
        reverse("vaults:effective-config", args=[workspace.slug]) + f"?user={owner_of_vault.pk.hex}"
    ).content.decode()
    assert "sdk.aws.s3.region" in html
    assert not [value for value in SECRETS + VISIBLE if value in html]


def test_the_box_shows_the_settings_as_hocon_lines():
    leaves = masking.shown_leaves(
        {"sdk": {"aws": {"s3": {"region": "eu-west-1", "port": 443}}, "odd key": "a b", "n": "12"}},
        hidden=set(),
    )
    assert [masking.hocon_line(leaf) for leaf in leaves] == [
        "sdk.aws.s3.region: eu-west-1",
        "sdk.aws.s3.port: 443",
        'sdk."odd key": "a b"',
        'sdk.n: "12"',
    ]
