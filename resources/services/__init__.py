"""Writes of the resources app, one module per job:

- scheduling: the Resource Configuration switch (settings_get, resource_management_set) and
  asking the scheduler for a pass (schedule_soon);
- editor: the editor's working copy (editor_edit, draft_save, draft_reset, editor_exit);
- provisioning: the saved draft or an imported one becomes the configuration (draft_provision,
  configuration_replace);
- policies: resource policies and their queues (policy_create, policy_update, policy_delete);
- jobs: enqueue, abort, complete, fetch (job_enqueue, job_abort, ...).

Reads (the provisioned configuration, the editor's state, warnings, usage) are resources.selectors.
Import from the modules; the names below stay only until resources/views.py does.
"""

from ..selectors import configuration_get as snapshot
from ..selectors import editor_state_get as editor_state
from .editor import draft_reset, draft_save, editor_edit, editor_exit, profile_delete_edit
from .jobs import job_abort, job_enqueue
from .policies import QueueSpec, policy_create, policy_delete, policy_update
from .provisioning import draft_provision as provision
from .scheduling import resource_management_set, settings_get

__all__ = [
    "QueueSpec",
    "draft_reset",
    "draft_save",
    "editor_edit",
    "editor_exit",
    "editor_state",
    "job_abort",
    "job_enqueue",
    "policy_create",
    "policy_delete",
    "policy_update",
    "profile_delete_edit",
    "provision",
    "resource_management_set",
    "settings_get",
    "snapshot",
]
