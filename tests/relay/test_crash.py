"""A relay killed with SIGKILL right after its 250 loses nothing (issues #6 and #8): real
``postwarden relay`` and ``postwarden worker`` processes on a throwaway data directory,
delivering to a local SMTP server that records Message-IDs."""

from __future__ import annotations

import os
import signal
import smtplib
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.ports import free_port
from tests.relay.helpers import message
from tests.smtpd import SmtpServer

pytestmark = pytest.mark.slow

#: seconds any process here may take to start, or the worker to deliver
DEADLINE = 60.0


def environment(data_dir: Path, relay_port: int, smtp_port: int) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "SYSTEMROOT")
    return {
        **{k: v for k, v in os.environ.items() if k in keep},
        "DJANGO_SETTINGS_MODULE": "postwarden.settings",
        "POSTWARDEN_DATA_DIR": str(data_dir),
        "POSTWARDEN_SECRET_KEY": "crash-test-secret-key-0123456789abcdef",
        "POSTWARDEN_SMTP_LISTEN": f"127.0.0.1:{relay_port}",
        "POSTWARDEN_RELAY_TRUSTED_NETWORKS": "127.0.0.0/8",
        "EMAIL_PROVIDER": "smtp",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_port),
        "SMTP_SECURITY": "none",
        "MAIL_FROM": "ops@example.com",
    }


def postwarden(*args: str, env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "postwarden", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for_line(process: subprocess.Popen[str], text: str) -> None:
    assert process.stdout is not None
    deadline = time.monotonic() + DEADLINE
    seen: list[str] = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        seen.append(line)
        if text in line:
            return
    raise AssertionError(f"{text!r} never came; output: {''.join(seen)[-2000:]}")


def stop(process: subprocess.Popen[str] | subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def migrated_environment(data_dir: Path, smtpd: SmtpServer, cwd: Path) -> dict[str, str]:
    """The relay's environment (a fresh port, mail to ``smtpd``) over a migrated database."""
    env = environment(data_dir, free_port(), smtpd.port)
    migrated = subprocess.run(
        [sys.executable, "-m", "postwarden", "migrate"],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    return env


def test_it_delivers_what_it_answered_250_for_even_when_killed_right_after(
    smtpd: SmtpServer, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    env = migrated_environment(data_dir, smtpd, tmp_path)

    relay = postwarden("relay", env=env, cwd=tmp_path)
    try:
        wait_for_line(relay, "postwarden relay: listening on")
        client = smtplib.SMTP("127.0.0.1", int(env["POSTWARDEN_SMTP_LISTEN"].rpartition(":")[2]), timeout=10)
        client.ehlo("app.test")
        replies = []
        for n in range(3):
            client.mail("app@example.com")
            client.rcpt(f"user{n}@example.net")
            raw = f"From: app@example.com\r\nSubject: n{n}\r\nMessage-ID: <crash-{n}@app.test>\r\n\r\nx\r\n"
            code, text = client.data(raw.encode())
            replies.append(f"{code} {text.decode()}")
        os.kill(relay.pid, signal.SIGKILL)  # right after the last 250: no QUIT, no shutdown
        relay.wait(timeout=30)
        client.close()
    finally:
        stop(relay, signal.SIGKILL)
    assert [r.startswith("250 2.0.0 Ok: queued as m_") for r in replies] == [True] * 3

    # the worker's output goes to a file: an unread pipe would fill up and stall it
    worker_log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "postwarden", "worker", "--retry-base", "0.1", "--idle-sleep", "0.1"],
        env=env, cwd=tmp_path, stdout=worker_log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + DEADLINE
        while len(smtpd.delivered) < 3 and time.monotonic() < deadline and worker.poll() is None:
            time.sleep(0.1)
    finally:
        stop(worker)
        worker_log.close()
    assert sorted(m.message_id or "" for m in smtpd.delivered) == [f"<crash-{n}@app.test>" for n in range(3)]
    with sqlite3.connect(data_dir / "postwarden.sqlite3") as db:
        rows = db.execute(
            "SELECT m.public_id, r.state FROM outbox_message m JOIN outbox_recipient r ON r.message_id = m.id"
            " ORDER BY m.id"
        ).fetchall()
    assert rows == [(message(reply), "sent") for reply in replies]


def test_it_stops_cleanly_on_sigterm_after_storing_what_it_accepted(
    smtpd: SmtpServer, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    env = migrated_environment(data_dir, smtpd, tmp_path)
    relay = postwarden("relay", env=env, cwd=tmp_path)
    try:
        wait_for_line(relay, "postwarden relay: listening on")
        port = int(env["POSTWARDEN_SMTP_LISTEN"].rpartition(":")[2])
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.sendmail(
                "app@example.com",
                ["user@example.net"],
                b"From: app@example.com\r\nSubject: before stop\r\n\r\nx\r\n",
            )
        relay.send_signal(signal.SIGTERM)
        output, _ = relay.communicate(timeout=60)
    finally:
        stop(relay, signal.SIGKILL)
    assert relay.returncode == 0
    stopped = [line for line in output.splitlines() if '"relay stopped"' in line]
    assert len(stopped) == 1
    assert '"committed": 1' in stopped[0]
    with sqlite3.connect(data_dir / "postwarden.sqlite3") as db:
        assert db.execute("SELECT subject FROM outbox_message").fetchall() == [("before stop",)]
