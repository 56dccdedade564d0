"""Stopping a server a test started in its own process group (``start_new_session=True``)."""

from __future__ import annotations

import os
import signal
import subprocess


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
