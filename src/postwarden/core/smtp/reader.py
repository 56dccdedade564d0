"""The client's asyncio protocol: bytes in, complete SMTP replies out, in order.

A :class:`asyncio.BufferedProtocol` rather than streams, because the worker's throughput
rests on it (bench/smtp_client.py):

* the transport reads into one buffer allocated per connection. With a plain Protocol
  (and with streams) asyncio allocates a 256 KiB bytes object for every read and shrinks
  it: mmap, mremap and munmap, three system calls per read, two reads per message (seen
  with ``strace -c``);
* replies are parsed as data arrives, and a reply already buffered is returned without
  touching the event loop (with PIPELINING the replies to MAIL, RCPT and DATA usually
  come in one segment);
* a read that must wait costs one future; one timer per connection bounds it.

``loop.start_tls`` wraps this same protocol for STARTTLS (Python 3.11's SSL transport
feeds buffered protocols too).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from typing import Final

from postwarden.core.smtp.errors import ProtocolError, SmtpError, closed, timed_out, translate
from postwarden.core.smtp.reply import Reply
from postwarden.core.smtp.stages import SmtpStage

#: RFC 5321 §4.5.3.1.5 limits a reply line to 512 octets; servers exceed it in the wild
#: (long EHLO lines, Exchange's diagnostic text), so only a runaway peer trips this.
MAX_LINE: Final = 64 * 1024
#: bytes read at most per system call; replies are small, a longer burst takes two reads
READ_BUFFER: Final = 16 * 1024


#: Servers repeat the same few single-line replies ("250 2.1.0 Ok", "354 End data with
#: <CR><LF>.<CR><LF>") millions of times; Reply is immutable, so one parse serves all
#: sessions. Bounded; replies that differ every time (queue ids) stop being added once full.
_CACHE: dict[bytes, Reply] = {}
_CACHE_SIZE: Final = 512


def _is_reply_line(line: bytes) -> bool:
    return len(line) >= 3 and line[:3].isdigit() and (len(line) == 3 or line[3] in b" -")


class ReplyReader(asyncio.BufferedProtocol):
    """Parses replies; :meth:`next_reply` hands them out one at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._view = memoryview(bytearray(READ_BUFFER))
        self.transport: asyncio.Transport | None = None
        self._buf = b""
        self._pending: list[str] = []
        self._replies: deque[Reply] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._garbage: str | None = None
        #: the connection is gone (connection_lost was called)
        self.is_lost = False
        self._lost_exc: BaseException | None = None
        self._closed_fut: asyncio.Future[None] = loop.create_future()
        self._write_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._deadline = 0.0

    # -- asyncio.Protocol -----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._view

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(self._view[:nbytes].tobytes())

    def data_received(self, data: bytes) -> None:
        """Take ``data`` as if read from the connection (what :meth:`buffer_updated` does)."""
        if self._buf:
            data = self._buf + data
        *lines, self._buf = data.split(b"\n")
        cache, replies = _CACHE, self._replies
        for line in lines:
            # The hot path: a known single-line reply, looked up with its CR still on.
            if not self._pending and self._garbage is None and (cached := cache.get(line)) is not None:
                replies.append(cached)
            else:
                self._line(line)
        if self._buf and len(self._buf) > MAX_LINE and self._garbage is None:
            self._garbage = f"a reply line longer than {MAX_LINE} bytes"
        if replies or self._garbage is not None:
            self._wake()

    def _line(self, raw: bytes) -> None:
        if self._garbage is not None:
            return
        line = raw[:-1] if raw[-1:] == b"\r" else raw
        if not _is_reply_line(line):
            self._garbage = line.decode("utf-8", "replace")
            return
        self._pending.append(line.decode("utf-8", "replace"))
        if len(line) == 3 or line[3] == 0x20:
            lines, self._pending = self._pending, []
            reply = Reply.from_lines(int(line[:3]), lines)
            if len(lines) == 1 and len(_CACHE) < _CACHE_SIZE:
                _CACHE[raw] = reply
            self._replies.append(reply)

    def eof_received(self) -> bool | None:
        return None  # close our side too: a half-open SMTP session is useless

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.is_lost = True
        self._lost_exc = exc
        self.transport = None
        if not self._closed_fut.done():
            self._closed_fut.set_result(None)
        self._wake()
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)

    # -- for the session -------------------------------------------------------------

    @property
    def write_paused(self) -> bool:
        """The transport's buffer is over its high-water mark (see :meth:`drain`)."""
        return self._write_paused

    def has_pending(self) -> bool:
        """True when bytes or replies arrived that nobody asked for yet."""
        return bool(self._buf or self._pending or self._replies or self._garbage is not None)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def next_reply(self, stage: SmtpStage, timeout: float) -> Reply:
        """The next complete reply, waiting at most ``timeout`` seconds for it.

        Raises :class:`ProtocolError` (not SMTP: the offending line is the detail),
        the stage's timeout error (:class:`NoGreeting` at GREETING, else
        :class:`ReplyTimeout`), or the stage's "closed" error when the connection ended.
        """
        if self._replies:
            return self._replies.popleft()
        if self._garbage is None and not self.is_lost:
            await self._wait(timeout)
        if self._replies:
            return self._replies.popleft()
        raise self._failure(stage, timeout)

    async def read_many(
        self, stages: Sequence[SmtpStage], timeout: float
    ) -> tuple[list[Reply], SmtpError | None]:
        """One reply per stage, in order; each wait bounded by ``timeout``. Returns the
        replies and None, or the replies that came and the error that stopped the rest
        (as :meth:`next_reply` would raise it) so the caller can quote a 421 that
        preceded a close."""
        missing = len(stages)
        replies: list[Reply] = []
        queue = self._replies
        while True:
            while queue and missing:
                replies.append(queue.popleft())
                missing -= 1
            if not missing:
                return replies, None
            if self._garbage is not None or self.is_lost:
                break
            await self._wait(timeout)
            if not queue and self._garbage is None and not self.is_lost:
                break  # the timer woke us: nothing came in time
        return replies, self._failure(stages[len(replies)], timeout)

    async def _wait(self, timeout: float) -> None:
        waiter = self._loop.create_future()
        self._waiter = waiter
        self._arm(self._loop.time() + timeout)
        try:
            await waiter
        finally:
            self._waiter = None

    # One timer per connection, re-armed lazily: a reply usually comes within a
    # millisecond while the timeout is 20 s, so a timer per read (call_later + cancel,
    # ~2 heap operations) would be pure overhead on the worker's hot path.

    def _arm(self, deadline: float) -> None:
        self._deadline = deadline
        if self._timer is None or deadline < self._timer.when():
            if self._timer is not None:
                self._timer.cancel()
            self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._loop.time() >= self._deadline:
            waiter.set_result(None)
        else:
            self._timer = self._loop.call_at(self._deadline, self._on_timer)

    def _failure(self, stage: SmtpStage, timeout: float) -> SmtpError:
        if self._garbage is not None:
            return ProtocolError(stage, detail=self._garbage)
        if self.is_lost:
            if self._lost_exc is not None:
                return translate(self._lost_exc, stage) or closed(stage, self._lost_exc)
            return closed(stage)
        return timed_out(stage, f"no reply within {timeout:g} s")

    async def drain(self, stage: SmtpStage, timeout: float) -> None:
        """Wait while the transport's buffer is over its high-water mark. Each wait is
        bounded by ``timeout``: progress, not the whole transfer, is what is timed."""
        while self._write_paused and not self.is_lost:
            self._drain_waiter = self._loop.create_future()
            timer = self._loop.call_later(timeout, _release, self._drain_waiter)
            try:
                await self._drain_waiter
            finally:
                timer.cancel()
            if self._write_paused and not self.is_lost:
                raise timed_out(stage, f"no progress sending within {timeout:g} s")
        if self.is_lost:
            raise self._failure(stage, timeout)

    async def wait_closed(self, timeout: float) -> None:
        """Wait (at most ``timeout``) until the connection is gone; never raises."""
        if not self._closed_fut.done():
            await asyncio.wait([self._closed_fut], timeout=timeout)


def _release(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
