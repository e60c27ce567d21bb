"""Every page that shows a secret once (a new key pair, an invitation link) answers
`Cache-Control: no-store`: no browser history, back button or proxy keeps a copy.

The secret blocks carry `data-shown-once` in their templates; the last test fails when a
template gains one that no flow here covers."""

import itertools
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from access import services as access_services
from workspaces import invitations
from workspaces.models import Role

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}
COVERED_TEMPLATES = {
    "components/credentials_shown.html",  # workspace credentials and service account credentials
    "workspaces/invitation_create.html",  # the one invitation dialog, from both pages
}
_serial = itertools.count()


def _email() -> str:
    return f"invitee{next(_serial)}@example.com"


def _service_account(workspace, owner):
    account, _credential, _secret = access_services.service_account_create(
        workspace=workspace, actor=owner, name="gpu-agents"
    )
    return account


def _pending_invitation(workspace, owner):
    return invitations.invitation_create(workspace=workspace, actor=owner, email=_email()).invitation


FLOWS = {
    "workspace credentials": lambda ws, owner: (
        reverse("workspaces:credential-create", args=[ws.slug]),
        {"label": "laptop"},
    ),
    "invitation": lambda ws, owner: (
        reverse("workspaces:invitation-create", args=[ws.slug]),
        {"emails": _email(), "role": Role.MEMBER.value},
    ),
    "several invitations": lambda ws, owner: (
        reverse("workspaces:invitation-create", args=[ws.slug]),
        {"emails": f"{_email()}, {_email()}"},
    ),
    "invitation sent again": lambda ws, owner: (
        reverse("workspaces:invitation-resend", args=[ws.slug, _pending_invitation(ws, owner).pk]),
        {},
    ),
    "new service account": lambda ws, owner: (
        reverse("access:service-account-create", args=[ws.slug]),
        {"name": f"bot-{next(_serial)}"},
    ),
    "service account credentials": lambda ws, owner: (
        reverse("access:service-account-credential-create", args=[ws.slug, _service_account(ws, owner).pk]),
        {"label": "agent"},
    ),
}


@pytest.mark.parametrize("fragment", [True, False], ids=["htmx", "page"])
@pytest.mark.parametrize("flow", FLOWS)
def test_a_secret_shown_once_is_never_stored(client, owner, workspace, flow, fragment):
    client.force_login(owner)
    path, data = FLOWS[flow](workspace, owner)
    response = client.post(path, data, headers=HX if fragment else {})
    assert response.status_code == 200
    assert "data-shown-once" in response.content.decode(), "the flow reached the secret"
    assert "no-store" in response["Cache-Control"]


def test_the_invitation_link_page_is_never_stored(client, owner, workspace):
    issued = invitations.invitation_create(workspace=workspace, actor=owner, email="link@example.com")
    response = client.get(reverse("workspaces:invitation-accept", args=[issued.token]))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]


def test_every_secret_block_is_covered_here():
    root = Path(settings.BASE_DIR) / "templates"
    marked, unmarked = set(), set()
    for path in root.rglob("*.html"):
        text = path.read_text()
        name = path.relative_to(root).as_posix()
        if "data-shown-once" in text:
            marked.add(name)
        elif "credential-text" in text:  # the <pre> a key pair or a link is copied from
            unmarked.add(name)
    assert not unmarked, f"secret blocks without data-shown-once: {unmarked}"
    assert marked == COVERED_TEMPLATES, "add a flow for the new secret block to FLOWS"
