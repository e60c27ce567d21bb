"""Development SECRET_KEY: random per install, kept in PORTAL_VAR_DIR/dev-secret-key (0600),
the same across restarts; never the key that used to be in the repository."""

import importlib.util
import os
import stat

import pytest
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.core.exceptions import ImproperlyConfigured

PUBLIC_DEV_SECRET_KEY = "dev-only-insecure-secret-key-do-not-use-in-production-0123456789"


@pytest.fixture
def start(monkeypatch):
    """Run settings.py afresh as a development process would start: DEBUG, no secrets given."""

    def run(var_dir, **given):
        for name in list(os.environ):
            if name in {"SECRET_KEY", "PORTAL_ENCRYPTION_KEYS", "PORTAL_HASH_KEY", "PORTAL_API_TOKEN_KEY"}:
                monkeypatch.delenv(name)
            if name.endswith("_FILE"):
                monkeypatch.delenv(name)
        monkeypatch.setenv("DEBUG", "true")
        monkeypatch.setenv("PORTAL_VAR_DIR", str(var_dir))
        for name, value in given.items():
            monkeypatch.setenv(name, value)
        spec = importlib.util.find_spec("settings_portal.settings")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return run


def test_first_run_makes_a_private_random_key_that_later_runs_reuse(start, tmp_path):
    first = start(tmp_path / "var")
    key_file = tmp_path / "var" / "dev-secret-key"
    assert first.SECRET_KEY != PUBLIC_DEV_SECRET_KEY and len(first.SECRET_KEY) >= 50
    assert key_file.read_text().strip() == first.SECRET_KEY
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    restarted = start(tmp_path / "var")
    assert restarted.SECRET_KEY == first.SECRET_KEY
    assert restarted.PORTAL_HASH_KEY == first.PORTAL_HASH_KEY  # stored credentials keep working
    assert start(tmp_path / "other-install").SECRET_KEY != first.SECRET_KEY


def test_a_given_secret_key_is_used_and_nothing_is_written(start, tmp_path):
    module = start(tmp_path / "var", SECRET_KEY="x" * 60)
    assert module.SECRET_KEY == "x" * 60
    assert not (tmp_path / "var" / "dev-secret-key").exists()


def test_old_development_data_stays_readable_and_new_data_uses_the_new_key(start, tmp_path):
    import base64
    import hashlib

    module = start(tmp_path / "var")
    old_key = base64.urlsafe_b64encode(hashlib.sha256(f"enc:{PUBLIC_DEV_SECRET_KEY}".encode()).digest())
    old_value = Fernet(old_key).encrypt(b"vault written before the upgrade")
    keys = MultiFernet([Fernet(key.encode()) for key in module.PORTAL_ENCRYPTION_KEYS])
    assert keys.decrypt(old_value) == b"vault written before the upgrade"
    with pytest.raises(InvalidToken):  # new values are not encrypted under the public key
        Fernet(old_key).decrypt(keys.encrypt(b"new"))


def test_an_empty_key_file_is_an_error_naming_it(start, tmp_path):
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "dev-secret-key").write_text("\n")
    with pytest.raises(ImproperlyConfigured, match="dev-secret-key holds no usable key"):
        start(tmp_path / "var")


def test_an_unwritable_var_dir_is_an_error_asking_for_secret_key(start, tmp_path):
    var = tmp_path / "var"
    var.mkdir(mode=0o500)
    if os.access(var, os.W_OK):  # root ignores permissions: make the path unusable instead
        var.rmdir()
        var.write_text("a file, not a directory")
    with pytest.raises(
        ImproperlyConfigured, match=r"cannot (read|create) the development key .*; set SECRET_KEY"
    ):
        start(var)


def test_two_processes_starting_at_once_agree_on_one_key(tmp_path):
    from concurrent.futures import ProcessPoolExecutor

    from settings_portal.env import dev_secret_key

    path = tmp_path / "dev-secret-key"
    with ProcessPoolExecutor(4) as pool:
        keys = set(pool.map(dev_secret_key, [path] * 16))
    assert keys == {path.read_text().strip()}
