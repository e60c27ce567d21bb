"""Benchmark of the ClearML gateway: what forwarding through the portal adds, and what a large
streamed upload costs a worker in memory. gunicorn + the upstream stand-in, on loopback.

Run it (PostgreSQL and Redis are needed; `make bench` does exactly this):

    scripts/with-test-services.sh .venv/bin/python bench/gateway.py

Options: --duration SEC per measurement (default 5), --rounds N (3), --connections N (16),
--workers N gunicorn workers (2), --threads N per worker (8, gthread: keep-alive),
--loadgen auto|wrk|python, --port (18766), --upload-mb (10), --keep-db.

What it does, in about two minutes:
1. a throw-away database `portal_bench_gw_<pid>`, migrated, with a user and a key pair
   (`portal_users create`, `portal_credentials create --json`);
2. the upstream stand-in (tests/upstream/standin.py) in its own process, with its own token
   secret and system credential; the user's workspace linked to it with
   `portal_upstream link` (the secrets in files, as an operator would);
3. gunicorn with the production settings (DEBUG off, PostgreSQL, Redis), gthread workers so
   the --connections clients keep their connections alive;
4. in --rounds interleaved rounds, `tasks.get_all` with --connections keep-alive clients:
     direct      straight to the stand-in, with an upstream token of the same user
     forwarded   through the portal: Bearer check, revocation cache, metering, upstream token,
                 pooled keep-alive connection to the stand-in, answer relayed
   and the difference of their latency percentiles (median over the rounds);
5. a --upload-mb json-lines `events.add_batch` sent through the portal while the RSS of every
   gunicorn worker is sampled every 10 ms: the growth of the worker that served it;
6. ends with exactly one line
   `forward_added_p50_ms=<x> forward_added_p99_ms=<y> stream_rss_growth_mb=<z>`.

The bench is not a test: it fails only when a server cannot be started or answers errors.
Figures seen on the project's machine are in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
HOST = "127.0.0.1"
sys.path.insert(0, str(ROOT))

from bench.api_auth import (  # noqa: E402
    bench_user_with_key_pair,
    get_json,
    manage,
    run_python,
    run_wrk,
    server_env,
    start_gunicorn,
)
from bench.throwaway import log, postgres_url_or_exit, throwaway_database  # noqa: E402

STANDIN = """
import sys
sys.path.insert(0, {root!r})
from tests.upstream.standin import StandIn

