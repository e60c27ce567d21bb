"""Benchmark of the ClearML API's authentication hot path under gunicorn, on loopback.

Run it (PostgreSQL and Redis are needed; `make bench` does exactly this):

    scripts/with-test-services.sh .venv/bin/python bench/api_auth.py

Options: --duration SEC per measurement (default 5), --rounds N (3), --connections N (16),
--workers N gunicorn workers (2), --worker-class sync|gthread (sync),
--threads N (gthread only, 4), --loadgen auto|wrk|python (auto: wrk if installed,
`apt-get install -y wrk`), --port (18765), --keep-db.

What it does, in about two minutes and on 127.0.0.1 only:
1. creates a throw-away database `portal_bench_<pid>` next to DATABASE_URL's, migrates
   it, and makes a user and a key pair with the ops commands (`portal_users create`,
   `portal_credentials create --json`);
2. starts gunicorn with the production settings (DEBUG off, PostgreSQL, Redis) plus
   one bare Django view returning constant JSON (bench/urls.py): the ceiling;
3. in --rounds interleaved rounds, for each target, warms every worker up, then loads
   it for --duration seconds with --connections concurrent keep-alive clients and
   records requests/s and latency percentiles (ratios: median over the rounds):
     bare           GET /bench/bare                      (the ceiling)
     ping           GET /api/debug.ping                  (the API dispatcher and envelope, no auth)
     authenticated  GET /api/users.get_current_user      (Bearer JWT + revocation check)
     login          GET /api/auth.login                  (Basic key pair -> new JWT)
4. revokes the key pair with `portal_credentials revoke` and checks that the very next
   requests with its token are refused (401) by every worker;
5. stops gunicorn, drops the database, and ends with exactly one line
   `ratio_authenticated=<x> ratio_login=<y>` (requests/s over the bare view's).

The bench is not a test: it fails only when the server cannot be started or answers
errors. Figures seen on the project's machine are in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from multiprocessing import Pool
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BIN = Path(PYTHON).parent
HOST = "127.0.0.1"
sys.path.insert(0, str(ROOT))

from bench.throwaway import admin_sql, database_url_for, log  # noqa: E402


@dataclass
class Result:
    name: str
    rps: float
    p50: float
    p90: float
    p99: float
    requests: int
    errors: int
    extra: dict = field(default_factory=dict)


# ---------------------------------------------------------------- setup


def server_env(args, database_url: str, redis_url: str) -> dict[str, str]:
    from cryptography.fernet import Fernet

    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="bench.settings_bench",
        PYTHONPATH=str(ROOT),
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        PORTAL_BASE_URL=f"http://{HOST}:{args.port}",
        ALLOWED_HOSTS=f"{HOST},localhost",
        PORTAL_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        SECURE_SSL_REDIRECT="false",
        SECURE_HSTS_SECONDS="0",
        DATABASE_URL=database_url,
        DATABASE_CONN_MAX_AGE="600",
        REDIS_URL=redis_url,
        LOG_LEVEL="WARNING",
    )
    return env


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [PYTHON, str(ROOT / "manage.py"), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def bench_user_with_key_pair(env: dict[str, str], email: str = "bench@example.com") -> dict:
    """A user EMAIL and a key pair of theirs, made with the ops commands: {"access_key", "secret_key", ...}."""
    manage(env, "portal_users", "create", "--email", email, "--password", secrets.token_urlsafe(16))
    return json.loads(
        manage(env, "portal_credentials", "create", "--user", email, "--label", "bench", "--json")
    )


def start_gunicorn(args, env: dict[str, str]) -> subprocess.Popen:
    command = [
        str(BIN / "gunicorn"),
        "settings_portal.wsgi:application",
        "--bind",
        f"{HOST}:{args.port}",
        "--workers",
        str(args.workers),
        "--worker-class",
        args.worker_class,
        "--log-level",
        "warning",
        "--keep-alive",
        "5",
    ]
    if args.worker_class == "gthread":
        command += ["--threads", str(args.threads)]
    process = subprocess.Popen(command, env=env, cwd=ROOT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("gunicorn exited at start-up")
        try:
            with urllib.request.urlopen(f"http://{HOST}:{args.port}/api/debug.ping", timeout=1) as response:
                if response.status == 200:
                    return process
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.2)
    process.terminate()
    raise SystemExit("gunicorn did not answer within 30 s")


def get_json(url: str, headers: dict[str, str]) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


# ---------------------------------------------------------------- load generators

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        return float("nan")
    return float(match.group(1)) * _UNITS[match.group(2)]


def run_wrk(name: str, url: str, headers: dict[str, str], duration: float, connections: int) -> Result:
    command = [
        "wrk",
        "-t2",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        "--latency",
        "--timeout",
        "5s",
    ]
    for key, value in headers.items():
        command += ["-H", f"{key}: {value}"]
    command.append(url)
    out = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    percentiles = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)", out, re.MULTILINE))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = int(non_2xx.group(1)) if non_2xx else 0
    if socket_errors:
        # With sync workers every response closes its connection; wrk counts those as read errors.
        errors += int(socket_errors.group(1)) + int(socket_errors.group(4))
    return Result(
        name,
        rps,
        _ms(percentiles.get("50", "")),
        _ms(percentiles.get("90", "")),
        _ms(percentiles.get("99", "")),
        requests,
        errors,
    )


def _python_worker(job: tuple[str, dict[str, str], float, int]) -> tuple[list[float], int, int]:
    url, headers, duration, threads = job
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    latencies: list[float] = []
    counts = {"ok": 0, "errors": 0}
    lock = threading.Lock()
    deadline = time.monotonic() + duration

    def client() -> None:
        connection = None
        local: list[float] = []
        ok = errors = 0
        while time.monotonic() < deadline:
            if connection is None:
                connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
            started = time.perf_counter()
            try:
                connection.request("GET", target, headers=headers)
                response = connection.getresponse()
                response.read()
                local.append((time.perf_counter() - started) * 1000)
                if response.status == 200:
                    ok += 1
                else:
                    errors += 1
                if response.will_close:
                    connection.close()
                    connection = None
            except (OSError, http.client.HTTPException):
                errors += 1
                connection = None
        with lock:
            latencies.extend(local)
            counts["ok"] += ok
            counts["errors"] += errors

    pool = [threading.Thread(target=client) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return latencies, counts["ok"], counts["errors"]


def run_python(name: str, url: str, headers: dict[str, str], duration: float, connections: int) -> Result:
    """Fallback when wrk is missing: 2 processes x connections/2 keep-alive threads, bounded by DURATION."""
    processes = 2
    per_process = max(1, connections // processes)
    started = time.monotonic()
    with Pool(processes) as pool:
        parts = pool.map(_python_worker, [(url, headers, duration, per_process)] * processes)
    elapsed = time.monotonic() - started
    latencies = sorted(value for part in parts for value in part[0])
    ok = sum(part[1] for part in parts)
    errors = sum(part[2] for part in parts)

    def percentile(p: float) -> float:
        return (
            latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] if latencies else float("nan")
        )

    return Result(
        name, (ok + errors) / elapsed, percentile(50), percentile(90), percentile(99), ok + errors, errors
    )


# ---------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", choices=["sync", "gthread"], default="sync")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--port", type=int, default=18765)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    if not 1 <= args.duration <= 60 or not 1 <= args.rounds <= 10:
        parser.error("--duration is bounded to 1..60 s and --rounds to 1..10")

    database_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")) or not redis_url:
        raise SystemExit(
            "Needs PostgreSQL and Redis: run it through scripts/with-test-services.sh (make bench)."
        )
    loadgen = args.loadgen
    if loadgen == "auto":
        loadgen = "wrk" if shutil.which("wrk") else "python"
    if loadgen == "wrk" and not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install -y wrk), or use --loadgen python")
    load = run_wrk if loadgen == "wrk" else run_python

    db_name = f"portal_bench_{os.getpid()}"
    bench_db = database_url_for(database_url, db_name)
    env = server_env(args, bench_db, redis_url)
    admin_sql(database_url, f'CREATE DATABASE "{db_name}"')
    server = None
    try:
        log(f"setting up {db_name} (migrate, user, key pair) ...")
        manage(env, "migrate", "--noinput")
        pair = bench_user_with_key_pair(env)
        server = start_gunicorn(args, env)
        base = f"http://{HOST}:{args.port}"
        basic = "Basic " + base64.b64encode(f"{pair['access_key']}:{pair['secret_key']}".encode()).decode()
        status, body = get_json(f"{base}/api/auth.login", {"Authorization": basic})
        if status != 200:
            raise SystemExit(f"auth.login failed: {status} {body}")
        bearer = {"Authorization": f"Bearer {body['data']['token']}"}
        targets = {
            "bare": (f"{base}/bench/bare", {}),
            "ping": (f"{base}/api/debug.ping", {}),
            "authenticated": (f"{base}/api/users.get_current_user", bearer),
            "login": (f"{base}/api/auth.login", {"Authorization": basic}),
        }
        log(
            f"gunicorn {args.workers} {args.worker_class} workers, {loadgen} with {args.connections} connections, "
            f"{args.duration:g} s per run, on {HOST}:{args.port}"
        )
        # Interleaved rounds: the ratio of each round compares runs made seconds apart, so
        # load from anything else on the machine affects both sides alike; the median wins.
        rounds: list[dict[str, Result]] = []
        for number in range(1, args.rounds + 1):
            log(f"round {number}/{args.rounds}")
            results: dict[str, Result] = {}
            for name in ["bare", "ping", "authenticated", "login"]:
                url, headers = targets[name]
                load(name, url, headers, args.warmup, args.connections)
                result = results[name] = load(name, url, headers, args.duration, args.connections)
                log(
                    f"  {name:<14} {result.rps:7.0f} req/s   p50 {result.p50:7.2f} ms   p90 {result.p90:7.2f} ms"
                    f"   p99 {result.p99:7.2f} ms   errors {result.errors}"
                )
            rounds.append(results)

        def median_ratio(name: str) -> float:
            return statistics.median(r[name].rps / r["bare"].rps for r in rounds)

        def median(name: str, attribute: str) -> float:
            return statistics.median(getattr(r[name], attribute) for r in rounds)

        log(f"median of {len(rounds)} rounds:")
        log(f"  {'':<14} {'req/s':>7}   {'p50 ms':>7}  {'p90 ms':>7}  {'p99 ms':>7}  ratio to bare")
        for name in ["bare", "ping", "authenticated", "login"]:
            log(
                f"  {name:<14} {median(name, 'rps'):7.0f}   {median(name, 'p50'):7.2f}  {median(name, 'p90'):7.2f}"
                f"  {median(name, 'p99'):7.2f}  {median_ratio(name):.2f}"
            )
        ratio_auth = median_ratio("authenticated")
        ratio_login = median_ratio("login")
        errors = sum(result.errors for r in rounds for result in r.values())

        # Revocation under the cached design: the very next requests must be refused by every worker.
        manage(env, "portal_credentials", "revoke", "--access-key", pair["access_key"])
        refused = 0
        probes = 10 * args.workers
        for _ in range(probes):
            status, _ = get_json(targets["authenticated"][0], bearer)
            refused += status == 401
        log(
            f"revocation: {refused}/{probes} requests refused (401) right after `portal_credentials revoke` returned"
        )
        if errors:
            log(f"warning: {errors} requests failed or timed out; see the errors column")
        log(f"ratio_authenticated={ratio_auth:.2f} ratio_login={ratio_login:.2f}")
        return 0 if refused == probes else 1
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
        if not args.keep_db:
            admin_sql(database_url, f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
