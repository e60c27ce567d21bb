"""Configuration → Web App Cloud Access: storage entries with secrets encrypted at rest."""

import pytest
from django.db import connection
from django.urls import reverse

from accounts.models import CloudAccess
from settings_portal import crypto
from tests.factories import UserFactory
from workspaces.models import AuditEvent

NEW = reverse("accounts:cloud-access-new")
CONFIGURATION = reverse("accounts:configuration")
HX = {"HX-Request": "true"}
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
NEW_SECRET = "another-Secret-value-0123456789"


def edit_url(entry):
    return reverse("accounts:cloud-access-edit", args=[entry.pk])


def delete_url(entry):
    return reverse("accounts:cloud-access-delete", args=[entry.pk])


def data(**overrides):
    values = {
        "bucket": "debug-samples",
        "key": "AKIAIOSFODNN7EXAMPLE",
        "secret": SECRET,
        "region": "eu-west-1",
        "endpoint": "",
    }
    values.update(overrides)
    return values


def raw_secret(entry) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT secret FROM {CloudAccess._meta.db_table} WHERE id = %s", [entry.pk])
        return cursor.fetchone()[0]


@pytest.fixture
def user(db):
    return UserFactory(email="ada@example.com", username="ada")


@pytest.fixture
def other(db):
    return UserFactory(email="grace@example.com", username="grace")


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def entry(signed_in, user):
    signed_in.post(NEW, data())
    return CloudAccess.objects.get(user=user)


def test_add_without_javascript(signed_in, user):
    response = signed_in.post(NEW, data(), follow=True)
    assert response.redirect_chain == [(CONFIGURATION, 302)]
    html = response.content.decode()
    assert "Storage access saved." in html
    assert "debug-samples" in html and "AKIAIOSFODNN7EXAMPLE" in html and "eu-west-1" in html
    assert SECRET not in html
    entry = CloudAccess.objects.get(user=user)
    assert entry.secret == SECRET


