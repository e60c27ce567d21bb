"""Concurrent clients against the embedded SQLite default (run by tests/test_sqlite_concurrency.py).

    python tests/sqlite_load.py setup STATE.json CLIENTS
    python tests/sqlite_load.py load STATE.json FIRST COUNT ROUNDS

`setup` makes an owner, a workspace and one key pair per client. `load` runs COUNT client
threads (clients FIRST..FIRST+COUNT-1) at once, each ROUNDS times: sign in to the API with
its key pair, create a key pair (an atomic read-then-write), load a page, create a user
group through the form (another atomic write with an audit row). It prints a JSON object:
status code -> count, and the errors raised.

The database is whatever the environment configures (no DATABASE_URL: SQLite under
PORTAL_VAR_DIR, the `make run` default); the settings are the production module's.
"""

import base64
import json
import os
import sys
import threading
import traceback
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings_portal.settings")

import django  # noqa: E402

django.setup()

from django.db import connections  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402

from accounts.models import User  # noqa: E402
from accounts.services import user_create  # noqa: E402
from workspaces.credentials import credential_create  # noqa: E402
from workspaces.models import Workspace  # noqa: E402
from workspaces.services import workspace_create  # noqa: E402


def setup(state_path: str, clients: int) -> None:
    owner = user_create(email="owner@example.com", username="owner", password=None)
    workspace = workspace_create(owner=owner, name="Load")
    keys = []
    for n in range(clients):
        credential, secret = credential_create(workspace=workspace, actor=owner, label=f"client {n}")
        keys.append([credential.access_key, secret])
    Path(state_path).write_text(json.dumps({"owner": str(owner.pk), "slug": workspace.slug, "keys": keys}))


def load(state_path: str, first: int, count: int, rounds: int) -> None:
    state = json.loads(Path(state_path).read_text())
    owner = User.objects.get(pk=state["owner"])
    workspace = Workspace.objects.get(slug=state["slug"])
    page = reverse("workspaces:credential-table", args=[workspace.slug])
    group_create = reverse("access:group-create", args=[workspace.slug])
    statuses: Counter = Counter()
    errors: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(count)

    def client_run(n: int) -> None:
        access_key, secret = state["keys"][n]
        basic = "Basic " + base64.b64encode(f"{access_key}:{secret}".encode()).decode()
        client = Client(raise_request_exception=False)
        try:
            client.force_login(owner)
            barrier.wait(timeout=60)
            for r in range(rounds):
                answers = []
                login = client.post(
                    "/api/auth.login", "", content_type="application/json", HTTP_AUTHORIZATION=basic
                )
                answers.append(login)
                token = login.json()["data"].get("token") if login.status_code == 200 else None
                if token:
                    answers.append(
                        client.post(
                            "/api/auth.create_credentials",
                            json.dumps({"label": f"c{n}-{r}"}),
                            content_type="application/json",
                            HTTP_AUTHORIZATION=f"Bearer {token}",
                        )
                    )
                answers.append(client.get(page))
                answers.append(client.post(group_create, {"name": f"group {n}-{r}"}))
                with lock:
                    statuses.update(str(a.status_code) for a in answers)
        except Exception:
            with lock:
                errors.append(traceback.format_exc())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=client_run, args=(n,)) for n in range(first, first + count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps({"statuses": statuses, "errors": errors}))


if __name__ == "__main__":
    command, state_file, *numbers = sys.argv[1:]
    if command == "setup":
        setup(state_file, int(numbers[0]))
    else:
        load(state_file, *(int(n) for n in numbers))
