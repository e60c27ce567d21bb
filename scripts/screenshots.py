"""Take screenshots of the main pages of a running portal (for reviewing the UI).

    .venv/bin/python scripts/screenshots.py [BASE_URL] [OUT_DIR]

Signs in as the demo admin and saves one PNG per page.
"""

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"
OUT = Path(sys.argv[2] if len(sys.argv) > 2 else "var/screenshots")
PAGES = sys.argv[3].split(",") if len(sys.argv) > 3 else ["/settings/profile/", "/settings/configuration/"]
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

OUT.mkdir(parents=True, exist_ok=True)
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    page.goto(f"{BASE}/accounts/login/")
    page.screenshot(path=str(OUT / "login.png"))
    page.fill("input[name=username]", "admin@example.com")
    page.fill("input[name=password]", "demo-admin-password")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    for path in PAGES:
        page.goto(f"{BASE}{path}")
        name = path.strip("/").replace("/", "_") or "home"
        page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)
        print(OUT / f"{name}.png")
    browser.close()