standin = StandIn(token_secret={secret!r}, system_access_key={key!r}, system_secret_key={system_secret!r})
standin.log_bodies = False
standin._record = lambda record: None   # no request log: the bench sends ~100k requests
standin.start()
standin._server.handle_error = lambda request, address: None   # load generators hang up mid-way
print("ready", standin.port, flush=True)
sys.stdin.read()   # until the bench closes our stdin
standin.stop()
"""


def start_standin(secret: str, key: str, system_secret: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [PYTHON, "-c", STANDIN.format(root=str(ROOT), secret=secret, key=key, system_secret=system_secret)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    line = process.stdout.readline().split()
    if not line or line[0] != "ready":
        process.kill()
        raise SystemExit("the stand-in did not start")
    return process, f"http://{HOST}:{line[1]}"


def call(url: str, endpoint: str, data=None, *, headers=None, body: bytes | None = None) -> tuple[int, dict]:
    parts = url.split("//", 1)[1]
    host, _, rest = parts.partition("/")
    hostname, _, port = host.partition(":")
    prefix = "/" + rest if rest else ""
    connection = http.client.HTTPConnection(hostname, int(port), timeout=120)
    try:
        payload = body if body is not None else json.dumps(data or {}).encode()
        connection.request(
            "POST",
            f"{prefix}/{endpoint}",
            body=payload,
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        response = connection.getresponse()
        raw = response.read()
    finally:
        connection.close()
    try:
        return response.status, json.loads(raw)
    except ValueError:
        return response.status, {"raw": raw[:200].decode(errors="replace")}


def sequential(url: str, headers: dict, count: int) -> list[float]:
    """Latencies (ms) of COUNT GET requests one after the other on one keep-alive connection."""
    parts = url.split("//", 1)[1]
    host, _, path = parts.partition("/")
    hostname, _, port = host.partition(":")
    connection = http.client.HTTPConnection(hostname, int(port), timeout=30)
    latencies = []
    try:
        for _ in range(count):
            started = time.perf_counter()
            connection.request("GET", "/" + path, headers=headers)
            response = connection.getresponse()
            response.read()
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status != 200:
                raise SystemExit(f"{url}: {response.status}")
    finally:
        connection.close()
    return sorted(latencies)


def worker_pids(master_pid: int) -> list[int]:
    import psutil

    return [child.pid for child in psutil.Process(master_pid).children()]


def rss_mb(pid: int) -> float:
    import psutil

    return psutil.Process(pid).memory_info().rss / 2**20


def upload_growth(base: str, bearer: dict, task_id: str, master_pid: int, megabytes: int) -> float:
    """RSS growth (MB) of the worker that forwarded a MEGABYTES json-lines events.add_batch."""
    line = {"type": "log", "task": task_id, "level": "info", "worker": "bench", "msg": "x" * 900}
    lines = []
    size = 0
    index = 0
    while size < megabytes * 2**20:
        text = json.dumps({**line, "iter": index})
        lines.append(text)
        size += len(text) + 1
        index += 1
    body = "\n".join(lines).encode()
    headers = {**bearer, "Content-Type": "application/json-lines"}
    # Warm every worker's code path with small uploads first (imports, pools, caches).
    for _ in range(8):
        call(f"{base}/api", "events.add_batch", body=body[:4096].rsplit(b"\n", 1)[0], headers=headers)
    pids = worker_pids(master_pid)
    baseline = {pid: rss_mb(pid) for pid in pids}
    peak = dict(baseline)
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            for pid in pids:
                with contextlib.suppress(Exception):  # a worker restarting mid-sample
                    peak[pid] = max(peak[pid], rss_mb(pid))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        status, answer = call(f"{base}/api", "events.add_batch", body=body, headers=headers)
    finally:
        time.sleep(0.05)
        done.set()
        sampler.join()
    if status != 200:
        raise SystemExit(f"the {megabytes} MB events.add_batch failed: {status} {str(answer)[:300]}")
    log(
        f"upload: {len(body) / 2**20:.1f} MB, {answer['data']['added']} events forwarded; worker RSS "
        + ", ".join(f"{pid}: {baseline[pid]:.1f} -> {peak[pid]:.1f} MB" for pid in pids)
    )
    return max(peak[pid] - baseline[pid] for pid in pids)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--port", type=int, default=18766)
    parser.add_argument("--upload-mb", type=int, default=10)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    if not 1 <= args.duration <= 60 or not 1 <= args.rounds <= 10 or not 1 <= args.upload_mb <= 100:
        parser.error("--duration is bounded to 1..60 s, --rounds to 1..10, --upload-mb to 1..100")
    args.worker_class = "gthread"  # keep-alive connections (sync workers close each one)

    database_url = postgres_url_or_exit()
    redis_url = os.environ.get("REDIS_URL", "")
    if not redis_url:
        raise SystemExit("Needs Redis: run it through scripts/with-test-services.sh (make bench).")
    loadgen = args.loadgen
    if loadgen == "auto":
        loadgen = "wrk" if shutil.which("wrk") else "python"
    load = run_wrk if loadgen == "wrk" else run_python

    token_secret = secrets.token_urlsafe(48)
    system_key, system_secret = "BENCHSYSTEMKEY" + secrets.token_hex(8).upper(), secrets.token_urlsafe(32)
    standin, upstream_url = start_standin(token_secret, system_key, system_secret)
    server = None
    try:
        with throwaway_database(database_url, "portal_bench_gw", keep=args.keep_db) as (db_name, bench_db):
            env = server_env(args, bench_db, redis_url)
            log(f"setting up {db_name} (migrate, user, key pair, link to the stand-in at {upstream_url}) ...")
            manage(env, "migrate", "--noinput")
            pair = bench_user_with_key_pair(env)
            workspaces = json.loads(manage(env, "portal_workspaces", "list", "--json"))
            slug = workspaces[0]["slug"]
            with tempfile.TemporaryDirectory() as secrets_dir:
                token_file, system_file = Path(secrets_dir) / "token", Path(secrets_dir) / "system"
                token_file.write_text(token_secret)
                system_file.write_text(system_secret)
                log(
                    manage(
                        env,
                        "portal_upstream",
                        "link",
                        "--workspace",
                        slug,
                        "--url",
                        upstream_url,
                        "--token-secret-file",
                        str(token_file),
                        "--system-access-key",
                        system_key,
                        "--system-secret-key-file",
                        str(system_file),
                    ).strip()
                )
            server = start_gunicorn(args, env)
            base = f"http://{HOST}:{args.port}"
            basic = (
                "Basic " + base64.b64encode(f"{pair['access_key']}:{pair['secret_key']}".encode()).decode()
            )
            status, body = get_json(f"{base}/api/auth.login", {"Authorization": basic})
            if status != 200:
                raise SystemExit(f"auth.login failed: {status} {body}")
            bearer = {"Authorization": f"Bearer {body['data']['token']}"}

            # A few tasks to list, made through the portal (which provisions the upstream user).
            status, created = call(
                f"{base}/api", "projects.create", {"name": "Bench project"}, headers=bearer
            )
            if status != 200:
                raise SystemExit(f"projects.create through the portal failed: {status} {created}")
            project = created["data"]["id"]
            task_ids = []
            for index in range(10):
                status, created = call(
                    f"{base}/api",
                    "tasks.create",
                    {"name": f"bench-task-{index}", "type": "training", "project": project},
                    headers=bearer,
                )
                task_ids.append(created["data"]["id"])
            # The same user's token, straight from the upstream (system credential, get_token_for_user).
            system_basic = "Basic " + base64.b64encode(f"{system_key}:{system_secret}".encode()).decode()
            _, login = call(upstream_url, "auth.login", headers={"Authorization": system_basic})
            system_bearer = {"Authorization": f"Bearer {login['data']['token']}"}
            _, users = call(upstream_url, "users.get_all", {"name": "^bench$"}, headers=system_bearer)
            upstream_user = users["data"]["users"][0]["id"]
            _, direct_token = call(
                upstream_url, "auth.get_token_for_user", {"user": upstream_user}, headers=system_bearer
            )
            direct = {"Authorization": f"Bearer {direct_token['data']['token']}"}

            targets = {
                "direct": (f"{upstream_url}/tasks.get_all", direct),
                "forwarded": (f"{base}/api/tasks.get_all", bearer),
            }
            log(
                f"gunicorn {args.workers} gthread workers x {args.threads} threads, {loadgen} with "
                f"{args.connections} keep-alive connections, {args.duration:g} s per run"
            )
            rounds = []
            for number in range(1, args.rounds + 1):
                log(f"round {number}/{args.rounds}")
                results = {}
                for name in ("direct", "forwarded"):
                    url, headers = targets[name]
                    load(name, url, headers, args.warmup, args.connections)
                    result = results[name] = load(name, url, headers, args.duration, args.connections)
                    log(
                        f"  {name:<10} {result.rps:7.0f} req/s   p50 {result.p50:7.2f} ms   p90 {result.p90:7.2f} ms"
                        f"   p99 {result.p99:7.2f} ms   errors {result.errors}"
                    )
                rounds.append(results)
            # One connection, one request at a time: the cost of forwarding without any queueing.
            alone = {name: sequential(*targets[name], 600)[100:] for name in ("direct", "forwarded")}
            alone_p50 = statistics.median(alone["forwarded"]) - statistics.median(alone["direct"])
            log(
                f"one connection, no load: direct p50 {statistics.median(alone['direct']):.2f} ms, "
                f"forwarded p50 {statistics.median(alone['forwarded']):.2f} ms (adds {alone_p50:.2f} ms)"
            )
            added_p50 = statistics.median(r["forwarded"].p50 - r["direct"].p50 for r in rounds)
            added_p99 = statistics.median(r["forwarded"].p99 - r["direct"].p99 for r in rounds)
            errors = sum(result.errors for r in rounds for result in r.values())
            log(
                f"median of {len(rounds)} rounds: forwarding adds p50 {added_p50:.2f} ms, p99 {added_p99:.2f} ms"
            )
            if errors:
                log(f"warning: {errors} requests failed or timed out")

            growth = upload_growth(base, bearer, task_ids[0], server.pid, args.upload_mb)
            log(
                textwrap.dedent(
                    f"""\
                    aims: p50 <= 2 ms, p99 <= 10 ms, memory growth <= 10 MB
                    forward_added_p50_ms={added_p50:.2f} forward_added_p99_ms={added_p99:.2f} stream_rss_growth_mb={growth:.1f}"""
                )
            )
            return 0 if not errors else 1
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
        standin.stdin.close()
        try:
            standin.wait(timeout=10)
        except subprocess.TimeoutExpired:
            standin.kill()


if __name__ == "__main__":
    sys.exit(main())
