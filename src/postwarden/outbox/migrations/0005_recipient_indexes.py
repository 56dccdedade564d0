# The address and provider-id indexes move from db_index to Meta.indexes (on PostgreSQL
# db_index also made a varchar_pattern_ops twin no query uses), the provider id's only for
# rows that have one. Written by hand: Django's AlterField rebuilds the whole recipient
# table on SQLite to drop an index; here each index is dropped and created alone.

from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

# the names Django gave the db_index indexes (a hash of table and column, the same on
# every database), and PostgreSQL's _like twins
OLD_INDEXES = (
    "outbox_recipient_address_0c5f76cb",
    "outbox_recipient_address_0c5f76cb_like",
    "outbox_recipient_provider_message_id_a86db101",
    "outbox_recipient_provider_message_id_a86db101_like",
)

ADDRESS = models.Index(fields=["address"], name="rcpt_address")
PROVIDER = models.Index(
    condition=models.Q(("provider_message_id", ""), _negated=True),
    fields=["provider_message_id"],
    name="rcpt_provider",
)


def forward(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    recipient = apps.get_model("outbox", "Recipient")
    for name in OLD_INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")
    schema_editor.add_index(recipient, ADDRESS)
    schema_editor.add_index(recipient, PROVIDER)


def backward(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    recipient = apps.get_model("outbox", "Recipient")
    schema_editor.remove_index(recipient, ADDRESS)
    schema_editor.remove_index(recipient, PROVIDER)
    postgres = schema_editor.connection.vendor == "postgresql"
    for name in OLD_INDEXES:
        column = "address" if "_address_" in name else "provider_message_id"
        if name.endswith("_like"):
            if postgres:
                schema_editor.execute(
                    f'CREATE INDEX "{name}" ON "outbox_recipient" ("{column}" varchar_pattern_ops)'
                )
            continue
        schema_editor.execute(f'CREATE INDEX "{name}" ON "outbox_recipient" ("{column}")')


class Migration(migrations.Migration):
    dependencies = [
        ("outbox", "0004_rcpt_ended"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="recipient",
                    name="address",
                    field=models.CharField(max_length=320),
                ),
                migrations.AlterField(
                    model_name="recipient",
                    name="provider_message_id",
                    field=models.CharField(blank=True, max_length=255),
                ),
                migrations.AddIndex(model_name="recipient", index=ADDRESS),
                migrations.AddIndex(model_name="recipient", index=PROVIDER),
            ],
            database_operations=[migrations.RunPython(forward, backward)],
        ),
    ]
