"""The embedded SQLite default under concurrent clients: no "database is locked" (issue 9 §4).

Two server processes with eight client threads each (16 clients at once) write to one file
database through the real request stack (tests/sqlite_load.py). Without WAL, a busy timeout
and IMMEDIATE transactions, the read-then-write transactions fail at once with
"database is locked" and answer 500.
"""

import json
import os
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

from settings_portal.env import env_database

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "sqlite_load.py"
PROCESSES, THREADS, ROUNDS = 2, 8, 4


def sqlite_env(var_dir: Path) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(DEBUG="true", PORTAL_VAR_DIR=str(var_dir), LOG_LEVEL="WARNING")
    return env


def test_the_sqlite_default_is_configured_for_concurrency(monkeypatch, tmp_path):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    config = env_database("DATABASE_URL", default=f"sqlite:///{tmp_path / 'x.sqlite3'}", conn_max_age=0)
    options = config["OPTIONS"]
    assert options["transaction_mode"] == "IMMEDIATE"
    assert options["timeout"] >= 10
    assert "journal_mode=WAL" in options["init_command"]


def test_sixteen_concurrent_clients_on_the_embedded_sqlite_default(tmp_path):
    env = sqlite_env(tmp_path)
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=300)
    state = tmp_path / "state.json"
    clients = PROCESSES * THREADS
    subprocess.run(
        [sys.executable, str(SCRIPT), "setup", str(state), str(clients)],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
    )
    loads = [
        subprocess.Popen(
            [sys.executable, str(SCRIPT), "load", str(state), str(p * THREADS), str(THREADS), str(ROUNDS)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for p in range(PROCESSES)
    ]
    statuses: Counter = Counter()
    for proc in loads:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        assert "database is locked" not in err, err[-3000:]
        result = json.loads(out.strip().splitlines()[-1])
        assert not result["errors"], result["errors"][0]
        statuses.update(result["statuses"])
    # Every client made every call: API sign-in and key pair (200), page (200), group form (redirect).
    assert set(statuses) <= {"200", "302"}, statuses
    assert sum(statuses.values()) == clients * ROUNDS * 4, statuses
    db = sqlite3.connect(tmp_path / "portal.sqlite3")
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        groups = db.execute("SELECT count(*) FROM access_usergroup WHERE name LIKE 'group %'").fetchone()[0]
    finally:
        db.close()
    assert groups == clients * ROUNDS
