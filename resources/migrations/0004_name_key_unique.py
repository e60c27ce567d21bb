"""Look-alike names refused by the database too: unique name_key per workspace."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('resources', '0003_name_key'),
    ]

    operations = [
        migrations.AddConstraint(
            model_name='pool',
            constraint=models.UniqueConstraint(fields=('workspace', 'name_key'), name='resources_pool_unique_name_key'),
        ),
        migrations.AddConstraint(
            model_name='profile',
            constraint=models.UniqueConstraint(fields=('workspace', 'name_key'), name='resources_profile_unique_name_key'),
        ),
        migrations.AddConstraint(
            model_name='policy',
            constraint=models.UniqueConstraint(fields=('workspace', 'name_key'), name='resources_policy_unique_name_key'),
        ),
    ]
