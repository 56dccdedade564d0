"""Whether the process behind a heartbeat still runs: asked only where the answer is
certain, on the same machine (and in the same process-id namespace) as the asking worker.

A worker's heartbeat names its process by three things: the ``space`` its pid belongs
to (the kernel's boot id, which changes at every boot and differs between machines,
and the pid namespace, which differs between containers), the pid, and the process's
start time (clock ticks since boot, from ``/proc/<pid>/stat``). A pid is reused once its
process is gone, so a pid that runs *another* process, started at another time, is as
gone as one that runs nothing. A zombie (killed, not yet reaped by its parent) will
never send again either.

Where ``/proc`` cannot answer (another system, a namespace that hides it) the space is
empty and nothing is ever judged gone: the worker's rows then come back only when their
lease expires.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

_PROC: Final = Path("/proc")


@dataclass(frozen=True, slots=True)
class ProcessId:
    """Where a process runs and which one it is (see the module docstring)."""

    space: str
    pid: int
    start: str


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _space() -> str:
    boot = _read(_PROC / "sys/kernel/random/boot_id")
    try:
        namespace = os.readlink(_PROC / "self/ns/pid")
    except OSError:
        return ""
    return f"{boot}/{namespace}" if boot and namespace else ""


def _stat(pid: int) -> tuple[str, str] | None:
    """``(state, start time)`` of ``pid``, or None when there is no such process. The
    command name (field 2) is in parentheses and may hold spaces and parentheses itself,
    so the fields are counted from the last ``)``."""
    text = _read(_PROC / str(pid) / "stat")
    if not text:
        return None
    fields = text[text.rfind(")") + 2 :].split()
    if len(fields) < 20:
        return None
    return fields[0], fields[19]  # field 3 (state) and field 22 (starttime)


def identify(pid: int) -> ProcessId:
    """``pid``'s identity as a heartbeat records it (empty parts where /proc cannot tell)."""
    found = _stat(pid)
    space = _space() if found is not None else ""
    return ProcessId(space, pid, found[1] if found else "")


def this_process() -> ProcessId:
    return identify(os.getpid())


def gone(here: ProcessId, other: ProcessId) -> bool:
    """True only when ``other`` surely runs no more: it ran in the same space as ``here``,
    and its pid is free, a zombie, or a process started at another time."""
    if not here.space or other.space != here.space or not other.start:
        return False
    found = _stat(other.pid)
    if found is None:
        return not _exists(other.pid)
    state, start = found
    return start != other.start or state in ("Z", "X")


def _exists(pid: int) -> bool:
    """Whether ``pid`` runs, asked of the kernel: ``/proc`` mounted with ``hidepid`` hides
    other users' processes, which are not gone for that."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
