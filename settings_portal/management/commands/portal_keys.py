"""Encryption keys: `manage.py portal_keys generate|rotate`.

Rotation: put a new key first in PORTAL_ENCRYPTION_KEYS (keep the old ones after
it), restart, run `portal_keys rotate`, then drop the old keys.
"""

from django.core.management.base import CommandError
from django.db import transaction

from settings_portal import crypto
from settings_portal.commands import SubcommandCommand


class Command(SubcommandCommand):
    help = "Generate an encryption key, or re-encrypt stored secrets with the newest key."

    def add_subcommands(self, subparsers) -> None:
        subparsers.add_parser("generate", help="Print a new key for PORTAL_ENCRYPTION_KEYS.")
        subparsers.add_parser("rotate", help="Re-encrypt every encrypted value with the first key.")

    def handle_generate(self, **_):
        self.stdout.write(crypto.generate_key())

    def handle_rotate(self, **_):
        total = 0
        with transaction.atomic():
            for model, field in crypto.encrypted_fields():
                count = 0
                rows = model._default_manager.exclude(**{field: ""}).exclude(**{f"{field}__isnull": True})
                # Reading decrypts with any key; writing encrypts with the newest.
                for pk in rows.values_list("pk", flat=True).iterator():
                    try:
                        plaintext = model._default_manager.values_list(field, flat=True).get(pk=pk)
                    except crypto.DecryptionError:
                        # Nothing is written: the transaction rolls back every row.
                        raise CommandError(
                            f"{model._meta.label}.{field} of row {pk} cannot be decrypted with any key of "
                            "PORTAL_ENCRYPTION_KEYS: put back the key it was written with, then rotate again."
                        ) from None
                    model._default_manager.filter(pk=pk).update(**{field: plaintext})
                    count += 1
                total += count
                self.stdout.write(f"{model._meta.label}.{field}: {count} re-encrypted")
        self.stdout.write(f"rotated={total}")
