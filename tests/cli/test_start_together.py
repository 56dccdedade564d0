"""Several nodes starting at once on one database (issue #19): two ``postwarden serve``
processes started in the same instant on one PostgreSQL database, each with its own data
directory as on two hosts. The second used to crash creating the same first admin
(``duplicate key value violates unique constraint "accounts_user_username_key"``) while
both migrated. Now the start-up work runs under an advisory lock: both come up, and the
install has exactly one admin. Repeated on a new database each round; and once on one
SQLite data directory, where the data directory's file lock does the same."""

from __future__ import annotations

import os
import sqlite3
import sys
from contextlib import closing
from pathlib import Path

import pytest

from postwarden.cli.serve import STOP_GRACE
from tests.pg import Cluster, pg_cluster  # noqa: F401 - a session fixture
from tests.ports import free_port
from tests.processes import stop_group
from tests.serving import start, tail, wait_until_up

pytestmark = pytest.mark.slow
ROUNDS = 5
SECRET_KEY = "start-together-secret-key-0123456789abcdef"


def node_env(data: Path, database_url: str) -> tuple[dict[str, str], str]:
    port = free_port()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("POSTWARDEN_", "SMTP_", "MAIL_", "DJANGO_"))
    }
    env.update(
        POSTWARDEN_DATA_DIR=str(data),
        POSTWARDEN_SECRET_KEY=SECRET_KEY,
        POSTWARDEN_PORT=str(port),
        DATABASE_URL=database_url,
    )
    return env, f"http://127.0.0.1:{port}"


def start_two(root: Path, urls: tuple[str, str]) -> list[int]:
    """Start both nodes back to back (each with a data directory of its own) and wait for
    both; returns how many admins each created."""
    nodes = []
    for name, database_url in zip(("a", "b"), urls, strict=True):
        env, url = node_env(root / name, database_url)
        nodes.append((url, root / f"{name}.log", env))
    processes = [
        start([sys.executable, "-m", "postwarden", "serve", "--no-relay"], env, root, log)
        for _, log, env in nodes
    ]
    try:
        for (url, log, _), process in zip(nodes, processes, strict=True):
            wait_until_up(url, process, log)
        return [tail(log).count("Created the first admin") for _, log, _ in nodes]
    finally:
        for process in processes:
            # more than serve's own grace, so a slow child is named and killed by serve in
            # the log rather than serve itself being killed with nothing said
            stop_group(process, grace=STOP_GRACE + 15)
        for (_, log, _), process in zip(nodes, processes, strict=True):
            assert process.returncode == 0, tail(log)
            assert "Traceback" not in tail(log), tail(log)


@pytest.mark.postgres
def test_two_nodes_on_one_postgres_database_start_together(pg_cluster: Cluster, tmp_path: Path) -> None:  # noqa: F811
    import psycopg

    for round_ in range(ROUNDS):
        url = pg_cluster.createdb(f"together{round_}")
        root = tmp_path / f"round{round_}"
        root.mkdir()
        created = start_two(root, (url, url))
        with psycopg.connect(url) as db:
            admins = db.execute("SELECT username FROM accounts_user").fetchall()
        assert admins == [("admin@localhost",)], f"round {round_}: {admins}"
        assert sorted(created) == [0, 1], f"round {round_}: {created}"


def test_two_nodes_on_one_sqlite_data_directory_start_together(tmp_path: Path) -> None:
    """Their data directories differ and DATABASE_URL names one file: the lock is taken
    beside the database too."""
    database = tmp_path / "shared" / "postwarden.sqlite3"
    database.parent.mkdir()
    created = start_two(tmp_path, (f"sqlite:///{database}",) * 2)
    with closing(sqlite3.connect(database)) as db:
        assert db.execute("SELECT count(*) FROM accounts_user").fetchone() == (1,)
    assert sorted(created) == [0, 1]
