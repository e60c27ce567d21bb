"""Users & Groups and Access Rules (administrators only), a module per table:

- users.py: USERS (members and pending invitations; inviting is workspaces/views/invitations.py);
- service_accounts.py: SERVICE ACCOUNTS, their editing panel and credentials;
- groups.py: USER GROUPS and the group dialog;
- rules.py: Access Rules and the rule dialog.

Every view works as a plain page and as an htmx fragment; dialogs load into #modal-content. The
group and rule dialogs share the member/object picker (access/picker.py).
"""

from django.http import HttpResponse
from django.shortcuts import render

MAX_QUERY = 100


def query_of(request) -> str:
    """The table's filter text (`q`), bounded."""
    return request.GET.get("q", "").strip()[:MAX_QUERY]


def search_page(
    request, title: str, items, empty: str, back_url: str, back_label: str, unavailable=""
) -> HttpResponse:
    """An htmx-only list opened as a page (a link followed, a URL typed): ITEMS [(value, label)]
    inside the layout, with the way back to the page whose dialog it belongs to."""
    context = {
        "title": title,
        "items": items,
        "empty": empty,
        "back_url": back_url,
        "back_label": back_label,
        "unavailable": unavailable,
    }
    return render(request, "access/search_page.html", context)
