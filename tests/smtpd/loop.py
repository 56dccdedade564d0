"""The thread every test server runs its event loop in, and TLS/reply helpers."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

import trustme

T = TypeVar("T")
#: seconds any setup/teardown call into a server thread may take
THREAD_CALL_TIMEOUT = 10.0


class LoopThread:
    """An event loop running in a daemon thread, for one server."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(THREAD_CALL_TIMEOUT)

    def stop(self) -> None:
        """Cancel what still runs, stop the loop, join the thread. Idempotent."""
        if self.loop.is_closed():
            return

        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=2)

        with contextlib.suppress(Exception):
            self.call(cancel_all())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(THREAD_CALL_TIMEOUT)
        if not self._thread.is_alive():
            self.loop.close()


def server_context(cert: trustme.LeafCert, sni: list[str] | None = None) -> ssl.SSLContext:
    """A server-side context serving ``cert``; SNI names clients send go to ``sni``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    if sni is not None:

        def record(_obj: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
            sni.append(name or "")

        context.sni_callback = record  # type: ignore[assignment]
    return context


def reply_text(reply: str | Sequence[str]) -> str:
    """One reply as sent: lines joined by CRLF (a ``\\n`` in a string separates lines)."""
    lines = reply.splitlines() if isinstance(reply, str) else list(reply)
    return "\r\n".join(lines)
