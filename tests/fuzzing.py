"""Shared pieces of the fuzz tests (tests/api/test_fuzz.py, tests/test_form_fuzz.py).

- `TRICKY`: strings that broke the portal once (each answered 500) or sit on a boundary:
  Unicode digits ("²".isdigit() is true, int("²") fails), NUL, lone surrogates, numbers
  that overflow (1e309, 20 digits), 4,300+ digit strings (int() refuses them), markup.
- `row_counts()`: the number of rows of every table the portal's apps own, in one query,
  to prove that a refused request changed nothing.
"""

from __future__ import annotations

from django.apps import apps
from django.db import connection
from hypothesis import strategies as st

PORTAL_APPS = ("accounts", "workspaces", "access", "resources", "vaults", "billing", "identity")
# Rows a refused request may legitimately add: API calls are metered even when they fail
# (billing/metering.py, the embedded default writes the counter directly).
NOT_COUNTED = {"billing_usagecounter", "billing_usageflush"}

TRICKY = [
    "",
    " ",
    "0",
    "-1",
    "1.5",
    "²",
    "¹²³",
    "١٢",
    "Ⅻ",
    "\x00",
    "a\x00b",
    "1e309",
    "-1e309",
    "NaN",
    "inf",
    "9" * 20,
    "9" * 5000,
    "true",
    "null",
    "all",
    "g:²",
    "g:1",
    "u:²",
    "u:00000000-0000-0000-0000-000000000000",
    "new-1",
    "p1",
    "<script>alert(1)</script>",
    "../../etc/passwd",
    "ｓａｍｅ",
    "zero\u200bwidth",
    "x" * 300,
]
# Not sendable in a form (UTF-8 cannot encode them), but JSON can carry them as \ud800.
SURROGATES = ["\ud800", "a\udfffb"]

tricky_text = st.sampled_from(TRICKY)
short_text = st.text(max_size=20)
text_values = st.one_of(tricky_text, short_text)


def row_counts() -> dict[str, int]:
    tables = sorted(
        {
            model._meta.db_table
            for model in apps.get_models(include_auto_created=True)
            if model._meta.app_label in PORTAL_APPS and model._meta.managed and not model._meta.proxy
        }
        - NOT_COUNTED
    )
    quote = connection.ops.quote_name
    sql = "SELECT " + ", ".join(f"(SELECT COUNT(*) FROM {quote(table)})" for table in tables)
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return dict(zip(tables, cursor.fetchone(), strict=True))


def changed_tables(before: dict[str, int], after: dict[str, int]) -> dict[str, tuple[int, int]]:
    return {table: (before[table], after[table]) for table in before if before[table] != after[table]}
