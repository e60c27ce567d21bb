"""Encryption at rest for secrets the portal must read back.

Authenticated encryption (Fernet: AES-128-CBC + HMAC-SHA256) with several keys
(MultiFernet): the first key of PORTAL_ENCRYPTION_KEYS encrypts, every key
decrypts, so data written under an older key stays readable until
`manage.py portal_keys rotate` re-encrypts it with the newest one.

Secrets we never need to read back (credential secrets, invitation tokens) are not
encrypted but stored as keyed hashes: see `keyed_hash`.
"""

import hashlib
import hmac
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


class DecryptionError(Exception):
    """The ciphertext was not written by any configured key, or was tampered with."""


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "PORTAL_ENCRYPTION_KEYS must hold Fernet keys (generate one with `manage.py portal_keys generate`)"
        ) from exc


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.PORTAL_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionError("cannot decrypt: unknown key or tampered data") from exc


def rotate(token: str) -> str:
    """Re-encrypt a ciphertext with the newest key."""
    try:
        return fernet().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionError("cannot rotate: unknown key or tampered data") from exc


def generate_key() -> str:
    return Fernet.generate_key().decode()


def keyed_hash(value: str) -> str:
    """HMAC-SHA256 of VALUE under PORTAL_HASH_KEY, hex. Compare with `hmac.compare_digest`."""
    return hmac.new(settings.PORTAL_HASH_KEY.encode(), value.encode(), hashlib.sha256).hexdigest()


def hashes_match(value: str, digest: str) -> bool:
    return hmac.compare_digest(keyed_hash(value), digest)


class EncryptedTextField(models.TextField):
    """A text column holding Fernet ciphertext; Python code sees the plaintext.

    The empty string is stored as is (nothing to hide), so "no secret set" stays
    cheap to test for. Never filter on this field: the ciphertext is randomised.
    """

    description = "Text encrypted at rest"

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(value)


def encrypted_fields():
    """Every (model, field name) pair that holds encrypted data, for key rotation."""
    from django.apps import apps

    for model in apps.get_models():
        for field in model._meta.get_fields():
            if isinstance(field, EncryptedTextField):
                yield model, field.name
