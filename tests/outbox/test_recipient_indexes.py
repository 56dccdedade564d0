"""The recipient's indexes as the migrations leave them, on PostgreSQL and SQLite: one
index each for the address and the provider's id (no varchar_pattern_ops twin on
PostgreSQL), the provider's id only for rows that have one, and room on the attempt
table's pages for the update that completes each attempt (PostgreSQL's fillfactor), so a
recipient's move writes as few index entries as its queries need."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.pg import Cluster, pg_cluster  # noqa: F401 - a session fixture

ROOT = Path(__file__).resolve().parents[2]
#: how each database writes the partial index's condition, NOT (provider_message_id = '')
PROVIDER_ONLY_WHEN_SET = re.compile(r"WHERE \(?NOT \(.*provider_message_id.* = ''")


def migrate(tmp_path: Path, database_url: str | None = None) -> None:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("POSTWARDEN_", "DJANGO_", "DATABASE_URL"))
    }
    env.update(POSTWARDEN_DATA_DIR=str(tmp_path / "data"), PYTHONPATH=str(ROOT))
    if database_url:
        env["DATABASE_URL"] = database_url
    done = subprocess.run(
        [sys.executable, "-m", "postwarden", "migrate"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.postgres
def test_postgres_gets_one_index_each_and_room_for_the_attempts_update(
    pg_cluster: Cluster,  # noqa: F811
    tmp_path: Path,
) -> None:
    url = pg_cluster.createdb("indexes")
    migrate(tmp_path, url)
    with psycopg.connect(url) as db:
        indexes = dict(
            db.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'outbox_recipient'"
            ).fetchall()
        )
        (options,) = db.execute("SELECT reloptions FROM pg_class WHERE relname = 'outbox_attempt'").fetchone()
    on_address = [name for name, sql in indexes.items() if "(address" in sql]
    on_provider = [name for name, sql in indexes.items() if "(provider_message_id" in sql]
    assert on_address == ["rcpt_address"]
    assert on_provider == ["rcpt_provider"]
    assert PROVIDER_ONLY_WHEN_SET.search(indexes["rcpt_provider"]), indexes["rcpt_provider"]
    assert options == ["fillfactor=70"]


def test_sqlite_gets_the_same_indexes_without_rebuilding_the_table(tmp_path: Path) -> None:
    migrate(tmp_path)
    with sqlite3.connect(tmp_path / "data" / "postwarden.sqlite3") as db:
        rows = db.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'outbox_recipient'"
        ).fetchall()
    db.close()
    indexes = {name: sql for name, sql in rows if sql}
    assert [n for n, sql in indexes.items() if '("address"' in sql] == ["rcpt_address"]
    assert [n for n, sql in indexes.items() if '("provider_message_id"' in sql] == ["rcpt_provider"]
    assert PROVIDER_ONLY_WHEN_SET.search(indexes["rcpt_provider"]), indexes["rcpt_provider"]
