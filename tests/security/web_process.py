"""``postwarden web`` as a real waitress process on a free loopback port, with a migrated
database and one admin, for the tests that play the reverse proxy in front of it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.ports import free_port
from tests.processes import stop_group

ADMIN = "a@example.com"
PASSWORD = "correct horse battery staple"


@contextmanager
def running_web(tmp_path: Path, **settings: str) -> Iterator[str]:
    """The process's ``http://127.0.0.1:<port>`` while it runs with ``settings`` added to a
    clean environment."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "MAIL_", "EMAIL_", "DJANGO_"))}
    env.update(
        POSTWARDEN_DATA_DIR=str(tmp_path),
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        POSTWARDEN_SECRET_KEY="web-process-test-secret-key-0123456789",
        POSTWARDEN_HOST="127.0.0.1",
        POSTWARDEN_PORT=str(port),
        **settings,
    )
    run = [sys.executable, "-m", "postwarden"]
    subprocess.run([*run, "migrate"], env=env, cwd=tmp_path, check=True, capture_output=True, timeout=120)
    subprocess.run(
        [*run, "createadmin", "--email", ADMIN, "--password-stdin"],
        env=env,
        cwd=tmp_path,
        input=PASSWORD,
        text=True,
        check=True,
        capture_output=True,
        timeout=120,
    )
    process = subprocess.Popen([*run, "web"], env=env, cwd=tmp_path, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                requests.get(url + "/healthz", timeout=2)
                break
            except requests.RequestException:
                time.sleep(0.2)
        yield url
    finally:
        stop_group(process)
