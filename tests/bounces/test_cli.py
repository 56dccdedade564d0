"""``postwarden bounces`` as a real process: what it needs, and ``--once`` against a real
IMAP mailbox (Dovecot)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from postwarden.core.secrets import Secret
from postwarden.core.verp import Verp
from tests.bounces.helpers import dsn
from tests.dovecot import DovecotServer

SECRET = "bounces-cli-secret-key-0123456789abcdef"


def run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("POSTWARDEN_", "BOUNCE_", "DJANGO_"))}
    base.update(POSTWARDEN_DATA_DIR=str(tmp_path / "data"), POSTWARDEN_SECRET_KEY=SECRET, **env)
    return subprocess.run(
        [sys.executable, "-m", "postwarden", "bounces", *args],
        env=base,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_it_says_what_it_needs(tmp_path: Path) -> None:
    done = run(tmp_path)
    assert done.returncode == 2
    assert "set BOUNCE_DOMAIN" in done.stderr
    done = run(tmp_path, BOUNCE_DOMAIN="bounces.example.com")
    assert done.returncode == 2
    assert "set POSTWARDEN_BOUNCE_LISTEN (a listener) or BOUNCE_IMAP_HOST (a bounce mailbox)" in done.stderr
    assert "Traceback" not in done.stderr


def test_once_reads_the_mailbox_and_keeps_a_bounce_it_cannot_match(
    tmp_path: Path, dovecot: DovecotServer
) -> None:
    path = Verp("bounces.example.com", Secret(SECRET)).address(41, 42)
    dovecot.deliver(dsn(path, "gone@example.org"))
    done = run(
        tmp_path,
        "--once",
        BOUNCE_DOMAIN="bounces.example.com",
        BOUNCE_IMAP_HOST=dovecot.host,
        BOUNCE_IMAP_PORT=str(dovecot.port),
        BOUNCE_IMAP_SECURITY="none",
        BOUNCE_IMAP_USER=dovecot.user,
        BOUNCE_IMAP_PASSWORD=dovecot.password,
    )
    assert done.returncode == 0, done.stderr
    assert "bounce mailbox: 1 found, 1 taken, 0 left for later" in done.stdout
    assert dovecot.password not in done.stdout + done.stderr
    assert dovecot.messages() == []
