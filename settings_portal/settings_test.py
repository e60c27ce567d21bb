"""Test settings: only overrides. The database and Redis come from the environment
(`make test` sets DATABASE_URL and REDIS_URL, see scripts/with-test-services.sh)."""

import os

os.environ.setdefault("DEBUG", "true")

from .settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_ALWAYS_EAGER = True
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
# The rate-limit counters are per-test state: keep them in-process so tests stay isolated.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Static files are served by the finders in tests; WhiteNoise would only warn that
# STATIC_ROOT (filled by collectstatic in deployments) does not exist.
MIDDLEWARE = [m for m in MIDDLEWARE if m != "whitenoise.middleware.WhiteNoiseMiddleware"]  # noqa: F405
