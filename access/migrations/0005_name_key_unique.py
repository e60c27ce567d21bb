"""Look-alike names refused by the database too: unique name_key per workspace."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('access', '0004_name_key'),
    ]

    operations = [
        migrations.AddConstraint(
            model_name='usergroup',
            constraint=models.UniqueConstraint(fields=('workspace', 'name_key'), name='usergroup_unique_name_key'),
        ),
        migrations.AddConstraint(
            model_name='serviceaccount',
            constraint=models.UniqueConstraint(fields=('workspace', 'name_key'), name='serviceaccount_unique_name_key'),
        ),
    ]
