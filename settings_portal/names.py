"""Names that are unique in a workspace are compared by their canonical key, not their text.

Two names that look the same must not both exist: a group `ｍｌ` (full-width) next to `ml`,
or `gpu\u200b` (a zero-width space) next to `gpu`, would let one be mistaken for the other in
every table, dialog and audit row. `name_key()` folds them together; every uniqueness check
of groups, vaults, resource policies, service accounts, pools and profiles compares it (the
services, for a clear error), and the database stores its digest in a `name_key` column with
a unique constraint per workspace (`UniqueNameModel`), so two concurrent creates cannot both
pass the check.

Changing `name_key()` changes the stored digests' meaning: recompute them in a migration.
"""

import hashlib
import unicodedata

from django.db import models

# A legacy look-alike (two rows whose names were already equal under name_key() when the
# column was added) keeps a distinct stored value: the digest, this mark, then its id.
_LEGACY_MARK = "."


def name_key(text: str) -> str:
    """The canonical form TEXT is compared by.

    NFKC folds compatibility forms into their plain letters (full-width `ＡＢ`, ligatures,
    superscripts); format characters (Unicode category Cf: zero-width spaces and joiners, the
    soft hyphen, bidirectional controls) are removed; case is folded; runs of white space
    become one space (HTML shows them so), and the ends are trimmed.
    """
    text = unicodedata.normalize("NFKC", text or "")
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    text = unicodedata.normalize("NFKC", text.casefold())
    return " ".join(text.split())


def name_digest(text: str) -> str:
    """What the `name_key` column holds for a name TEXT: the SHA-256 of name_key(TEXT), hex
    ("" for an empty name). A digest, because NFKC can make a 100-character name 1,800
    characters long: too long for a database index."""
    key = name_key(text)
    return hashlib.sha256(key.encode()).hexdigest() if key else ""


class NameKeyField(models.CharField):
    """`name_digest()` of the model's `name`, set on every save (and bulk_create)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", 100)
        kwargs.setdefault("editable", False)
        kwargs.setdefault("default", "")
        kwargs.setdefault("blank", True)
        super().__init__(*args, **kwargs)

    def pre_save(self, instance, add):
        digest = name_digest(instance.name)
        current = getattr(instance, self.attname) or ""
        if current.partition(_LEGACY_MARK)[0] != digest or not digest:
            setattr(instance, self.attname, digest)
        return getattr(instance, self.attname)


class UniqueNameModel(models.Model):
    """A model whose `name` is unique per workspace by its canonical key. Subclasses add
    `UniqueConstraint(fields=["workspace", "name_key"], ...)` to their Meta."""

    name_key = NameKeyField()

    class Meta:
        abstract = True

    def save(self, *args, update_fields=None, **kwargs):
        # save(update_fields=["name"]) writes only the listed columns: keep the key in step.
        if update_fields is not None and "name" in update_fields:
            update_fields = {*update_fields, "name_key"}
        super().save(*args, update_fields=update_fields, **kwargs)


def fill_name_keys(model) -> None:
    """Set name_key on every row of MODEL (a migration's historical model), per workspace.
    Rows that are look-alikes of an earlier row keep a distinct legacy value, so adding the
    unique constraint never fails on existing data; renaming them gives them a plain key."""
    seen = set()
    rows = model.objects.order_by("pk").only("pk", "workspace_id", "name")
    for row in rows.iterator():
        digest = name_digest(row.name)
        value = digest
        if digest and (row.workspace_id, digest) in seen:
            value = f"{digest}{_LEGACY_MARK}{row.pk}"
        seen.add((row.workspace_id, digest))
        model.objects.filter(pk=row.pk).update(name_key=value)
