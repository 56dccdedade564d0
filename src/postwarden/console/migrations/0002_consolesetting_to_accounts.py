# ConsoleSetting moved to accounts (accounts 0003_preference took its table and rows):
# forgotten here in Django's state only.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('console', '0001_initial'),
        ('accounts', '0003_preference'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name='ConsoleSetting')],
        ),
    ]
