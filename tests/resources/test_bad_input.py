"""Form and query input that answered 500 (issue 9 §4): now field errors or a plain page."""

import pytest
from django.urls import reverse

from access.models import UserGroup
from resources.models import Policy
from workspaces.models import AuditEvent

from .helpers import provision_config

pytestmark = pytest.mark.django_db
HX = {"HX-Request": "true"}
HUGE = ["1e309", "-1e309", "1e999999", "9" * 20, "1E+400"]


def url(name, workspace, *args):
    return reverse(f"resources:{name}", args=[workspace.slug, *args])


@pytest.fixture
def admin_client(client, owner):
    client.force_login(owner)
    return client


@pytest.mark.parametrize("value", ["²", "١", "9" * 40, "-1", "1.5"])
def test_policies_page_with_a_bad_policy_id(admin_client, workspace, value):
    response = admin_client.get(url("policies", workspace) + f"?policy={value}")
    assert response.status_code == 200


@pytest.mark.parametrize("amount", HUGE)
@pytest.mark.parametrize(
    "name,field,other",
    [("pool-new", "capacity", {"name": "P"}), ("profile-new", "allotment", {"name": "F"})],
)
def test_huge_amounts_on_the_editor_forms(admin_client, workspace, name, field, other, amount):
    response = admin_client.post(url(name, workspace), {**other, field: amount}, headers=HX)
    assert response.status_code == 422
    assert "Too large." in response.content.decode() or "negative" in response.content.decode()


@pytest.mark.parametrize("amount", HUGE)
@pytest.mark.parametrize("field", ["reservation", "limit"])
def test_huge_amounts_on_the_policy_form(admin_client, workspace, owner, field, amount):
    provision_config(workspace, owner, pools={"gpu": 4}, profiles={"4x": 4}, links=[("l", "4x", "gpu")])
    group = UserGroup.objects.create(workspace=workspace, name="Dev")
    data = {"name": "Dev", "group": group.pk, "reservation": "0", "limit": "4", field: amount}
    audit = AuditEvent.objects.count()
    response = admin_client.post(url("policy-new", workspace), data, headers=HX)
    assert response.status_code == 422
    assert not Policy.objects.filter(workspace=workspace).exists()
    assert AuditEvent.objects.count() == audit
