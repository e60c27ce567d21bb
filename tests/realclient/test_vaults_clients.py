"""Configuration vaults reach the real clients: the clearml SDK and clearml-agent against a live portal.

Each client runs in a fresh interpreter (conftest.run_sdk) with HOME and
CLEARML_CONFIG_FILE in the test's tmp dir. The local clearml.conf sets a few values
so the tests also show that vaults override it and leave the rest alone.

The agent is driven the way `clearml-agent daemon` starts: `Worker(...)` from
clearml_agent.commands.worker, whose constructor creates the agent Session
(auth.login) and calls `_apply_extra_configuration()`, which loads the vaults
(`session.load_vaults()` -> users.get_vaults) and merges them into the agent's
configuration before anything else reads it.
"""

import pytest

from access.models import GroupMembership, UserGroup
from access.selectors import builtin_groups
from vaults import services
from workspaces.credentials import credential_create

pytestmark = [pytest.mark.realclient, pytest.mark.django_db(transaction=True)]

LOCAL_CONF = """
sdk {
  aws.s3 { region: "local-region", key: "LOCAL_KEY" }
  local_only: "kept"
}
"""

SDK_SCRIPT = """
import json
from clearml.backend_api.session import Session
session = Session(api_key={key!r}, secret_key={secret!r}, host={host!r})
from clearml.config import config, config_obj
keys = {keys!r}
print(json.dumps({{
    "session": {{k: session.config.get(k, None) for k in keys}},
    "clearml.config": {{k: config_obj.get(k, None) for k in keys}},
    "sdk_s3_key": config.get("aws.s3.key", None),
}}))
"""

KEYS = [
    "sdk.aws.s3.key",
    "sdk.aws.s3.region",
    "sdk.aws.s3.secret",
    "sdk.level",
    "sdk.group_only",
    "sdk.local_only",
    "sdk.team.nested.deep.list",
    "sdk.team.nested.deep.name",
    "sdk.disabled_marker",
]


@pytest.fixture
def pair(portal, workspace, member):
    return credential_create(workspace=workspace, actor=member, label="laptop")


@pytest.fixture
def research(workspace, member):
    group = UserGroup.objects.create(workspace=workspace, name="Research")
    GroupMembership.objects.create(group=group, user=member)
    return group


@pytest.fixture
def vaults(workspace, owner, member, research):
    """A group vault for everyone (HOCON), one for Research (nested YAML), the member's own (JSON), one disabled."""
    groups = builtin_groups(workspace=workspace)
    everyone = services.group_vault_create(
        workspace=workspace,
        actor=owner,
        name="Shared storage",
        group=groups["users"],
        fmt="hocon",
        content='sdk.aws.s3 { key: "GROUP_KEY", secret: "GROUP_SECRET", region: "us-east-1" }\n'
        'sdk { level: "group", group_only: "from-group" }\n',
    )
    team = services.group_vault_create(
        workspace=workspace,
        actor=owner,
        name="Research",
        group=research,
        fmt="yaml",
        content="sdk:\n  aws:\n    s3:\n      region: eu-west-1\n  team:\n    nested:\n      deep:\n"
        "        list: [1, 2, 3]\n        name: research\n",
    )
    services.group_vault_create(
        workspace=workspace,
        actor=owner,
        name="Not yet",
        group=groups["users"],
        fmt="hocon",
        content="sdk.disabled_marker: present",
        enabled=False,
    )
    own = services.user_vault_save(
        workspace=workspace, user=member, actor=member, fmt="json", content='{"sdk": {"level": "user"}}'
    )
    services.vault_set_enabled(vault=own, actor=member, enabled=True)
    return everyone, team, own


def sdk(run_sdk, portal, pair, sdk_home, **env):
    credential, secret = pair
    (sdk_home / "clearml.conf").write_text(LOCAL_CONF)
    script = SDK_SCRIPT.format(key=credential.access_key, secret=secret, host=portal.api_url, keys=KEYS)
    return run_sdk(script, env=env)


