"""The dialog's configuration text: shape, and the files_server clearml-init needs."""

import pytest

from workspaces.credentials import configuration_text, credential_create, files_server_url, jupyter_text


@pytest.fixture
def pair(workspace, member):
    return credential_create(workspace=workspace, actor=member, label="my laptop")


def test_exact_shape(settings, pair):
    settings.PORTAL_BASE_URL = "https://portal.example.com"
    settings.PORTAL_API_URL = "https://portal.example.com/api"
    settings.PORTAL_FILES_URL = "https://files.example.com"
    credential, secret = pair
    assert configuration_text(credential=credential, secret=secret) == (
        "api {\n"
        "  # my laptop\n"
        "  web_server: https://portal.example.com/\n"
        "  api_server: https://portal.example.com/api\n"
        "  files_server: https://files.example.com\n"
        "  credentials {\n"
        f'    "access_key" = "{credential.access_key}"\n'
        f'    "secret_key" = "{secret}"\n'
        "  }\n"
        "}"
    )


def test_no_label_no_comment(settings, workspace, member):
    credential, secret = credential_create(workspace=workspace, actor=member)
    assert "#" not in configuration_text(credential=credential, secret=secret)


@pytest.mark.parametrize(
    ("base", "files"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8081"),
        ("https://portal.example.com", "https://portal.example.com:8081"),
        ("https://app.example.com", "https://files.example.com"),
        ("http://localhost:41234", "http://localhost:8081"),
    ],
)
def test_files_server_defaults_to_what_the_sdk_derives(settings, base, files):
    """Without PORTAL_FILES_URL, the SDK's own default (Session.get_files_server_host)."""
    from clearml.backend_api.session import Session
    from clearml.utilities.pyhocon import ConfigFactory

    settings.PORTAL_BASE_URL = base
    settings.PORTAL_FILES_URL = ""
    assert files_server_url() == files
    config = ConfigFactory.parse_string(f'api {{ web_server: "{base}/", api_server: "{base}/api" }}')
    assert Session.get_files_server_host(config) == files


def test_three_distinct_urls(settings, pair):
    settings.PORTAL_FILES_URL = ""
    credential, secret = pair
    text = configuration_text(credential=credential, secret=secret)
    urls = [
        line.split(": ", 1)[1] for line in text.splitlines() if line.strip().split(":")[0].endswith("_server")
    ]
    assert len(urls) == len(set(urls)) == 3


def test_jupyter_text(settings, pair):
    settings.PORTAL_BASE_URL = "https://portal.example.com"
    settings.PORTAL_API_URL = "https://portal.example.com/api"
    settings.PORTAL_FILES_URL = ""
    credential, secret = pair
    assert jupyter_text(credential=credential, secret=secret).splitlines() == [
        "%env CLEARML_WEB_HOST=https://portal.example.com/",
        "%env CLEARML_API_HOST=https://portal.example.com/api",
        "%env CLEARML_FILES_HOST=https://portal.example.com:8081",
        f"%env CLEARML_API_ACCESS_KEY={credential.access_key}",
        f"%env CLEARML_API_SECRET_KEY={secret}",
    ]
