"""Look-alike names refused by the database too: unique name_key per workspace."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('vaults', '0002_name_key'),
    ]

    operations = [
        migrations.AddConstraint(
            model_name='vault',
            constraint=models.UniqueConstraint(condition=models.Q(('scope', 'group'), models.Q(('name_key', ''), _negated=True)), fields=('workspace', 'name_key'), name='vault_unique_group_name_key'),
        ),
    ]
