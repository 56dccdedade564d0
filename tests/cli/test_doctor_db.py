"""``postwarden doctor`` where the service's database exists: it sets Django up and adds
what only the database knows (real subprocesses: migrate, then doctor)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def postwarden(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "postwarden", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_it_adds_the_database_checks_when_the_database_is_there(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "MAIL_", "EMAIL_", "DJANGO_"))}
    env.update(
        POSTWARDEN_DATA_DIR=str(tmp_path / "data"),
        MAIL_FROM="ops@example.com",
        POSTWARDEN_SECRET_KEY="doctor-db-test-secret-key-0123456789abcdef",
    )
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
