"""The kinds of object Access Rules govern: a registry filled by the apps that own them.

Each kind is registered once, from its app's AppConfig.ready() (resources registers `queue` and
`task`); the check (access.permissions) and the rule editor (access.selectors) look kinds up here
and import no app that owns objects. A ClearML kind the portal does not store (project, task,
model, dataset, dataview, queue behind the gateway) is one more `ObjectKind(...)` with an
ANCESTORS resolver instead of a model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import models


class ObjectsUnavailable(Exception):
    """A kind's SEARCH, NAMES or ANCESTORS could not ask the objects' owner (the ClearML server
    behind the gateway did not answer, or refused the portal's call). Views catch this one, not
    the gateway's exceptions: "The ClearML server did not answer; try again shortly."."""


@dataclass(frozen=True)
class ObjectRef:
    """An object Access Rules can name: its KIND (a registered ObjectKind's name) and its ID.

    ID None stands for "every object of the kind" (only rules on the whole kind apply).
    """

    kind: str
    id: Any = None


@dataclass(frozen=True)
class ObjectKind:
    """One kind of object Access Rules govern.

    NAME: what AccessRule.resource_type stores. PARENT: the kind whose rules also cover these
    objects (None at the top). Portal-stored kinds give MODEL and PARENT_FIELD (the foreign key
    to the parent's row, None when the object has no parent); other kinds give ANCESTORS(workspace,
    ref) -> [ObjectRef, nearest first]. SEARCH(workspace=, query=, pk=, limit=) -> [(id, label)]
    feeds the rule editor's object picker; NAMES(workspace=, ids=) -> {id: name} labels rules.
    SEARCH, NAMES and ANCESTORS raise ObjectsUnavailable when the objects' owner cannot answer
    (never for a malformed id: that is no object, [] or {}).
    """

    name: str
    label: str
    parent: str | None = None
    model: type[models.Model] | None = None
    parent_field: str | None = None
    ancestors: Callable[[Any, ObjectRef], list[ObjectRef]] | None = None
    search: Callable[..., list[tuple[Any, str]]] | None = None
    names: Callable[..., dict[Any, str]] | None = None


_KINDS: dict[str, ObjectKind] = {}
# Kinds of the ClearML server behind the gateway (access/upstream.py): used for a workspace
# linked to a server; the portal-stored kind of the same name (queue, task) otherwise.
_UPSTREAM_KINDS: dict[str, ObjectKind] = {}
_linked: Callable[[Any], bool] = lambda workspace: False  # noqa: E731


def kind_register(kind: ObjectKind) -> ObjectKind:
    """Register KIND (again: replaced, so a reloaded app config does not fail)."""
    _KINDS[kind.name] = kind
    return kind


def kind_get(name: str) -> ObjectKind | None:
    """The portal-stored kind NAME, else the upstream kind of that name (None: unknown)."""
    return _KINDS.get(name) or _UPSTREAM_KINDS.get(name)


def upstream_kind_register(kind: ObjectKind, *, linked: Callable[[Any], bool] | None = None) -> ObjectKind:
    """Register KIND as a ClearML server's kind; LINKED(workspace) says whether a workspace has one."""
    global _linked
    _UPSTREAM_KINDS[kind.name] = kind
    if linked is not None:
        _linked = linked
    return kind


def kind_for(workspace, name: str) -> ObjectKind | None:
    """The kind NAME as WORKSPACE has it: its ClearML server's objects when it is linked to one
    (search/names ask the server, scoped to the link's company), the portal's own otherwise.

    SEARCH(workspace=, query="", pk=None, limit=50) -> [(id, label)] and NAMES(workspace=, ids=)
    -> {id: name}; upstream ids are strings (32 hex), portal ones integers (stored as text).
    None: WORKSPACE has no such objects (a project in a workspace without a ClearML server)."""
    upstream = _UPSTREAM_KINDS.get(name)
    if upstream is not None and _linked(workspace):
        return upstream
    return _KINDS.get(name)


def kind_list() -> list[ObjectKind]:
    return list({**_UPSTREAM_KINDS, **_KINDS}.values())


def kind_of_model(model: type[models.Model]) -> ObjectKind:
    for kind in _KINDS.values():
        if kind.model is not None and issubclass(model, kind.model):
            return kind
    raise LookupError(f"{model.__name__} is not a registered Access Rules object kind")
