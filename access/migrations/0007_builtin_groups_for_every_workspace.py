"""Every workspace has its three built-in groups from now on.

They used to be created on first use, by reads (`builtin_groups_ensure`); now the workspace's
creation creates them (access.services.builtin_groups_create, run by workspaces.hooks.workspace_created), and this migration creates the ones
an existing workspace does not have yet. The names and descriptions are copied here, not
imported, so the migration keeps meaning what it meant when it was written.
"""

from django.db import migrations

from settings_portal.names import name_digest

BUILTINS = [
    ("users", "Users", "Every member of the workspace, service accounts included."),
    (
        "admins",
        "Admins",
        "Administer the workspace: all administrator settings; read and modify all resources "
        "except queues; grant permissions.",
    ),
    ("queue_admins", "Queue admins", "Create, delete and rename queues."),
]


def create_builtin_groups(apps, schema_editor):
    Workspace = apps.get_model("workspaces", "Workspace")
    UserGroup = apps.get_model("access", "UserGroup")
    existing = set(UserGroup.objects.exclude(builtin="").values_list("workspace_id", "builtin"))
    taken = set(UserGroup.objects.values_list("workspace_id", "name_key"))
    missing = []
    for workspace_id in Workspace.objects.values_list("pk", flat=True).iterator():
        for builtin, name, description in BUILTINS:
            if (workspace_id, builtin) in existing:
                continue
            if (workspace_id, name_digest(name)) in taken:
                name = f"{name} (built-in)"  # a custom group already has the name
            missing.append(
                UserGroup(workspace_id=workspace_id, builtin=builtin, name=name, description=description)
            )
    UserGroup.objects.bulk_create(missing, batch_size=1000)


class Migration(migrations.Migration):
    dependencies = [
        ("access", "0006_impersonation_grant"),
        ("workspaces", "0003_auditevent_on_behalf_of"),
    ]

    operations = [migrations.RunPython(create_builtin_groups, migrations.RunPython.noop)]
