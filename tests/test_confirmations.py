"""One way to confirm: every destructive action asks in the portal's own dialog
(components/confirm.html, docs/ui.md), as a page without JavaScript, and asking changes nothing.

The browser journeys (tests/e2e/test_one_way.py) click through some of them; this walks every one."""

import pytest

from tests.fuzzing import changed_tables, row_counts
from tests.test_form_fuzz import PAGE_ROUTES, url_for, world  # noqa: F401 (world: the fixture)

HX = {"HX-Request": "true"}

# Route name -> the words of its dialog's button.
CONFIRMED = {
    "accounts:cloud-access-delete": "Delete",
    "workspaces:credential-revoke": "Revoke",
    "workspaces:invitation-revoke": "Revoke",
    "workspaces:workspace-leave": "Leave workspace",
    "access:member-remove": "Remove",
    "access:service-account-credential-revoke": "Revoke",
    "access:service-account-delete": "Delete",
    "access:group-delete": "Delete",
    "access:rule-delete": "Delete",
    "vaults:vault-delete": "Delete",
    "resources:pool-delete": "Delete",
    "resources:profile-delete": "Delete",
    "resources:reset": "Reset configuration",
    "resources:exit": "Leave the editor",
    "resources:policy-delete": "Delete",
    "resources:job-abort": "Abort",
}


@pytest.mark.parametrize("name", sorted(CONFIRMED))
def test_a_destructive_action_asks_first(client, world, db, name):  # noqa: F811
    route = next(r for r in PAGE_ROUTES if r.name == name)
    user = world.member if name == "workspaces:workspace-leave" else world.owner
    client.force_login(user)
    url = url_for(route, world)
    before = row_counts()
    dialog = client.get(url, headers=HX)
    html = dialog.content.decode()
    assert dialog.status_code == 200 and "<html" not in html, name
    assert 'id="confirm-form"' in html and f'hx-post="{url}"' in html, name
    assert f'<button class="btn btn-danger" type="submit">{CONFIRMED[name]}</button>' in html, name
    assert "data-close-modal>Cancel</a>" in html, name
    page = client.get(url)
    assert (
        page.status_code == 200
        and "<html" in page.content.decode()
        and f'action="{url}"' in page.content.decode()
    )
    assert not changed_tables(before, row_counts()), f"asking changed something: {name}"
