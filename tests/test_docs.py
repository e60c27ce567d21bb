"""The repository reads on its own: every document, script and Makefile target a file names is in
the repository (a newcomer who clones it reads only what is in it)."""

import re
import subprocess
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
MARKDOWN = re.compile(r"(?<![\w/.-])((?:[\w-]+/)*[\w.-]+\.md)\b")
SCRIPT = re.compile(r"\bscripts/[\w.-]+\.(?:sh|py)\b")
# Names of documents outside the repository, said to be so where they are cited.
ELSEWHERE = {"CHANGELOG.md"}


def tracked_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [ROOT / name for name in listed.splitlines() if (ROOT / name).is_file()]


def test_every_cited_document_and_script_exists():
    files = tracked_files()
    documents = {path.name for path in files if path.suffix == ".md"}
    documents |= {path.relative_to(ROOT).as_posix() for path in files if path.suffix == ".md"}
    missing = set()
    for path in files:
        if (
            path.suffix not in {".py", ".md", ".html", ".sh", ".txt", ".toml", ".yml"}
            and path.name != "Makefile"
        ):
            continue
        text = path.read_text(errors="replace")
        where = path.relative_to(ROOT).as_posix()
        for name in MARKDOWN.findall(text):
            if name not in ELSEWHERE and name not in documents and Path(name).name not in documents:
                missing.add(f"{where} cites {name}")
        for script in SCRIPT.findall(text):
            if not (ROOT / script).exists():
                missing.add(f"{where} names {script}")
    assert not missing, sorted(missing)