def test_sdk_session_merges_group_and_user_vaults_in_precedence_order(
    portal, pair, vaults, run_sdk, sdk_home
):
    result = sdk(run_sdk, portal, pair, sdk_home)
    for where in ("session", "clearml.config"):
        config = result[where]
        assert config["sdk.aws.s3.key"] == "GROUP_KEY", where  # group vault over clearml.conf
        assert config["sdk.aws.s3.secret"] == "GROUP_SECRET", where
        assert config["sdk.aws.s3.region"] == "eu-west-1", where  # Research (later) over Users
        assert config["sdk.group_only"] == "from-group", where
        assert config["sdk.level"] == "user", where  # the member's own vault comes last and wins
        assert config["sdk.local_only"] == "kept", where  # keys no vault sets stay
        assert config["sdk.team.nested.deep.list"] == [1, 2, 3], where  # nested YAML intact
        assert config["sdk.team.nested.deep.name"] == "research", where
        assert config["sdk.disabled_marker"] is None, where  # a disabled vault does not apply
    assert result["sdk_s3_key"] == "GROUP_KEY"  # what the SDK's storage helpers read


def test_a_vault_the_member_lost_stops_applying_at_the_next_session(
    portal, pair, vaults, research, member, run_sdk, sdk_home
):
    assert sdk(run_sdk, portal, pair, sdk_home)["session"]["sdk.team.nested.deep.name"] == "research"
    GroupMembership.objects.filter(group=research, user=member).delete()
    config = sdk(run_sdk, portal, pair, sdk_home)["session"]
    assert config["sdk.team.nested.deep.name"] is None
    assert config["sdk.aws.s3.region"] == "us-east-1"  # the Users vault still applies


def test_disabling_and_enabling_take_effect_at_the_next_session(
    portal, pair, vaults, owner, run_sdk, sdk_home
):
    everyone, _team, own = vaults
    services.vault_set_enabled(vault=everyone, actor=owner, enabled=False)
    services.vault_set_enabled(vault=own, actor=owner, enabled=False)
    config = sdk(run_sdk, portal, pair, sdk_home)["session"]
    assert config["sdk.aws.s3.key"] == "LOCAL_KEY"  # back to clearml.conf
    assert config["sdk.level"] is None
    assert config["sdk.aws.s3.region"] == "eu-west-1"  # Research still on


def test_the_sdk_skips_vaults_when_told_to(portal, pair, vaults, run_sdk, sdk_home):
    config = sdk(run_sdk, portal, pair, sdk_home, CLEARML_DISABLE_VAULT_SUPPORT="1")["session"]
    assert config["sdk.aws.s3.key"] == "LOCAL_KEY" and config["sdk.level"] is None


AGENT_CONF = """
api {{
  api_server: {api}
  web_server: {web}
  files_server: {web}files
  credentials {{ access_key: "{key}", secret_key: "{secret}" }}
}}
agent {{
  worker_id: "local-worker:0"
  worker_name: "local-worker"
  git_user: "local-git-user"
  package_manager {{ type: pip }}
}}
sdk {{ aws.s3 {{ region: "local-region" }} }}
"""

AGENT_SCRIPT = """
import json, os
from clearml_agent.commands.worker import Worker
worker = Worker(config_file=os.environ["CLEARML_CONFIG_FILE"])
config = worker._session.config
keys = ["agent.git_user", "agent.package_manager.extra_index_url", "agent.worker_id", "agent.worker_name",
        "sdk.aws.s3.region", "sdk.team.nested.deep.list", "sdk.level", "sdk.aws.s3.key"]
print(json.dumps({k: config.get(k, None) for k in keys}))
"""


def test_clearml_agent_loads_the_vaults_at_worker_start(
    portal, pair, vaults, workspace, owner, run_sdk, sdk_home
):
    groups = builtin_groups(workspace=workspace)
    services.group_vault_create(
        workspace=workspace,
        actor=owner,
        name="Agents",
        group=groups["users"],
        fmt="hocon",
        content='agent { git_user: "vault-git-user", package_manager.extra_index_url: ["https://pypi.example.com/simple"] }',
    )
    credential, secret = pair
    (sdk_home / "clearml.conf").write_text(
        AGENT_CONF.format(
            api=portal.api_url, web=portal.base_url + "/", key=credential.access_key, secret=secret
        )
    )
    result = run_sdk(AGENT_SCRIPT)
    assert result["agent.git_user"] == "vault-git-user"
    assert result["agent.package_manager.extra_index_url"] == ["https://pypi.example.com/simple"]
    assert result["sdk.aws.s3.region"] == "eu-west-1"
    assert result["sdk.aws.s3.key"] == "GROUP_KEY"
    assert result["sdk.team.nested.deep.list"] == [1, 2, 3]
    assert result["sdk.level"] == "user"
    # Machine-specific settings stay the agent's own (and a vault can't hold them anyway).
    assert (result["agent.worker_id"], result["agent.worker_name"]) == ("local-worker:0", "local-worker")
