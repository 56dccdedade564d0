# PostgreSQL: the worker completes every attempt row it inserted a moment before (outcome,
# reply, times: no indexed column). With room left on the row's page that UPDATE is a
# heap-only tuple, written beside the old one with no new index entries; on pages filled
# to the brim by the inserts it never is. SQLite has no such setting.

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

FILLFACTOR = 70


def forward(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE outbox_attempt SET (fillfactor = {FILLFACTOR})")


def backward(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE outbox_attempt RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [
        ("outbox", "0005_recipient_indexes"),
    ]

    operations = [migrations.RunPython(forward, backward)]
