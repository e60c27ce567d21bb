"""What every benchmark shares: printing, and a throw-away PostgreSQL database next to
DATABASE_URL's, created for one run and dropped afterwards (unless kept for a look)."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit


def log(message: str) -> None:
    print(message, flush=True)


def postgres_url_or_exit() -> str:
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("Needs PostgreSQL: run it through scripts/with-test-services.sh (DATABASE_URL).")
    return database_url


def database_url_for(base_url: str, name: str) -> str:
    parts = urlsplit(base_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


def admin_sql(base_url: str, statement: str) -> None:
    """Run STATEMENT on the server's maintenance database (CREATE/DROP DATABASE)."""
    import psycopg

    with psycopg.connect(database_url_for(base_url, "postgres"), autocommit=True) as connection:
        connection.execute(statement)


@contextmanager
def throwaway_database(base_url: str, prefix: str, *, keep: bool = False) -> Iterator[tuple[str, str]]:
    """Create `<prefix>_<pid>` on BASE_URL's server; yield (name, url); drop it at the end."""
    name = f"{prefix}_{os.getpid()}"
    admin_sql(base_url, f'CREATE DATABASE "{name}"')
    try:
        yield name, database_url_for(base_url, name)
    finally:
        try:
            from django.db import connections

            connections.close_all()
        except Exception:
            pass
        if not keep:
            admin_sql(base_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
