"""Celery beat tasks of Usage & Billing: thin wrappers around metering and services."""

import logging

from celery import shared_task
from django.conf import settings

from workspaces.models import Workspace

from . import metering, services

logger = logging.getLogger(__name__)


@shared_task(name="billing.flush_usage")
def flush_usage() -> int:
    written = metering.flush_pending()
    metering.prune_flushes()
    return written


@shared_task(name="billing.refresh_storage")
def refresh_storage() -> int:
    count = 0
    for workspace in Workspace.objects.iterator():
        services.storage_refresh(workspace=workspace)
        count += 1
    return count


@shared_task(name="billing.report_usage")
def report_usage() -> int:
    if not settings.STRIPE_ENABLED:
        return 0
    return services.usage_report()
