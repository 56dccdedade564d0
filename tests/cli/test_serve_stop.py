"""``postwarden serve`` stopping: a child that holds up the stop is named, then killed."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from postwarden.cli import serve

# a child that ignores SIGTERM (as a hung job would) and one that stops at once
STUBBORN = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('up', flush=True); time.sleep(60)"
)
POLITE = "import time; print('up', flush=True); time.sleep(60)"


def spawn(name: str, code: str) -> serve.Child:
    kid = serve.Child(name=name, argv=[])
    kid.process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert kid.process.stdout is not None
    assert kid.process.stdout.readline() == b"up\n"  # its handler is set before SIGTERM comes
    return kid


def test_a_child_that_will_not_stop_is_named_then_killed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(serve, "SLOW_STOP", 0.2)
    monkeypatch.setattr(serve, "STOP_GRACE", 1.0)
    web, monitor = spawn("web", POLITE), spawn("monitor", STUBBORN)
    started = time.monotonic()
    serve._stop([web, monitor])
    err = capsys.readouterr().err
    assert web.process is not None
    assert monitor.process is not None
    assert (web.process.returncode, monitor.process.returncode) == (-15, -9)
    assert f"postwarden: waiting for monitor (pid {monitor.process.pid}) to stop" in err
    assert f"postwarden: monitor (pid {monitor.process.pid}) did not stop within 1s; killing it" in err
    assert "web" not in err
    assert time.monotonic() - started < 30  # bounded by the grace, not by the child's sleep


def test_children_that_stop_promptly_are_not_mentioned(capsys: pytest.CaptureFixture[str]) -> None:
    kids = [spawn("web", POLITE), spawn("worker", POLITE)]
    serve._stop(kids)
    assert [k.process.returncode for k in kids if k.process] == [-15, -15]
    assert capsys.readouterr().err == ""
