"""Property and fuzz tests are deterministic in CI: the "ci" Hypothesis profile (tests/conftest.py)."""

import os
import subprocess
import sys
from pathlib import Path

from hypothesis import settings

from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[1]


def test_the_ci_profile_derandomizes_and_keeps_no_database():
    ci = settings.get_profile("ci")
    assert ci.derandomize is True
    assert ci.database is None
    assert ci.deadline is None


def test_the_active_profile_follows_ci():
    assert settings.default.derandomize is IN_CI
    if IN_CI:
        assert settings.default.database is None


def test_ci_true_loads_the_ci_profile_before_the_test_modules():
    """What a CI run sees: settings built at import time by the test modules (as
    tests/api/test_fuzz.py's FUZZ) inherit derandomize from the profile."""
    code = (
        "import pytest, sys; sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', "
        "'--collect-only', 'tests/api/test_fuzz.py', '-p', 'tests.check_ci_profile']))"
    )
    env = {**os.environ, "CI": "true", "HYPOTHESIS_PROFILE": ""}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "FUZZ derandomize=True database=None" in proc.stdout, proc.stdout[-2000:]
