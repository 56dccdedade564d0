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

import jsonschema
import pytest

from tests.cli.test_doctor import SCHEMA
from tests.pg import pg_cluster  # noqa: F401 - a session fixture, for the PostgreSQL case
from tests.smtpd import SmtpServer

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
        "queue.bounce_rate": "pass",
        "queue.recent_sends": "pass",
        "policy.approved_domains": "pass",
        "policy.suppressed": "pass",
    }


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_it_reads_the_database_without_setting_django_up(
    tmp_path: Path, engine: str, request: pytest.FixtureRequest
) -> None:
    """The database's facts, the settings saved in the console among them, come by plain
    SQL (doctor/db_reads.py): Django cannot even be imported here, and the run still has them."""
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


#: run in ``postwarden manage shell``: queue two messages and let the worker's own steps send them
DELIVER = """
import asyncio
from postwarden.configstore.runtime import current_settings
from postwarden.outbox.submission import Outgoing, enqueue
from postwarden.outbox.worker.loop import Worker, WorkerOptions
settings = current_settings()
for to in ("a@example.net", "b@example.net"):
    enqueue(Outgoing(to=[to], subject="Invoice", text="Pay now"), settings=settings)
async def steps():
    worker = Worker(WorkerOptions(worker_id="w", retry_base=0.01), settings_source=lambda: settings)
    await worker.deliver_step()
    await worker.close()
asyncio.run(steps())
"""


def test_it_reads_what_real_mail_met(tmp_path: Path, smtpd: SmtpServer) -> None:
    """The server refuses real mail at DATA; the probe (MAIL, RCPT, RSET) passes. The
    command line (plain SQL, no Django) reads the failed recipients and names the cause."""
    smtpd.inject("DATA", "554 5.7.1 Message rejected as spam by Content Filtering.")
    env = doctor_env(
        tmp_path,
        EMAIL_PROVIDER="smtp",
        SMTP_HOST=smtpd.host,
        SMTP_PORT=str(smtpd.port),
        SMTP_SECURITY="none",
        TEST_EMAIL="dest@example.org",
    )
    migrated = postwarden(["migrate"], env, tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    sent = postwarden(["manage", "shell", "-c", DELIVER], env, tmp_path)
    assert sent.returncode == 0, sent.stderr
    assert len(smtpd.messages) == 2
    done = postwarden(["doctor", "--json", "--only", "queue,network,envelope"], env, tmp_path, django=False)
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    jsonschema.Draft202012Validator(SCHEMA).validate(report)
    assert report["ok"] is False
    assert report["root_cause"] == "envelope.content_rejected"
    [found] = [f for f in report["findings"] if f["code"] == "envelope.content_rejected"]
    assert found["severity"] == "error"
    assert found["evidence"].endswith("at DATA: 554 5.7.1 Message rejected as spam by Content Filtering.")
    assert found["steps"]
    statuses = {c["id"]: c["status"] for c in report["checks"]}
    assert statuses["envelope.rset"] == "pass"  # the probe alone would have said all clear
    assert statuses["queue.recent_sends"] == "fail"
    readable = postwarden(["doctor", "--only", "queue,network,envelope"], env, tmp_path, django=False)
    assert "Problems found" in readable.stdout
    assert "All clear" not in readable.stdout


#: run in ``postwarden manage shell``: two stored templates, one whose samples are
#: incomplete, one whose sample link points at localhost
TEMPLATES = """
from postwarden.mailtemplates import store
html = '<p>Hello {{ name }}</p>\\n<a href="{{ reset_url }}">reset</a>'
store.save("password-reset", store.TemplateDraft("Reset", None, html, {"name": "Ann"}), by="test")
sample = {"url": "http://localhost:8000/start"}
store.save("welcome", store.TemplateDraft("Hi", "Start at {{ url }}", None, sample), by="test")
"""


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_the_command_line_renders_stored_templates_without_django(
    tmp_path: Path, engine: str, request: pytest.FixtureRequest
) -> None:
    env = doctor_env(tmp_path, APP_URL="https://app.example.com")
    if engine == "postgresql":
        env["DATABASE_URL"] = request.getfixturevalue("pg_cluster").createdb("doctor_templates")
    assert postwarden(["migrate"], env, tmp_path).returncode == 0
    stored = postwarden(["manage", "shell", "-c", TEMPLATES], env, tmp_path)
    assert stored.returncode == 0, stored.stderr
    done = postwarden(["doctor", "--json", "--only", "links"], env, tmp_path, django=False)
    report = json.loads(done.stdout)
    jsonschema.Draft202012Validator(SCHEMA).validate(report)
    [check] = [c for c in report["checks"] if c["id"] == "links.templates"]
    assert check["status"] == "fail"
    assert (
        "template password-reset version 1, html line 2: variable 'reset_url' is missing" in check["detail"]
    )
    [found] = [f for f in report["findings"] if f["code"] == "links.host_mismatch"]
    assert "template welcome version 1: http://localhost:8000/start" in found["evidence"]
    # the template that does not render is a finding of its own, and the first cause
    assert report["root_cause"] == "links.template_broken"
    [broken] = [f for f in report["findings"] if f["code"] == "links.template_broken"]
    assert broken["severity"] == "error"
    assert broken["evidence"] == (
        "template password-reset version 1, html line 2: variable 'reset_url' is missing"
    )
    assert "/templates/password-reset/" in broken["steps"][0]
    assert "PUT /api/v1/templates/password-reset" in broken["steps"][0]
    assert "give reset_url in the sample variables of password-reset" in broken["steps"][1]
    assert done.returncode == 1
    readable = postwarden(["doctor", "--only", "links"], env, tmp_path, django=False).stdout
    assert "links.template_broken" in readable
