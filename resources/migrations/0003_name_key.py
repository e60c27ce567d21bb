"""Names compared by their canonical key (settings_portal/names.py): the column, filled.

The unique constraints come in the next migration, once the rows are updated (PostgreSQL
refuses to alter a table with pending trigger events in the same transaction).
"""

import settings_portal.names
from django.db import migrations


def fill(model_name):
    def forwards(apps, schema_editor):
        settings_portal.names.fill_name_keys(apps.get_model('resources', model_name))

    return forwards


class Migration(migrations.Migration):

    dependencies = [
        ('resources', '0002_schedule_requested_at'),
    ]

    operations = [
        migrations.AddField(
            model_name='pool',
            name='name_key',
            field=settings_portal.names.NameKeyField(blank=True, default='', editable=False, max_length=100),
        ),
        migrations.AddField(
            model_name='profile',
            name='name_key',
            field=settings_portal.names.NameKeyField(blank=True, default='', editable=False, max_length=100),
        ),
        migrations.AddField(
            model_name='policy',
            name='name_key',
            field=settings_portal.names.NameKeyField(blank=True, default='', editable=False, max_length=100),
        ),
        migrations.RunPython(fill('pool'), migrations.RunPython.noop),
        migrations.RunPython(fill('profile'), migrations.RunPython.noop),
        migrations.RunPython(fill('policy'), migrations.RunPython.noop),
    ]
