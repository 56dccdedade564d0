"""``postwarden doctor`` where the service's database exists: it sets Django up and adds
what only the database knows (real subprocesses: migrate, then doctor)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from tests.pg import pg_cluster  # noqa: F401 - a session fixture, for the PostgreSQL case

pytestmark = pytest.mark.slow

#: the CLI in a process where importing Django fails
NO_DJANGO = (
    "import sys; sys.modules['django'] = None; from postwarden.cli.main import main; "
    "sys.exit(main(sys.argv[1:]))"
)


def postwarden(
    args: list[str], env: dict[str, str], cwd: Path, *, django: bool = True
) -> subprocess.CompletedProcess[str]:
    """``postwarden ARGS``; with ``django=False`` in a process where Django cannot be imported."""
    start = ["-m", "postwarden"] if django else ["-c", NO_DJANGO]
    return subprocess.run(
        [sys.executable, *start, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def doctor_env(tmp_path: Path, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "MAIL_", "EMAIL_", "DJANGO_"))}
    env.update(
        POSTWARDEN_DATA_DIR=str(tmp_path / "data"),
        MAIL_FROM="ops@example.com",
        POSTWARDEN_SECRET_KEY="doctor-db-test-secret-key-0123456789abcdef",
        **more,
    )
    return env


def test_it_adds_the_database_checks_when_the_database_is_there(tmp_path: Path) -> None:
    env = doctor_env(tmp_path)
    before = json.loads(postwarden(["doctor", "--json", "--only", "queue"], env, tmp_path).stdout)
    assert {c["status"] for c in before["checks"]} == {"skip"}
    migrated = postwarden(["migrate"], env, tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    after = json.loads(postwarden(["doctor", "--json", "--only", "queue,policy"], env, tmp_path).stdout)
    statuses = {c["id"]: c["status"] for c in after["checks"]}
    assert statuses == {
        "queue.worker": "warn",
        "queue.backlog": "pass",
        "queue.retrying": "pass",
        "queue.dead_letters": "pass",
        "policy.approved_domains": "pass",
        "policy.suppressed": "pass",
    }


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_it_reads_the_database_without_setting_django_up(
    tmp_path: Path, engine: str, request: pytest.FixtureRequest
) -> None:
    """The database's facts, the settings saved in the console among them, come by plain
    SQL (doctor/lean.py): Django cannot even be imported here, and the run still has them."""
    env = doctor_env(tmp_path, TEST_EMAIL="dest@example.com")
    if engine == "postgresql":
        env["DATABASE_URL"] = request.getfixturevalue("pg_cluster").createdb("doctor_lean")
    migrated = postwarden(["migrate"], env, tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    save_setting(env, tmp_path / "data" / "postwarden.sqlite3", "MAIL_ALLOWED_DOMAINS", "example.net")
    done = postwarden(["doctor", "--json", "--only", "queue,policy"], env, tmp_path, django=False)
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["root_cause"] == "policy.domain_not_approved"
    assert not any("could not be used" in note for note in report.get("notes", []))
    statuses = {c["id"]: c["status"] for c in report["checks"]}
    assert statuses["queue.worker"] == "warn"
    assert statuses["policy.approved_domains"] == "fail"


def save_setting(env: dict[str, str], sqlite_file: Path, name: str, value: str) -> None:
    """A plain (unsealed) setting saved as the console saves it, written by the engine's driver."""
    sql = "INSERT INTO configstore_storedsetting (name, value, sealed, updated_at) VALUES (?, ?, false, ?)"
    if "DATABASE_URL" in env:
        import psycopg

        with psycopg.connect(env["DATABASE_URL"], autocommit=True) as pg:
            pg.execute(sql.replace("?", "%s"), (name, value, "2026-01-01 00:00:00+00:00"))
        return
    with closing(sqlite3.connect(sqlite_file)) as db, db:
        db.execute(sql, (name, value, "2026-01-01 00:00:00"))
