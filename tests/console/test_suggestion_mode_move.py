"""The recipient-suggestion mode moved from the console's ConsoleSetting to accounts'
Preference (below the API and the console, which both read it): an installation that had
chosen a mode keeps it through the migrations, and going back restores the console's table."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from postwarden.accounts.suggestions import suggestion_mode

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("console", "0001_initial"), ("accounts", "0002_user_read_bodies")]


def migrate(targets: list[tuple[str, str]] | None = None) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(targets or executor.loader.graph.leaf_nodes())


def tables() -> set[str]:
    return set(connection.introspection.table_names())


def test_a_chosen_mode_survives_the_move_and_the_way_back() -> None:
    migrate(BEFORE)
    assert "console_consolesetting" in tables()
    assert "accounts_preference" not in tables()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO console_consolesetting (name, value, updated_at) VALUES (%s, %s, %s)",
            ["recipient_suggestions", "groups", timezone.now()],
        )
    migrate()
    assert "accounts_preference" in tables()
    assert "console_consolesetting" not in tables()
    assert suggestion_mode() == "groups"

    migrate(BEFORE)
    with connection.cursor() as cursor:
        cursor.execute("SELECT value FROM console_consolesetting WHERE name = %s", ["recipient_suggestions"])
        assert cursor.fetchone() == ("groups",)
    migrate()
    assert suggestion_mode() == "groups"
