"""Names compared by their canonical key (settings_portal/names.py): the column, filled.

The unique constraints come in the next migration, once the rows are updated (PostgreSQL
refuses to alter a table with pending trigger events in the same transaction).
"""

import settings_portal.names
from django.db import migrations


def fill(model_name):
    def forwards(apps, schema_editor):
        settings_portal.names.fill_name_keys(apps.get_model('vaults', model_name))

    return forwards


class Migration(migrations.Migration):

    dependencies = [
        ('vaults', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='vault',
            name='name_key',
            field=settings_portal.names.NameKeyField(blank=True, default='', editable=False, max_length=100),
        ),
        migrations.RunPython(fill('vault'), migrations.RunPython.noop),
    ]
