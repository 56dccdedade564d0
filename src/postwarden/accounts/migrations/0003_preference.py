# The console's ConsoleSetting rows (the recipient-suggestion mode) become accounts'
# Preference, below the API and the console that both read it: the model moves in Django's
# state only, keeping the rows, and its table is then renamed to accounts'.

from django.db import migrations, models
import django.utils.timezone


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0002_user_read_bodies'),
        ('console', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Preference',
                    fields=[
                        ('name', models.CharField(max_length=64, primary_key=True, serialize=False)),
                        ('value', models.CharField(max_length=200)),
                        ('updated_at', models.DateTimeField(default=django.utils.timezone.now)),
                    ],
                    options={'db_table': 'console_consolesetting'},
                ),
            ],
        ),
        migrations.AlterModelTable(name='preference', table=None),
    ]
