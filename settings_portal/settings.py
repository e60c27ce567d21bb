"""Django settings, read from the environment (see README "Configuration").

With no environment at all and DEBUG=true (what `make run` sets) the portal runs on
SQLite under var/ with Celery tasks executed in-process. In production (DEBUG off)
the secrets and public URL are required and their absence fails at start-up.
"""

import base64
import hashlib
from pathlib import Path

from .env import (
    dev_secret_key,
    env_bool,
    env_database,
    env_float,
    env_int,
    env_list,
    env_secret,
    env_str,
    require,
    require_fernet_keys,
    require_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("PORTAL_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)
_PRODUCTION = not DEBUG
_WHY = "when DEBUG is off (set it, or DEBUG=true for local development)"

SECRET_KEY = env_secret("SECRET_KEY")
# The key development instances used before keys were made per install (it is in the
# repository's history): only ever a decrypt-only fallback for their old data, below.
_PUBLIC_DEV_SECRET_KEY = "dev-only-insecure-secret-key-do-not-use-in-production-0123456789"
_GENERATED_DEV_KEY = False
if _PRODUCTION:
    require("SECRET_KEY", SECRET_KEY, _WHY)
elif not SECRET_KEY:
    # Random per install, kept under var/: never a key anyone can read in the repository.
    SECRET_KEY = dev_secret_key(VAR_DIR / "dev-secret-key")
    _GENERATED_DEV_KEY = True

# Public base URL of the portal: the credentials dialog prints it (web_server) and
# derives the API URL from it; invitation links and emails use it too.
PORTAL_BASE_URL = (env_str("PORTAL_BASE_URL") or "").rstrip("/")
if _PRODUCTION:
    require("PORTAL_BASE_URL", PORTAL_BASE_URL, _WHY)
else:
    PORTAL_BASE_URL = PORTAL_BASE_URL or f"http://127.0.0.1:{env_int('PORT', 8000)}"
require_url("PORTAL_BASE_URL", PORTAL_BASE_URL)
PORTAL_API_URL = (env_str("PORTAL_API_URL") or f"{PORTAL_BASE_URL}/api").rstrip("/")
PORTAL_FILES_URL = (env_str("PORTAL_FILES_URL") or "").rstrip("/")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS")
if _PRODUCTION:
    require("ALLOWED_HOSTS", ALLOWED_HOSTS, _WHY)
else:
    ALLOWED_HOSTS = ALLOWED_HOSTS or ["127.0.0.1", "localhost", "[::1]", "testserver"]
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS") or [PORTAL_BASE_URL]
CSRF_FAILURE_VIEW = "settings_portal.errors.csrf_failure"  # a styled page with a way back

# Keys for encryption at rest (settings_portal/crypto.py): comma-separated Fernet
# keys, newest first. Older keys stay to read old data until `portal_keys rotate`.
PORTAL_ENCRYPTION_KEYS = env_list("PORTAL_ENCRYPTION_KEYS")
if _PRODUCTION:
    require("PORTAL_ENCRYPTION_KEYS", PORTAL_ENCRYPTION_KEYS, _WHY)
elif not PORTAL_ENCRYPTION_KEYS:
    PORTAL_ENCRYPTION_KEYS = [
        base64.urlsafe_b64encode(hashlib.sha256(f"enc:{key}".encode()).digest()).decode()
        # A development database made before the per-install key stays readable (the first key
        # encrypts; `portal_keys rotate` re-encrypts the old values).
        for key in ([SECRET_KEY, _PUBLIC_DEV_SECRET_KEY] if _GENERATED_DEV_KEY else [SECRET_KEY])
    ]
require_fernet_keys("PORTAL_ENCRYPTION_KEYS", PORTAL_ENCRYPTION_KEYS)
# Key of the keyed hash (HMAC) that credential secrets and invitation tokens are stored as.
PORTAL_HASH_KEY = env_secret("PORTAL_HASH_KEY") or hashlib.sha256(f"hash:{SECRET_KEY}".encode()).hexdigest()

# Self-hosted installs usually want one workspace; the hosted flavour lists many.
PORTAL_SINGLE_WORKSPACE = env_bool("PORTAL_SINGLE_WORKSPACE", False)
# Days an invitation link stays valid.
PORTAL_INVITATION_DAYS = env_int("PORTAL_INVITATION_DAYS", 7)
# Largest configuration vault accepted, in bytes.
PORTAL_VAULT_MAX_BYTES = env_int("PORTAL_VAULT_MAX_BYTES", 64 * 1024)
# Key that signs API tokens (HS256); derived from SECRET_KEY when unset. Changing it
# signs every ClearML client out (they log in again with their key pair).
PORTAL_API_TOKEN_KEY = env_secret("PORTAL_API_TOKEN_KEY") or ""
PORTAL_SELF_HOSTED = env_bool("PORTAL_SELF_HOSTED", True)
# Identity providers: discovery, JWKS, token and userinfo requests go to admin-given URLs;
# loopback/private/link-local targets are refused unless this allows them (tests, labs).
PORTAL_IDP_ALLOW_PRIVATE_URLS = env_bool("PORTAL_IDP_ALLOW_PRIVATE_URLS", False)

# The ClearML server behind the portal (gateway/, docs/gateway.md): with
# PORTAL_SINGLE_WORKSPACE=true these link the workspace to its apiserver; unset, the portal
# runs standalone. With several workspaces, link each with `manage.py portal_upstream link`.
CLEARML_UPSTREAM_API_URL = (env_str("CLEARML_UPSTREAM_API_URL") or "").rstrip("/")
CLEARML_UPSTREAM_TOKEN_SECRET = env_secret("CLEARML_UPSTREAM_TOKEN_SECRET") or ""
CLEARML_UPSTREAM_SYSTEM_ACCESS_KEY = env_secret("CLEARML_UPSTREAM_SYSTEM_ACCESS_KEY") or ""
CLEARML_UPSTREAM_SYSTEM_SECRET_KEY = env_secret("CLEARML_UPSTREAM_SYSTEM_SECRET_KEY") or ""
if CLEARML_UPSTREAM_API_URL:
    require_url("CLEARML_UPSTREAM_API_URL", CLEARML_UPSTREAM_API_URL)
    for _name in (
        "CLEARML_UPSTREAM_TOKEN_SECRET",
        "CLEARML_UPSTREAM_SYSTEM_ACCESS_KEY",
        "CLEARML_UPSTREAM_SYSTEM_SECRET_KEY",
    ):
        require(_name, globals()[_name], "when CLEARML_UPSTREAM_API_URL is set")
# Optional: the slug of the workspace the variables above link (default: the oldest shared one).
CLEARML_UPSTREAM_WORKSPACE = env_str("CLEARML_UPSTREAM_WORKSPACE") or ""
# Forwarding: seconds to connect to / wait for the upstream, upstream token lifetime,
# and keep-alive connections kept per upstream and process.
PORTAL_UPSTREAM_CONNECT_TIMEOUT = env_float("PORTAL_UPSTREAM_CONNECT_TIMEOUT", 5.0)
PORTAL_UPSTREAM_READ_TIMEOUT = env_float("PORTAL_UPSTREAM_READ_TIMEOUT", 120.0)
PORTAL_UPSTREAM_TOKEN_SECONDS = env_int("PORTAL_UPSTREAM_TOKEN_SECONDS", 600)
PORTAL_UPSTREAM_POOL_SIZE = env_int("PORTAL_UPSTREAM_POOL_SIZE", 32)

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "settings_portal",
    "accounts",
    "workspaces",
    "access",
    "resources",
    "vaults",
    "billing",
    "identity",
    "gateway",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "settings_portal.middleware.RejectNulBytesMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "workspaces.middleware.CurrentWorkspaceMiddleware",
    "workspaces.middleware.ActivityMiddleware",
    "settings_portal.middleware.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "settings_portal.urls"
WSGI_APPLICATION = "settings_portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "settings_portal.context_processors.portal",
            ],
        },
    }
]

