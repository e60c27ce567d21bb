"""How the gateway plugs into the portal: the API transport's fallback (the forwarder) and user
alias (upstream user ids in X-ClearML-Impersonate-As), the cache listeners on the revocation
pub/sub channel, and renames pushed upstream."""

from __future__ import annotations

from django.db import transaction

from settings_portal.api import hooks

from . import cache, services
from .forwarding import Forwarder
from .models import UpstreamUser


def upstream_user_alias(workspace_id: str, value: str) -> str | None:
    """The portal user an upstream user id of WORKSPACE_ID's server stands for (clearml-agent
    --use-owner-token impersonates a task's owner by the id the upstream gave it)."""
    upstream = services.upstream_for(workspace_id)
    if upstream is None or not value or len(value) > 64:
        return None
    return services.portal_user_for(upstream, value)


def register_hooks() -> None:
    hooks.set_fallback(Forwarder())
    hooks.add_user_alias(upstream_user_alias)
    cache.listen()


def user_saved(sender, instance, created: bool = False, update_fields=None, **kwargs) -> None:
    """A saved username may be a rename: push it upstream once the save commits."""
    if created or (update_fields is not None and "username" not in update_fields):
        return
    if not UpstreamUser.objects.filter(user_id=instance.pk).exclude(name=instance.username).exists():
        return  # no upstream knows this user by another name
    transaction.on_commit(lambda: services.user_renamed(instance))
