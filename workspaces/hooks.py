"""What other apps do when a workspace or a membership changes, without workspaces importing them.

workspaces is the bottom layer: it owns workspaces, memberships and roles, and imports no feature
app. A feature app that must react (access drops group memberships and impersonation grants when
someone leaves, and creates the built-in groups with a workspace) registers a receiver here from
its `AppConfig.ready()`:

    hooks.membership_removed.connect(drop_group_memberships)

The services of workspaces call `send(...)` explicitly, inside their transaction, at the point the
change is made: receivers run in registration order, their writes are part of the same atomic
change, and an exception in one aborts it. Nothing runs from `save()` or model signals.
"""

from collections.abc import Callable


class Hook:
    """A named list of receivers called with keyword arguments.

    A plain list instead of django.dispatch.Signal: receivers are held strongly (a lambda or
    a nested function cannot silently vanish), errors propagate, and `connect` is idempotent.
    """

    def __init__(self, name: str, arguments: str) -> None:
        self.name = name
        self.arguments = arguments  # documentation: the keyword arguments receivers get
        self._receivers: list[Callable[..., None]] = []

    def connect(self, receiver: Callable[..., None]) -> Callable[..., None]:
        """Register RECEIVER (once; connecting it again does nothing). Usable as a decorator."""
        if receiver not in self._receivers:
            self._receivers.append(receiver)
        return receiver

    def disconnect(self, receiver: Callable[..., None]) -> None:
        if receiver in self._receivers:
            self._receivers.remove(receiver)

    def send(self, **kwargs) -> None:
        for receiver in list(self._receivers):
            receiver(**kwargs)

    def __repr__(self) -> str:
        return f"<Hook {self.name}({self.arguments}): {len(self._receivers)} receiver(s)>"


# A workspace was created (its owner is already a member).
workspace_created = Hook("workspace_created", "workspace, actor")

# USER is leaving WORKSPACE (left, removed, or a service account deleted): sent before the
# membership row is deleted, after their credentials were revoked.
membership_removed = Hook("membership_removed", "workspace, user, actor")

# USER's role in WORKSPACE changed from BEFORE to AFTER (workspaces.models.Role values).
membership_role_changed = Hook("membership_role_changed", "workspace, user, actor, before, after")
