"""Encryption at rest (settings_portal/crypto.py) and `manage.py portal_keys`."""

import base64
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection

from accounts.models import CloudAccess
from settings_portal import crypto
from tests.factories import UserFactory

OLD = Fernet.generate_key().decode()
NEW = Fernet.generate_key().decode()


@pytest.fixture
def keys(settings):
    def use(*values):
        settings.PORTAL_ENCRYPTION_KEYS = list(values)

    return use


def raw(entry) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT secret FROM {CloudAccess._meta.db_table} WHERE id = %s", [entry.pk])
        return cursor.fetchone()[0]


def test_round_trip_and_randomised(keys):
    keys(NEW)
    token = crypto.encrypt("hello ✓")
    assert token != "hello ✓"
    assert crypto.decrypt(token) == "hello ✓"
    assert crypto.encrypt("hello ✓") != token


def test_first_key_encrypts_every_key_decrypts(keys):
    keys(OLD)
    old_token = crypto.encrypt("written long ago")
    keys(NEW, OLD)
    assert crypto.decrypt(old_token) == "written long ago"
    new_token = crypto.encrypt("written today")
    assert Fernet(NEW.encode()).decrypt(new_token.encode()) == b"written today"
    keys(NEW)
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(old_token)


def test_tampering_is_detected(keys):
    keys(NEW)
    token = crypto.encrypt("secret")
    raw_bytes = bytearray(base64.urlsafe_b64decode(token))
    raw_bytes[-40] ^= 0x01  # flip one bit of the ciphertext
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(base64.urlsafe_b64encode(bytes(raw_bytes)).decode())
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token[:-4])
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt("not a token")


def test_unknown_key_is_refused(keys):
    keys(Fernet.generate_key().decode())
    token = crypto.encrypt("x")
    keys(NEW)
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token)


@pytest.mark.parametrize("bad", ["", "short", "x" * 44, "not-base64!" * 4])
def test_malformed_key_fails_with_a_clear_message(keys, bad):
    keys(bad)
    with pytest.raises(ImproperlyConfigured, match="PORTAL_ENCRYPTION_KEYS"):
        crypto.encrypt("x")


def test_rotate_token(keys):
    keys(OLD)
    token = crypto.encrypt("v")
    keys(NEW, OLD)
    rotated = crypto.rotate(token)
    keys(NEW)
    assert crypto.decrypt(rotated) == "v"


def test_keyed_hash(settings):
    settings.PORTAL_HASH_KEY = "k1"
    digest = crypto.keyed_hash("secret")
    assert len(digest) == 64 and digest != crypto.keyed_hash("Secret")
    assert crypto.hashes_match("secret", digest)
    assert not crypto.hashes_match("secret2", digest)
    settings.PORTAL_HASH_KEY = "k2"
    assert not crypto.hashes_match("secret", digest)


def test_encrypted_field_stores_ciphertext_and_empty_as_empty(db, keys):
    keys(NEW)
    user = UserFactory()
    entry = CloudAccess.objects.create(user=user, bucket="b", secret="plain-value")
    assert raw(entry) != "plain-value" and crypto.decrypt(raw(entry)) == "plain-value"
    entry.refresh_from_db()
    assert entry.secret == "plain-value"
    empty = CloudAccess.objects.create(user=user, bucket="c", secret="")
    assert raw(empty) == ""
    assert CloudAccess.objects.get(pk=empty.pk).secret == ""


def test_encrypted_fields_lists_cloud_access():
    assert (CloudAccess, "secret") in list(crypto.encrypted_fields())


# --- manage.py portal_keys ----------------------------------------------------------------------


def test_generate_prints_a_usable_key():
    out = StringIO()
    call_command("portal_keys", "generate", stdout=out)
    key = out.getvalue().strip()
    assert Fernet(key.encode()).decrypt(Fernet(key.encode()).encrypt(b"x")) == b"x"
    out2 = StringIO()
    call_command("portal_keys", "generate", stdout=out2)
    assert out2.getvalue().strip() != key


def test_rotate_re_encrypts_old_data_so_only_the_new_key_is_needed(db, keys):
    keys(OLD)
    user = UserFactory()
    first = CloudAccess.objects.create(user=user, bucket="a", secret="alpha")
    second = CloudAccess.objects.create(user=user, bucket="b", secret="beta")
    empty = CloudAccess.objects.create(user=user, bucket="c", secret="")
    before = raw(first)

    keys(NEW, OLD)
    out = StringIO()
    call_command("portal_keys", "rotate", stdout=out)
    assert "accounts.CloudAccess.secret: 2 re-encrypted" in out.getvalue()
    assert "rotated=2" in out.getvalue()
    assert raw(first) != before
    assert raw(empty) == ""

    keys(NEW)  # the old key is gone
    assert CloudAccess.objects.get(pk=first.pk).secret == "alpha"
    assert CloudAccess.objects.get(pk=second.pk).secret == "beta"
    assert Fernet(NEW.encode()).decrypt(raw(first).encode()) == b"alpha"
    with pytest.raises(Exception):  # noqa: B017 - the old key alone cannot read it any more
        Fernet(OLD.encode()).decrypt(raw(first).encode())


def test_rotate_with_an_unreadable_value_fails_clearly_and_changes_nothing(db, keys):
    keys(OLD)
    user = UserFactory()
    good = CloudAccess.objects.create(user=user, bucket="a", secret="alpha")
    keys(Fernet.generate_key().decode())
    CloudAccess.objects.create(user=user, bucket="b", secret="lost")
    keys(NEW, OLD)
    before = raw(good)
    with pytest.raises(CommandError, match="cannot be decrypted"):
        call_command("portal_keys", "rotate", stdout=StringIO())
    assert raw(good) == before


def test_rotate_twice_is_harmless(db, keys):
    keys(NEW)
    entry = CloudAccess.objects.create(user=UserFactory(), bucket="a", secret="alpha")
    call_command("portal_keys", "rotate", stdout=StringIO())
    call_command("portal_keys", "rotate", stdout=StringIO())
    assert CloudAccess.objects.get(pk=entry.pk).secret == "alpha"
