"""Access Rules, split by job (this module goes once the views import from the new places):

- the check and `restrict`: access.permissions (`can`, `level`, `require`, `restrict`);
- the kinds of object: access.kinds (registered by the apps that own them);
- the rules table and pickers: access.selectors (`rule_list`, `resource_objects`, `target_search`);
- creating, editing, deleting rules: access.services (`rule_create`, `rule_update`, `rule_delete`).
"""

from .permissions import MODIFY, READ
from .selectors import RuleRow, object_labels, resource_objects, rule_list, target_search
from .services import rule_create, rule_delete, rule_update

__all__ = [
    "MODIFY",
    "READ",
    "RuleRow",
    "object_labels",
    "resource_objects",
    "rule_create",
    "rule_delete",
    "rule_list",
    "rule_update",
    "target_search",
]