def test_add_with_htmx_returns_the_table_fragment(signed_in, user):
    response = signed_in.post(NEW, data(endpoint="minio.example.com:9000"), headers=HX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and 'id="cloud-access"' in html
    assert "minio.example.com:9000" in html and 'class="badge">stored' in html
    assert SECRET not in html


def test_new_form_fragment(signed_in):
    response = signed_in.get(NEW, headers=HX)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    for label in ["Bucket", "Key", "Secret / SAS", "Region", "Host (Endpoint)"]:
        assert label in html
    assert 'type="password"' in html


def test_secret_is_encrypted_at_rest(entry):
    stored = raw_secret(entry)
    assert stored and stored != SECRET
    assert SECRET not in stored
    assert crypto.decrypt(stored) == SECRET
    # Randomised: the same secret encrypts differently each time.
    other_entry = CloudAccess.objects.create(user=entry.user, bucket="b2", secret=SECRET)
    assert raw_secret(other_entry) != stored


def test_secret_is_never_rendered_back(signed_in, entry):
    pages = [
        signed_in.get(CONFIGURATION),
        signed_in.get(edit_url(entry)),
        signed_in.get(edit_url(entry), headers=HX),
        signed_in.post(edit_url(entry), data(bucket=""), headers=HX),
        signed_in.post(edit_url(entry), data(bucket="")),
        signed_in.get(reverse("accounts:profile")),
    ]
    encrypted = raw_secret(entry)
    for response in pages:
        html = response.content.decode()
        assert SECRET not in html
        assert encrypted not in html
    edit = signed_in.get(edit_url(entry), headers=HX).content.decode()
    assert "A secret is stored. Leave empty to keep it." in edit
    assert 'value="debug-samples"' in edit


def test_secret_never_enters_the_audit_log(entry):
    for event in AuditEvent.objects.filter(action__startswith="cloud_access"):
        assert SECRET not in str(event.before) and SECRET not in str(event.after)
    created = AuditEvent.objects.get(action="cloud_access.create")
    assert created.after["secret"] == "********"
    assert created.after["bucket"] == "debug-samples"


def test_edit_with_empty_secret_keeps_the_stored_one(signed_in, user, entry):
    response = signed_in.post(edit_url(entry), data(secret="", region="us-east-1"), headers=HX)
    assert response.status_code == 200
    entry.refresh_from_db()
    assert entry.region == "us-east-1"
    assert entry.secret == SECRET
    event = AuditEvent.objects.get(action="cloud_access.update")
    assert event.before == {"region": "eu-west-1"} and event.after == {"region": "us-east-1"}


def test_edit_with_a_new_secret_replaces_it(signed_in, entry):
    signed_in.post(edit_url(entry), data(secret=NEW_SECRET))
    entry.refresh_from_db()
    assert entry.secret == NEW_SECRET
    assert crypto.decrypt(raw_secret(entry)) == NEW_SECRET
    event = AuditEvent.objects.get(action="cloud_access.update")
    assert event.after == {"secret": "********"}


def test_delete_with_htmx_and_without(signed_in, user, entry):
    second = CloudAccess.objects.create(user=user, bucket="second", secret="x")
    response = signed_in.post(delete_url(entry), headers=HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html and "debug-samples" not in html and "second" in html
    response = signed_in.post(delete_url(second), follow=True)
    assert response.redirect_chain == [(CONFIGURATION, 302)]
    assert "Storage access deleted." in response.content.decode()
    assert not CloudAccess.objects.filter(user=user).exists()
    event = AuditEvent.objects.filter(action="cloud_access.delete").order_by("id").first()
    assert event.before["bucket"] == "debug-samples" and "secret" not in event.before


def test_delete_asks_first_and_get_changes_nothing(signed_in, entry):
    confirm = signed_in.get(delete_url(entry), headers=HX)
    assert confirm.status_code == 200 and 'id="confirm-form"' in confirm.content.decode()
    assert f"Delete the access entry for {entry.bucket}?" in confirm.content.decode()
    assert CloudAccess.objects.filter(pk=entry.pk).exists()


def test_another_users_entry_is_404_and_unchanged(client, other, entry):
    client.force_login(other)
    assert client.get(edit_url(entry)).status_code == 404
    assert client.get(edit_url(entry), headers=HX).status_code == 404
    assert client.post(edit_url(entry), data(bucket="hijack", secret="mine")).status_code == 404
    assert client.post(delete_url(entry)).status_code == 404
    entry.refresh_from_db()
    assert entry.bucket == "debug-samples" and entry.secret == SECRET
    assert "debug-samples" not in client.get(CONFIGURATION).content.decode()


def test_unknown_entry_is_404(signed_in, db):
    assert signed_in.get(reverse("accounts:cloud-access-edit", args=[999999])).status_code == 404
    assert signed_in.get("/settings/configuration/cloud-access/abc/").status_code == 404


def test_anonymous_is_sent_to_sign_in(client, entry):
    client.logout()
    for response in [client.get(NEW), client.post(NEW, data()), client.post(delete_url(entry))]:
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("accounts:login"))
    assert CloudAccess.objects.count() == 1


@pytest.mark.parametrize(
    "overrides,field,error",
    [
        ({"bucket": ""}, "bucket", "This field is required."),
        ({"bucket": "b" * 256}, "bucket", "at most 255 characters"),
        ({"bucket": "has space"}, "bucket", "Use letters, digits"),
        ({"bucket": "<script>"}, "bucket", "Use letters, digits"),
        ({"region": "r" * 65}, "region", "at most 64 characters"),
        ({"region": "eu west"}, "region", "Use letters, digits"),
        ({"endpoint": "not a host"}, "endpoint", "Enter a host name"),
        ({"endpoint": "ftp://minio.example.com"}, "endpoint", "Enter a host name"),
        ({"endpoint": "https://"}, "endpoint", "Enter a host name"),
        ({"key": "with space"}, "key", "must not contain spaces"),
        ({"secret": "s" * 4097}, "secret", "at most 4096 characters"),
    ],
)
@pytest.mark.parametrize("htmx", [True, False])
def test_bad_input_is_refused_with_field_errors_and_no_change(
    signed_in, user, entry, overrides, field, error, htmx
):
    before = CloudAccess.objects.values().get(pk=entry.pk)
    for url in (NEW, edit_url(entry)):
        response = signed_in.post(url, data(**overrides), headers=HX if htmx else {})
        assert response.status_code == 422
        html = response.content.decode()
        assert error in html, html
        assert f'id="id_{field}_error"' in html
        assert "<script>" not in html
        assert SECRET not in html
        if htmx:
            assert response["HX-Retarget"] == "#modal-content"
            assert "<html" not in html
    assert CloudAccess.objects.filter(user=user).count() == 1
    assert CloudAccess.objects.values().get(pk=entry.pk) == before
    assert AuditEvent.objects.filter(action__startswith="cloud_access").count() == 1


def test_duplicate_bucket_and_endpoint_is_refused(signed_in, user, entry):
    response = signed_in.post(NEW, data(), headers=HX)
    assert response.status_code == 422
    assert "You already have an entry for this bucket and endpoint." in response.content.decode()
    assert CloudAccess.objects.filter(user=user).count() == 1
    # The same bucket on another endpoint is another entry.
    assert signed_in.post(NEW, data(endpoint="minio.local:9000"), headers=HX).status_code == 200
    assert CloudAccess.objects.filter(user=user).count() == 2


def test_same_bucket_for_two_users_is_fine(client, user, other, entry):
    client.force_login(other)
    assert client.post(NEW, data(), headers=HX).status_code == 200
    assert CloudAccess.objects.filter(bucket="debug-samples").count() == 2


def test_values_are_stripped(signed_in, user):
    signed_in.post(
        NEW, data(bucket="  spaced  ", key=" AK ", region=" eu-west-1 ", endpoint=" https://s3.example.com ")
    )
    entry = CloudAccess.objects.get(user=user)
    assert (entry.bucket, entry.key, entry.region, entry.endpoint) == (
        "spaced",
        "AK",
        "eu-west-1",
        "https://s3.example.com",
    )


def test_field_errors_are_announced_with_the_field(signed_in, user):
    html = signed_in.post(NEW, data(bucket="has space", region="eu west"), headers=HX).content.decode()
    import re

    bucket = re.search(r"<input[^>]*name=\"bucket\"[^>]*>", html).group(0)
    assert 'aria-invalid="true"' in bucket and 'aria-describedby="id_bucket_error"' in bucket
    region = re.search(r"<input[^>]*name=\"region\"[^>]*>", html).group(0)
    assert 'aria-describedby="id_region_helptext id_region_error"' in region
    assert html.count('id="id_region_error"') == 1
