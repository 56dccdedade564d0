"""Postwarden run in processes of its own, as an operator runs it: the environment of such a
process, a script run in one, and stopping a server a test started in its own process group
(``start_new_session=True``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Final

#: the suite's own settings, which a process run as an operator runs it must not inherit
_SUITE_SETTINGS: Final = ("POSTWARDEN_", "DJANGO_", "DATABASE_URL", "EMAIL_", "SMTP_", "MAIL_")


def service_env(data: Path, **settings: str) -> dict[str, str]:
    """The environment of a Postwarden process as an operator runs it: this one's without the
    suite's settings, the service's own Django settings, ``data`` as its data directory, and
    ``settings`` (``DATABASE_URL``, ``MAIL_FROM`` …) on top."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SUITE_SETTINGS)}
    env.update(DJANGO_SETTINGS_MODULE="postwarden.settings", POSTWARDEN_DATA_DIR=str(data), **settings)
    return env


def python(code: str, env: dict[str, str], *, timeout: float = 300) -> str:
    """``code`` run by a new interpreter in ``env``; its standard output. Fails with the end
    of its standard error when it exits with another status than 0."""
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def stop_group(process: subprocess.Popen[bytes] | subprocess.Popen[str], grace: float = 30) -> None:
    """SIGTERM the process's group (the service and its children), wait ``grace`` seconds for a
    clean exit, then SIGKILL what is left. Nothing is done for a process that already ended."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
