"""Settings for bench/api_auth.py: the production settings plus a bare view (bench/urls.py)."""

from settings_portal.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
# Quiet: the bench is about throughput, not request logs.
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
# 401s after the revocation check are expected; do not log each one.
LOGGING["loggers"]["django.request"] = {"level": "ERROR"}  # noqa: F405
