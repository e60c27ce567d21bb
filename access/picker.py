"""The member/object picker of the group and access-rule dialogs.

The chosen items travel as hidden inputs (one per item, all under one name) between the steps of
the dialog: Add (a result's button, `add=<value>`), Remove (a chip's button, `remove=<value>`) and
Search (`find`) re-render the form and save nothing; only Save does. The same steps work without
JavaScript; with it, the results also follow the search box as one types (a GET to the dialog's
search URL, answered with the `picker-options` partial). The template is
templates/components/picker.html.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass

MAX_QUERY = 100


@dataclass(frozen=True)
class PickerItem:
    """One chosen item (a chip) or search result: its posted VALUE, what it is called, a detail."""

    value: str
    label: str
    detail: str


def user_item(user, value: str | None = None) -> PickerItem:
    detail = "service account" if user.is_service_account else user.email
    return PickerItem(value=value or str(user.pk), label=user.username, detail=detail)


def group_item(group, value: str) -> PickerItem:
    return PickerItem(value=value, label=group.name, detail="group")


@dataclass
class PickerStep:
    """What the dialog posted: the chosen values (Add and Remove applied), the search text, and
    whether a picking step was pressed (re-render, save nothing) rather than Save."""

    chosen: list
    search: str
    is_step: bool


def picker_step(data, *, field: str, parse: Callable[[Iterable[str]], list], search_field: str) -> PickerStep:
    """Read the picker from DATA (request.POST or GET): the values under FIELD, parsed by PARSE
    (which drops malformed and repeated values and keeps the order)."""
    chosen = parse(data.getlist(field))
    added = parse([data.get("add", "")])
    removed = parse([data.get("remove", "")])
    chosen = [value for value in chosen + [v for v in added if v not in chosen] if value not in removed]
    return PickerStep(
        chosen=chosen,
        search=data.get(search_field, "").strip()[:MAX_QUERY],
        is_step=bool(data.get("add") or data.get("remove") or "find" in data),
    )


def picker_context(
    *,
    id: str,
    field: str,
    legend: str,
    chosen: list[PickerItem],
    empty: str,
    search_field: str,
    search: str,
    search_label: str,
    placeholder: str,
    search_url: str,
    results: list[PickerItem] | None,
    no_results: str,
    remove_from: str,
    help: str = "",
    errors=(),
    live_include: str = "",
) -> dict:
    """The context of templates/components/picker.html. ID prefixes its element ids; RESULTS is
    None before any search (then NO_RESULTS is not shown either); a chip's button says "Remove <item>
    from REMOVE_FROM". LIVE_INCLUDE is what the live
    search sends besides the search box (default: the chips, so chosen items are not offered)."""
    return {
        "id": id,
        "field": field,
        "legend": legend,
        "help": help,
        "chosen": chosen,
        "empty": empty,
        "remove_from": remove_from,
        "errors": list(errors),
        "search_field": search_field,
        "search": search,
        "search_label": search_label,
        "placeholder": placeholder,
        "search_url": search_url,
        "results": results,
        "no_results": no_results,
        "live_include": live_include or f"#{id}-chosen",
    }
