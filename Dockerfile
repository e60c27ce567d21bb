# The portal's image: web (gunicorn), Celery worker and beat all run from it.
# Build: docker compose build   (see README "Deployment with Docker Compose")
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORTAL_VAR_DIR=/var/lib/portal \
    STATIC_ROOT=/app/staticfiles

WORKDIR /app

# Dependencies first (cached while only the code changes), pinned by requirements.lock.
# Every binary dependency ships as a wheel (psycopg[binary], cryptography, xmlsec, lxml):
# no compiler or system library is needed.
# `packaging`: kombu's Redis transport imports it but declares it only in its [redis] extra
# (pinned to another version than the lock's); without it the worker and beat cannot start.
COPY pyproject.toml requirements.lock README.md LICENSE ./
RUN pip install -c requirements.lock . packaging

COPY . .

# Static files are collected into the image (whitenoise serves them, hashed names). The
# settings need their production variables even for this; none of these values is kept.
RUN DEBUG=false \
    SECRET_KEY=collectstatic-only \
    ALLOWED_HOSTS=localhost \
    PORTAL_BASE_URL=https://localhost \
    PORTAL_ENCRYPTION_KEYS="$(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')" \
    DATABASE_URL=postgres://build@localhost:5432/build \
    python manage.py collectstatic --noinput

RUN useradd --system --uid 10001 --home-dir /app portal \
    && mkdir -p /var/lib/portal \
    && chown portal /var/lib/portal
USER portal

EXPOSE 8000
CMD ["gunicorn", "settings_portal.wsgi:application", "--bind", "0.0.0.0:8000", "--access-logfile", "-"]
