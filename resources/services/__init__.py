"""Writes of the resources app, one module per job:

- scheduling: the Resource Configuration switch (settings_get, resource_management_set) and
  asking the scheduler for a pass (schedule_soon);
- editor: the editor's working copy (editor_edit, draft_save, draft_reset, editor_exit);
- provisioning: the saved draft or an imported one becomes the configuration (draft_provision,
  draft_save_and_provision, configuration_replace);
- policies: resource policies and their queues (policy_create, policy_update, policy_delete);
- jobs: enqueue, abort, complete, fetch (job_enqueue, job_abort, ...).

Reads (the provisioned configuration, the editor's state, warnings, usage) are resources.selectors.
Import from the modules (`from resources.services.jobs import job_enqueue`); this file exports nothing.
"""
