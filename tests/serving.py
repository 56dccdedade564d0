"""Starting ``postwarden serve`` (or any of its start-up commands) as a real process and
waiting until its console answers."""

from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

#: seconds a start-up (migrations included) may take on a loaded machine
START_TIMEOUT = 90.0


def start(argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    """``argv`` in its own process group, its output in ``log``; stop it with
    tests.processes.stop_group."""
    with log.open("wb") as out:
        return subprocess.Popen(
            argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Until ``url``/healthz answers 200; fails with the log when the process ends first."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{process.args} exited ({process.returncode}):\n{tail(log)}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise AssertionError(f"{process.args} did not answer within {START_TIMEOUT:.0f} s:\n{tail(log)}")


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-4000:]
