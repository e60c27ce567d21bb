"""API call metering: one Redis HINCRBY per authenticated call, flushed to the database.

- `record(workspace_id)`: the API dispatcher calls it after authentication. With
  REDIS_URL it is one `HINCRBY` into the pending hash (field `workspace|metric|day`);
  without Redis (the embedded single-process default) it upserts the day's counter
  in the database directly.
- `flush_pending()` (Celery beat, every BILLING_FLUSH_EVERY seconds): renames the
  pending hash to a private `...:batch:<uuid>` key (atomic: calls arriving meanwhile
  start a new pending hash), upserts its totals with
  `ON CONFLICT ... value = value + EXCLUDED.value` and records the batch key in
  UsageFlush in the same transaction, then deletes the batch. A flush that crashed
  after the rename is replayed from the batch key; one that crashed after the commit
  but before the delete is recognised by its UsageFlush row and only deleted.
Metering never breaks an API call: a Redis error is logged and the call goes on.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections import defaultdict
from datetime import date, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from workspaces.models import Workspace

from .models import Metric, UsageCounter, UsageFlush

logger = logging.getLogger(__name__)

KEY_PREFIX = "billing:usage"
_client = None
_client_pid = None


def pending_key() -> str:
    return f"{KEY_PREFIX}:pending"


def batch_pattern() -> str:
    return f"{KEY_PREFIX}:batch:*"


def redis_client():
    """A process-wide Redis client (None without REDIS_URL); re-created after a fork."""
    global _client, _client_pid
    url = getattr(settings, "REDIS_URL", None)
    if not url:
        return None
    if _client is None or _client_pid != os.getpid():
        import redis

        _client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        _client_pid = os.getpid()
    return _client


def _field(workspace_id: str, metric: str, day: date) -> str:
    return f"{workspace_id}|{metric}|{day.isoformat()}"


def record(workspace_id: str | None, metric: str = Metric.API_CALLS, amount: int = 1) -> None:
    """Count AMOUNT of METRIC for the workspace today (UTC)."""
    if not workspace_id:
        return
    day = timezone.now().date()
    try:
        workspace_id = str(uuid.UUID(str(workspace_id)))  # tokens carry the id as hex
        client = redis_client()
        if client is not None:
            client.hincrby(pending_key(), _field(workspace_id, metric, day), amount)
        else:
            upsert({(str(workspace_id), str(metric), day): amount})
    except Exception:
        logger.exception("usage metering failed for workspace %s", workspace_id)


def upsert(totals: dict[tuple[str, str, date], int]) -> int:
    """Add TOTALS to the counters, one `INSERT ... ON CONFLICT DO UPDATE` (PostgreSQL and
    SQLite); rows of workspaces that no longer exist are dropped. Returns rows written."""
    if not totals:
        return 0
    ws_field = UsageCounter._meta.get_field("workspace").target_field
    known = {
        str(pk)
        for pk in Workspace.objects.filter(pk__in={ws for ws, _, _ in totals}).values_list("pk", flat=True)
    }
    rows = [
        (ws_field.get_db_prep_value(uuid.UUID(ws), connection), metric, day, amount)
        for (ws, metric, day), amount in sorted(totals.items())
        if ws in known and amount
    ]
    if not rows:
        return 0
    table = connection.ops.quote_name(UsageCounter._meta.db_table)
    values = ", ".join(["(%s, %s, %s, %s, 0)"] * len(rows))
    # Only quoted identifiers and placeholders are formatted in; the values are parameters.
    sql = (
        f"INSERT INTO {table} (workspace_id, metric, day, value, reported_value) VALUES {values} "  # noqa: S608
        f"ON CONFLICT (workspace_id, metric, day) DO UPDATE SET value = {table}.value + EXCLUDED.value"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [param for row in rows for param in row])
    return len(rows)


def _parse(raw: dict[bytes, bytes]) -> dict[tuple[str, str, date], int]:
    totals: dict[tuple[str, str, date], int] = defaultdict(int)
    for field, amount in raw.items():
        try:
            ws, metric, day = field.decode().split("|")
            totals[(str(uuid.UUID(ws)), metric, date.fromisoformat(day))] += int(amount)
        except ValueError:
            logger.warning("dropping malformed usage field %r", field)
    return totals


def _flush_batch(client, key: str) -> int:
    name = key.decode() if isinstance(key, bytes) else key
    if UsageFlush.objects.filter(key=name).exists():
        client.delete(name)  # committed before a crash: only the delete was missing
        return 0
    totals = _parse(client.hgetall(name))
    try:
        with transaction.atomic():
            UsageFlush.objects.create(key=name)
            written = upsert(totals)
    except IntegrityError:
        return 0  # another flush committed this batch at the same time
    client.delete(name)
    return written


def pending_today(workspace_id) -> int:
    """Today's calls counted in Redis but not flushed yet (one HGET; 0 without Redis)."""
    try:
        client = redis_client()
        if client is None:
            return 0
        value = client.hget(pending_key(), _field(str(workspace_id), Metric.API_CALLS, timezone.now().date()))
        return int(value or 0)
    except Exception:
        logger.exception("reading pending usage failed for workspace %s", workspace_id)
        return 0


def prune_flushes(*, days: int = 7) -> int:
    """Forget flushed batch keys after DAYS: a crashed batch is replayed within minutes."""
    cutoff = timezone.now() - timedelta(days=days)
    return UsageFlush.objects.filter(flushed_at__lt=cutoff).delete()[0]


def flush_pending() -> int:
    """Move the pending counts into the database (see the module docstring); returns
    the counter rows written. Batches left by a crashed flush are replayed first."""
    client = redis_client()
    if client is None:
        return 0
    written = 0
    for key in list(client.scan_iter(match=batch_pattern(), count=100)):
        written += _flush_batch(client, key)
    batch = f"{KEY_PREFIX}:batch:{uuid.uuid4().hex}"
    try:
        client.rename(pending_key(), batch)
    except Exception as exc:  # redis.ResponseError "no such key": nothing pending
        if "no such key" not in str(exc).lower():
            raise
        return written
    return written + _flush_batch(client, batch)
