"""Processes the benchmark starts: each one tracked, and stopped by its PID when the block
that started it ends, whatever happened (SIGTERM, then SIGKILL after a grace period).

A child also gets SIGTERM from the kernel if the benchmark itself dies without running
its ``finally`` blocks (``PR_SET_PDEATHSIG``, Linux), so no server outlives a killed run.
Readers of ``/proc`` for CPU time and peak memory live here too.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

#: seconds a server may take to listen after it was started (Django imports included)
START_DEADLINE = 60.0
#: seconds a server may take to stop after SIGTERM (a worker finishes what is in flight)
STOP_GRACE = 30.0
TICKS_PER_S = os.sysconf("SC_CLK_TCK")
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the parent goes away."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Processes:
    """A context manager that owns every process started through :meth:`start`."""

    def __init__(self) -> None:
        self._running: list[tuple[subprocess.Popen[bytes], Path]] = []

    def __enter__(self) -> Processes:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        for proc, _ in reversed(self._running):
            stop(proc)
        self._running.clear()

    def start(self, argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        """Start ``argv`` with stdout and stderr to ``log`` (a file: a pipe nobody reads
        would fill and stall the child)."""
        with log.open("ab") as out:
            proc = subprocess.Popen(
                argv,
                env=env,
                cwd=log.parent,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        self._running.append((proc, log))
        return proc

    def stop(self, proc: subprocess.Popen[bytes]) -> int | None:
        """Stop one process now (it is forgotten); returns its exit status."""
        self._running = [(p, log) for p, log in self._running if p is not proc]
        return stop(proc)


def stop(proc: subprocess.Popen[bytes], grace: float = STOP_GRACE) -> int | None:
    """SIGTERM by PID, wait ``grace`` seconds, then SIGKILL. Returns the exit status."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    return proc.returncode


def wait_listening(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Return once something accepts on 127.0.0.1:``port``; raise if ``proc`` exits first
    or :data:`START_DEADLINE` passes (with the tail of its log)."""
    deadline = time.monotonic() + START_DEADLINE
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} (exit status {proc.poll()}):\n{tail(log)}")


def tail(log: Path, size: int = 3000) -> str:
    with contextlib.suppress(OSError):
        return log.read_bytes()[-size:].decode(errors="replace")
    return ""


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (``/proc/PID/stat`` fields 14 and 15), 10 ms resolution."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S


def _stat(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()


def server_cpu_seconds(pid: int) -> float:
    """CPU of a forking server and everything it runs: the server's own utime + stime, the
    children it has reaped (cutime + cstime: PostgreSQL's backends of closed connections),
    and the utime + stime of its children alive now (its backends, checkpointer, WAL
    writer). Read it before and after a measurement; the difference is the server's work."""
    fields = _stat(pid)
    total = sum(int(fields[i]) for i in (11, 12, 13, 14))
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            child = _stat(int(entry.name))
        except (FileNotFoundError, ProcessLookupError):
            continue  # it ended between the listing and the read
        if int(child[1]) == pid:
            total += int(child[11]) + int(child[12])
    return total / TICKS_PER_S


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set so far (``VmHWM`` in ``/proc/PID/status``), in MiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")
