"""How Postwarden's long-running asyncio processes (the worker, the relay, the bounce
listener) hear that they must stop, and stop hearing it once they have.

SIGTERM and SIGINT call the process's stop. A process may get the signal more than once:
systemd's default KillMode signals every process of a unit while ``postwarden serve``
passes the signal on to its children, and Ctrl-C reaches the whole process group. asyncio
writes a signal to its loop's self-pipe, and closes that pipe before it gives the signals
back: one that came in between was written to a closed descriptor, and a clean stop ended
with "Exception ignored when trying to write to the signal wakeup fd … Bad file
descriptor" and a traceback on stderr. So once a process has stopped its work, while its
loop still runs, the two signals are ignored: there is nothing left for them to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

T = TypeVar("T")

STOP_SIGNALS: Final = (signal.SIGTERM, signal.SIGINT)


def on_stop(callback: Callable[[], object]) -> None:
    """SIGTERM and SIGINT call ``callback`` on the running loop (not where there are no
    signals to hear: another platform, or a loop outside the main thread, as in tests)."""
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, callback)


async def until_stopped(main: Awaitable[T]) -> T:
    """Await a process's ``main``; then ignore the stop signals for the rest of the process.
    For a process's own entry point only: a signal's disposition is process-wide."""
    try:
        return await main
    finally:
        _ignore_stop_signals()


def _ignore_stop_signals() -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
        # asyncio's record of its handler goes while its self-pipe is still open; removing
        # it puts the default disposition back, which is ignored again at once
        loop.remove_signal_handler(signum)
        signal.signal(signum, signal.SIG_IGN)
