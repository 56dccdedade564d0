"""What every SQLite connection of the service is set up with (settings._database): WAL,
full sync, foreign keys, and a page cache that holds a batch's writes."""

from __future__ import annotations

import pytest
from django.db import connection

from postwarden import settings

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's connection set-up"),
]


def pragma(name: str) -> object:
    with connection.cursor() as cursor:
        cursor.execute(f"PRAGMA {name}")
        return cursor.fetchone()[0]


def test_each_connection_gets_the_large_page_cache_and_keeps_its_guarantees() -> None:
    assert pragma("cache_size") == -settings.SQLITE_CACHE_KIB
    assert settings.SQLITE_CACHE_KIB >= 16384  # SQLite's default is 2,000 KiB
    assert pragma("synchronous") == 2  # FULL
    assert pragma("foreign_keys") == 1


def test_a_database_url_gets_the_same_set_up() -> None:
    config = settings._database("sqlite:////tmp/pw-example.sqlite3")
    command = config["OPTIONS"]["init_command"]
    assert f"PRAGMA cache_size=-{settings.SQLITE_CACHE_KIB};" in command
    assert "PRAGMA journal_mode=WAL;" in command
