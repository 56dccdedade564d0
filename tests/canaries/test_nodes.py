"""Several nodes, one canary: processes running passes at the same time against one
database, PostgreSQL (a throwaway cluster, tests/pg.py) and SQLite alike, start exactly one
run for a due canary, and none until its interval has passed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.pg import Cluster, pg_cluster  # noqa: F401 - a session fixture
from tests.ports import free_port

NODES = 4
PASSES = 15
#: seconds for the nodes' interpreters to start and connect before they all begin
START_AFTER = 8.0
SETUP = r"""
from postwarden.cli.django_setup import setup
setup("monitor", create=True)
from django.core.management import call_command
call_command("migrate", verbosity=0)
from postwarden.canaries import store
import sys
store.create(store.CanaryInput(address="canary@example.com", imap_host="127.0.0.1",
    imap_port=int(sys.argv[1]), imap_security="none", imap_user="canary@example.com",
    imap_password="imap-password-1"))
print("ok")
"""
NODE = r"""
import sys, time
from postwarden.cli.django_setup import setup
setup("monitor")
from postwarden.canaries.runner import run_due
from django.db import connection
connection.ensure_connection()
# every node starts its passes at the same moment, so their first passes meet
time.sleep(max(0.0, float(sys.argv[3]) - time.time()))
moved = sum(run_due(owner=f"node-{sys.argv[1]}") for _ in range(int(sys.argv[2])))
print(moved)
"""
COUNT = r"""
from postwarden.cli.django_setup import setup
setup("monitor")
from postwarden.canaries.models import CanaryRun
print(CanaryRun.objects.count(), CanaryRun.objects.get().state)
"""


def _env(database_url: str, data: Path) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("POSTWARDEN_", "MAIL_", "SMTP_", "EMAIL_"))
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(
        {
            "DATABASE_URL": database_url,
            "POSTWARDEN_DATA_DIR": str(data),
            "POSTWARDEN_SECRET_KEY": "canary-nodes-test-secret-key-0123456789abcdef",
            "MAIL_FROM": "ops@example.com",
        }
    )
    return env


def _python(script: str, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def _race(database_url: str, data: Path) -> None:
    env = _env(database_url, data)
    # a mailbox where nothing listens: each run ends at once (unreachable), so a node that
    # wrongly started a second one would show it
    assert _python(SETUP, env, str(free_port())) == "ok"
    start = time.time() + START_AFTER
    nodes = [
        subprocess.Popen(
            [sys.executable, "-c", NODE, str(n), str(PASSES), str(start)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(NODES)
    ]
    moved = []
    for node in nodes:
        out, err = node.communicate(timeout=300)
        assert node.returncode == 0, err[-3000:]
        moved.append(int(out.strip().splitlines()[-1]))
    assert sum(moved) == 1, moved
    assert _python(COUNT, env) == "1 unreachable"


@pytest.mark.postgres
def test_one_run_on_postgresql(pg_cluster: Cluster, tmp_path: Path) -> None:  # noqa: F811
    _race(pg_cluster.createdb("canary_nodes"), tmp_path / "data")


def test_one_run_on_sqlite(tmp_path: Path) -> None:
    _race(f"sqlite:///{tmp_path / 'canaries.sqlite3'}", tmp_path / "data")
