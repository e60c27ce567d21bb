"""Start the real OpenID provider (django-oauth-toolkit, tests/identity/oidc_provider/) in its own process."""

import os
import re
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urljoin

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ROOT = Path(__file__).resolve().parents[2]
PORTAL = "http://testserver"
# Connections the provider knows callbacks for: the tests create them with these ids.
CONN_A = uuid.UUID("00000000-0000-4000-8000-0000000000a1")
CONN_B = uuid.UUID("00000000-0000-4000-8000-0000000000b2")
PASSWORD = "provider-pass-123"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def callback(conn_id) -> str:
    return f"{PORTAL}/sso/{conn_id}/callback/"


class Provider:
    def __init__(self, tmp: Path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.issuer = f"{self.base}/o"
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        key_path = tmp / "idp-key.pem"
        key_path.write_bytes(self.key_pem)
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.identity.oidc_provider.settings",
            "IDP_DB": str(tmp / "idp.sqlite3"),
            "IDP_ISSUER": self.issuer,
            "IDP_KEY": str(key_path),
            "PYTHONPATH": str(ROOT),
        }
        self.env.pop("DATABASE_URL", None)
        self.process = None

    def admin(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, "-m", "tests.identity.oidc_provider.admin", *args],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
        )

    def start(self) -> "Provider":
        self.admin("migrate")
        self.admin("app", "portal-a", "secret-a", callback(CONN_A))
        self.admin("app", "portal-b", "secret-b", callback(CONN_B))
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "django",
                "runserver",
                f"127.0.0.1:{self.port}",
                "--noreload",
                "--skip-checks",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                if requests.get(f"{self.issuer}/.well-known/openid-configuration", timeout=1).ok:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("the OIDC provider did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def user(
        self, username: str, email: str, groups: list[str] = (), first: str = "Ada", last: str = "L"
    ) -> None:
        self.admin("user", username, email, PASSWORD, first, last, ",".join(groups))

    def browser(self, username: str) -> requests.Session:
        """A signed-in browser at the provider (its own cookie jar)."""
        browser = requests.Session()
        page = browser.get(f"{self.base}/accounts/login/", timeout=10)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        response = browser.post(
            f"{self.base}/accounts/login/",
            data={"csrfmiddlewaretoken": token, "username": username, "password": PASSWORD, "next": "/o/"},
            headers={"Referer": f"{self.base}/accounts/login/"},
            allow_redirects=False,
            timeout=10,
        )
        assert response.status_code == 302, response.text[:500]
        return browser

    def authorize(self, browser: requests.Session, url: str) -> str:
        """Follow the provider's redirects from URL until it sends the browser back to the portal."""
        for _ in range(5):
            response = browser.get(url, allow_redirects=False, timeout=10)
            assert response.status_code == 302, response.text[:500]
            url = urljoin(url, response.headers["Location"])
            if url.startswith(PORTAL):
                return url[len(PORTAL) :]
        raise AssertionError("the provider never redirected back")