# SQLite under var/ is for development only: production needs a real database server.
if _PRODUCTION:
    require("DATABASE_URL", env_str("DATABASE_URL"), _WHY)
DATABASES = {
    "default": env_database(
        "DATABASE_URL",
        default=f"sqlite:///{VAR_DIR / 'portal.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
else:
    # Embedded default: no broker, tasks run in-process when they are sent.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CELERY_BROKER_URL = "memory://"
    CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
# Periodic tasks (run `celery -A settings_portal beat`). The resource scheduler also runs
# after every change; the beat is its safety net (e.g. after a worker died mid-pass).
CELERY_BEAT_SCHEDULE = {
    "resources-schedule-all": {
        "task": "resources.schedule_all",
        "schedule": env_int("RESOURCES_SCHEDULE_EVERY", 30),
    },
    # Resource policies on a linked ClearML server: admissions and aborts still to be executed
    # there (the outbox), and the server's queues and tasks compared with the portal's view.
    "resources-drain-all": {"task": "resources.drain_all", "schedule": env_int("RESOURCES_DRAIN_EVERY", 10)},
    "resources-reconcile-all": {
        "task": "resources.reconcile_all",
        "schedule": env_int("RESOURCES_RECONCILE_EVERY", 30),
    },
    "billing-flush-usage": {"task": "billing.flush_usage", "schedule": env_int("BILLING_FLUSH_EVERY", 60)},
    "billing-refresh-storage": {
        "task": "billing.refresh_storage",
        "schedule": env_int("BILLING_STORAGE_EVERY", 3600),
    },
    "billing-report-usage": {
        "task": "billing.report_usage",
        "schedule": env_int("BILLING_REPORT_EVERY", 3600),
    },
}

# Usage & Billing (billing/, docs/billing.md). Limits in bytes/calls per month; 0 = unlimited.
BILLING_FREE_STORAGE_BYTES = env_int("BILLING_FREE_STORAGE_BYTES", 100 * 1024**3)
BILLING_PRO_STORAGE_BYTES = env_int("BILLING_PRO_STORAGE_BYTES", 0)
BILLING_FREE_API_CALLS = env_int("BILLING_FREE_API_CALLS", 1_000_000)
# Stripe is off by default: the page then shows usage only and says billing is not configured.
STRIPE_ENABLED = env_bool("STRIPE_ENABLED", False)
STRIPE_SECRET_KEY = env_secret("STRIPE_SECRET_KEY") or ""
STRIPE_WEBHOOK_SECRET = env_secret("STRIPE_WEBHOOK_SECRET") or ""
STRIPE_PRO_PRICE_ID = env_str("STRIPE_PRO_PRICE_ID", "")
STRIPE_API_CALLS_PRICE_ID = env_str("STRIPE_API_CALLS_PRICE_ID", "")
STRIPE_METER_EVENT_NAME = env_str("STRIPE_METER_EVENT_NAME", "api_calls")
if STRIPE_ENABLED:
    for _name in ("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "STRIPE_PRO_PRICE_ID"):
        require(_name, globals()[_name], "when STRIPE_ENABLED is on")

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["accounts.backends.EmailOrUsernameBackend"]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "accounts:profile"
LOGOUT_REDIRECT_URL = "accounts:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Failed sign-ins allowed per (address, login) and per address in the window.
LOGIN_RATE_LIMIT = env_int("LOGIN_RATE_LIMIT", 5)
LOGIN_RATE_LIMIT_PER_IP = env_int("LOGIN_RATE_LIMIT_PER_IP", 50)
LOGIN_RATE_WINDOW = env_int("LOGIN_RATE_WINDOW", 900)
# Reverse proxies in front of the portal that append to X-Forwarded-For: the client address
# (for the sign-in limit) is taken that many hops from the right. 0: REMOTE_ADDR.
PORTAL_TRUSTED_PROXY_COUNT = env_int("PORTAL_TRUSTED_PROXY_COUNT", 0)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if _PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if env_str("EMAIL_HOST")
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD") or ""
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "portal@localhost")

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if _PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
    # Behind a TLS-terminating proxy (compose, k8s ingress) trust its scheme header.
    if env_bool("SECURE_PROXY_SSL_HEADER", True):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
