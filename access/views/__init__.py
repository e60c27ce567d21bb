"""Users & Groups and Access Rules (administrators only), a module per table:

- users.py: USERS (members and pending invitations; inviting is workspaces/views/invitations.py);
- service_accounts.py: SERVICE ACCOUNTS, their editing panel and credentials;
- groups.py: USER GROUPS and the group dialog;
- rules.py: Access Rules and the rule dialog.

Every view works as a plain page and as an htmx fragment; dialogs load into #modal-content. The
group and rule dialogs share the member/object picker (access/picker.py).
"""

MAX_QUERY = 100


def query_of(request) -> str:
    """The table's filter text (`q`), bounded."""
    return request.GET.get("q", "").strip()[:MAX_QUERY]
