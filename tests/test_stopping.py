"""A service told to stop more than once stops once, cleanly (postwarden/stopping.py).

systemd signals every process of a unit and ``postwarden serve`` passes the signal on, so
the worker, the relay and the bounce listener each get SIGTERM twice or more; the CI saw a
clean stop end in "Exception ignored when trying to write to the signal wakeup fd" and a
traceback (a signal written to asyncio's closed self-pipe). Each process here is sent
SIGTERM every fraction of a millisecond from the moment it is ready until it has exited."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from tests.ports import free_port
from tests.processes import service_env
from tests.serving import START_TIMEOUT, start, tail

#: seconds the signals may keep coming before the process must have exited
STOP_TIMEOUT = 30.0


@pytest.mark.parametrize(
    ("command", "ready", "stopped"),
    [
        (["worker"], '"msg": "worker started"', '"msg": "worker stopped"'),
        (["relay", "--listen", "127.0.0.1:{port}"], "postwarden relay: listening", '"msg": "relay stopped"'),
        (
            ["bounces", "--listen", "127.0.0.1:{port}"],
            "postwarden bounces: listening",
            '"msg": "bounces stopped"',
        ),
    ],
)
def test_a_service_sent_sigterm_again_and_again_stops_once_and_quietly(
    command: list[str], ready: str, stopped: str, tmp_path: Path
) -> None:
    argv = [part.format(port=free_port()) for part in command]
    log = tmp_path / "service.log"
    process = start(
        [sys.executable, "-m", "postwarden", *argv],
        service_env(tmp_path / "data", EMAIL_PROVIDER="capture", BOUNCE_DOMAIN="bounces.test"),
        tmp_path,
        log,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while ready not in log.read_text(errors="replace"):
            assert process.poll() is None, tail(log)
            assert time.monotonic() < deadline, tail(log)
            time.sleep(0.05)
        sent = 0
        deadline = time.monotonic() + STOP_TIMEOUT
        while process.poll() is None and time.monotonic() < deadline:
            try:
                os.kill(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                break
            sent += 1
            time.sleep(0.0002)
        assert process.wait(timeout=5) in (0, -signal.SIGTERM), tail(log)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = log.read_text(errors="replace")
    assert sent > 1
    assert stopped in output  # it stopped its work before it exited, once
    assert output.count(stopped) == 1
    assert "Traceback" not in output, tail(log)
    assert "Exception ignored" not in output, tail(log)
