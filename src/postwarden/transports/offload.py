"""The ``smtp`` transport in a child process, so that a worker uses two cores.

At ten thousand messages a second, a worker's own work (claim, judge, record, log) and
the SMTP conversation each need most of a core, and one Python process runs on one core
at a time. :class:`OffloadedSmtp` is a :class:`~postwarden.transports.base.Transport`
whose ``send_many`` hands the deliveries to a child process running the ordinary
:class:`~postwarden.transports.smtp.SmtpTransport` (pooled pipelining sessions, DKIM) and
returns its per-recipient results. The worker claims, judges, records and logs as before;
a delivery counts as sent only when its results are back and written.

The child (``python -m postwarden.transports.offload``) imports no Django. It talks over
its stdin and stdout in length-prefixed pickles of plain tuples (a delivery is its
envelope and bytes, a result its fields and the server's reply): half a microsecond a
message each way, where pickling the dataclasses costs six.

Depth: the worker runs :attr:`OffloadedSmtp.concurrency` senders, :data:`DEPTH` per
connection (one under a send rate), so the child always holds the next batches while
the worker is busy with the database; the child admits as many batches as it has
connections, in order.

Lifecycle:

* :meth:`OffloadedSmtp.hold` (the worker calls it when told to stop): batches that have
  not got a connection yet come back at once as :class:`NotStarted`, and the worker
  gives them back to the queue; those on a connection finish.
* The child ignores SIGINT and SIGTERM (the worker drains it, then closes it) and exits
  when its stdin closes: a worker killed with SIGKILL takes its child along, which drops
  its sessions mid-transaction; what it held is then as lost as in any dead worker, and
  comes back as theirs does (outbox/worker/loop.py).
* A child that dies fails every batch it held with :class:`ChildGone` (the worker defers
  them: they may or may not have been sent) and the next batch starts a new child, at
  most once per :data:`RESTART_AFTER` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import signal
import struct
import sys
import time
from collections import deque
from collections.abc import Coroutine, Sequence
from typing import Any, Final, TypeVar

from postwarden.core.config.model import Settings
from postwarden.core.replies.reply import Reply
from postwarden.transports.base import Delivery, Outcome, RecipientResult
from postwarden.transports.smtp import SmtpTransport

T = TypeVar("T")

#: batches the worker may hand over per connection (the one sending and the next ones)
DEPTH: Final = 4
#: seconds the child may take to finish what it holds and quit its sessions after close
CLOSE_WAIT: Final = 60.0
#: seconds a new child may take to load its modules and say it is ready
START_WAIT: Final = 60.0
#: seconds after a child died before another is started
RESTART_AFTER: Final = 1.0
_HEADER: Final = struct.Struct("!I")
#: builtin exceptions a send may raise that travel back as themselves
_RAISABLE: Final = {e.__name__: e for e in (ValueError, TypeError, RuntimeError, KeyError)}
#: distinct replies remembered, so results share Reply objects as in-process ones do
_REPLY_CACHE: Final = 512


class NotStarted(Exception):
    """The transport was held before this batch got a connection: nothing of it was sent."""


class ChildGone(RuntimeError):
    """The sending process exited while it held deliveries: they may or may not have
    been sent."""


def frame(payload: Any) -> bytes:
    """One message on the pipe: its length, then its pickle."""
    data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(data)) + data


async def read_frame(reader: asyncio.StreamReader) -> Any:
    """The next message, or None at the end of the stream."""
    try:
        head = await reader.readexactly(_HEADER.size)
        # our own child (or parent) wrote it, over a pipe nobody else holds
        return pickle.loads(await reader.readexactly(_HEADER.unpack(head)[0]))  # noqa: S301
    except asyncio.IncompleteReadError:
        return None


class OffloadedSmtp:
    """The SMTP transport, run in a child process. Raises what :class:`SmtpTransport`
    raises for unusable settings (ValueError, DkimKeyError), here, before any child starts."""

    name = "smtp"

    def __init__(self, settings: Settings) -> None:
        local = SmtpTransport(settings)  # checks the settings and says what they allow
        self.connections = local.concurrency
        # Sender tasks the worker runs: DEPTH per connection, except under a send rate
        # (POSTWARDEN_SEND_RATE): a sender takes its permits before it sends, and a
        # batch waiting here for a connection would go later than its permit, together
        # with the next ones, in a burst above the rate.
        paced = settings.delivery.rate_per_second > 0
        self.concurrency = local.concurrency * (1 if paced else DEPTH)
        self.max_recipients = local.max_recipients
        self._settings = settings
        self._child: asyncio.subprocess.Process | None = None
        self._reading: asyncio.Task[None] | None = None
        self._calls: dict[int, asyncio.Future[tuple[str, Any]]] = {}
        self._next_call = 0
        self._starting = asyncio.Lock()
        self._held = False
        self._died_at = float("-inf")
        self._last_death = ""
        self._replies: dict[tuple[Any, ...], Reply] = {}

    async def ready(self) -> None:
        """Start the child now (the worker calls this before it claims). It takes a
        moment (an interpreter, the SMTP modules), and batches that waited for it would
        go together, with send permits taken before (POSTWARDEN_SEND_RATE). Never raises:
        a child that cannot start fails the first batch instead."""
        with contextlib.suppress(Exception):
            await self._running()

    async def send(self, delivery: Delivery) -> Sequence[RecipientResult]:
        return (await self.send_many([delivery]))[0]

    async def send_many(self, deliveries: Sequence[Delivery]) -> list[list[RecipientResult]]:
        """What :meth:`SmtpTransport.send_many` returns, from the child. Raises
        :class:`NotStarted` after :meth:`hold` for a batch no connection had taken,
        :class:`ChildGone` when the child exits before it answers, and what the child's
        transport raised (ValueError for an unusable address)."""
        if self._held:
            raise NotStarted("the transport is held: the worker is stopping")
        child = await self._running()
        assert child.stdin is not None
        self._next_call += 1
        call = self._next_call
        answer: asyncio.Future[tuple[str, Any]] = asyncio.get_running_loop().create_future()
        self._calls[call] = answer
        envelopes = [(d.envelope_from, d.recipients, d.raw, d.needs_smtputf8) for d in deliveries]
        try:
            child.stdin.write(frame(("send", call, envelopes)))
            kind, payload = await answer
        finally:
            self._calls.pop(call, None)
        if kind == "ok":
            return [[self._result(row) for row in rows] for rows in payload]
        if kind == "unstarted":
            raise NotStarted("the transport was held before a connection took this batch")
        name, text = payload
        if name in _RAISABLE:
            raise _RAISABLE[name](text)
        raise RuntimeError(f"{name}: {text}")

    def hold(self) -> None:
        """Send nothing more that has not started: waiting batches and later ones are
        answered with :class:`NotStarted`."""
        self._held = True
        child = self._child
        if child is not None and child.stdin is not None and child.returncode is None:
            with contextlib.suppress(ConnectionError, RuntimeError):
                child.stdin.write(frame(("hold", 0, None)))

    async def close(self) -> None:
        """Let the child finish what it holds, quit its sessions and exit (bounded)."""
        self._held = True
        child, reading = self._child, self._reading
        self._child = self._reading = None
        if child is None:
            return
        if child.returncode is None and child.stdin is not None:
            with contextlib.suppress(ConnectionError, RuntimeError):
                child.stdin.write(frame(("close", 0, None)))
                await child.stdin.drain()
                child.stdin.close()
        try:
            await asyncio.wait_for(child.wait(), CLOSE_WAIT)
        except TimeoutError:
            child.kill()
            await child.wait()
        if reading is not None:
            await reading

    # -- the child's life --------------------------------------------------------------

    async def _running(self) -> asyncio.subprocess.Process:
        async with self._starting:
            child = self._child
            if child is not None and child.returncode is None and self._reading is not None:
                return child
            if time.monotonic() - self._died_at < RESTART_AFTER:
                raise ChildGone(self._last_death)
            return await self._start()

    async def _start(self) -> asyncio.subprocess.Process:
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "postwarden.transports.offload",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert child.stdin is not None
        assert child.stdout is not None
        child.stdin.write(frame((self._settings, self.connections)))
        # the child says when its modules are loaded and its transport is built
        try:
            hello = await asyncio.wait_for(read_frame(child.stdout), START_WAIT)
        except TimeoutError:
            hello = None
        if hello != (0, "ready", None):
            if child.returncode is None:
                child.kill()
            code = await child.wait()
            self._died_at = time.monotonic()
            self._last_death = f"the SMTP sending process did not start (status {code})"
            raise ChildGone(self._last_death)
        self._child = child
        self._reading = asyncio.get_running_loop().create_task(self._read(child, child.stdout))
        return child

    async def _read(self, child: asyncio.subprocess.Process, stdout: asyncio.StreamReader) -> None:
        while (message := await read_frame(stdout)) is not None:
            call, kind, payload = message
            answer = self._calls.get(call)
            if answer is not None and not answer.done():
                answer.set_result((kind, payload))
        code = await child.wait()
        if self._child is child:  # died on its own, not closed
            self._reading = None
            self._died_at = time.monotonic()
            self._last_death = f"the SMTP sending process exited with status {code}"
        for answer in list(self._calls.values()):
            if not answer.done():
                answer.set_exception(ChildGone(f"the SMTP sending process exited with status {code}"))

    # -- results -----------------------------------------------------------------------

    def _result(self, row: tuple[Any, ...]) -> RecipientResult:
        address, sent, stage, reply, detail, queue_id, ms = row
        return RecipientResult(
            address,
            Outcome.SENT if sent else Outcome.FAILED,
            stage,
            reply=self._reply(reply) if reply is not None else None,
            detail=detail,
            queue_id=queue_id,
            duration_ms=ms,
        )

    def _reply(self, fields: tuple[Any, ...]) -> Reply:
        found = self._replies.get(fields)
        if found is None:
            found = Reply(*fields)
            if len(self._replies) < _REPLY_CACHE:
                self._replies[fields] = found
        return found


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` to completion on a new event loop (the worker's and the child's).
    asyncio's: uvloop was measured and did not pay for the worker (docs/performance.md),
    and it would need core/smtp's reader to accept transports that are not asyncio.Transport."""
    return asyncio.run(main)


# -- the child ---------------------------------------------------------------------------


class _Admission:
    """At most ``slots`` batches on the connections at once, first come first served;
    after :meth:`hold`, those still waiting are turned away."""

    def __init__(self, slots: int) -> None:
        self._free = slots
        self._waiting: deque[asyncio.Future[bool]] = deque()
        self.held = False

    async def enter(self) -> bool:
        if self.held:
            return False
        if self._free > 0:
            self._free -= 1
            return True
        turn: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        return await turn

    def leave(self) -> None:
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():
                turn.set_result(True)
                return
        self._free += 1

    def hold(self) -> None:
        self.held = True
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():
                turn.set_result(False)


def _rows(results: Sequence[RecipientResult]) -> list[tuple[Any, ...]]:
    rows = []
    for r in results:
        reply = r.reply
        fields = (reply.code, reply.enhanced, reply.text, reply.lines) if reply is not None else None
        rows.append(
            (r.address, r.outcome is Outcome.SENT, r.stage, fields, r.detail, r.queue_id, r.duration_ms)
        )
    return rows


async def _serve_one(
    transport: SmtpTransport, admission: _Admission, out: asyncio.StreamWriter, call: int, envelopes: Any
) -> None:
    if not await admission.enter():
        out.write(frame((call, "unstarted", None)))
        return
    try:
        deliveries = [
            Delivery(0, "", "", sender, tuple(recipients), raw, utf8)
            for sender, recipients, raw, utf8 in envelopes
        ]
        answer: tuple[str, Any] = ("ok", [_rows(r) for r in await transport.send_many(deliveries)])
    except Exception as exc:  # a bug or an unusable address: the worker decides what it means
        answer = ("error", (type(exc).__name__, str(exc)))
    finally:
        admission.leave()
    out.write(frame((call, *answer)))


async def _pipes() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Frames come on stdin and go out on a copy of stdout; the process's own stdout
    becomes stderr, so nothing printed can corrupt a frame."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(0, "rb", 0))
    frames_out = os.fdopen(os.dup(1), "wb", 0)
    os.dup2(2, 1)
    write, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, frames_out)
    return reader, asyncio.StreamWriter(write, protocol, None, loop)


async def _serve() -> bool:
    """Serve the worker until it closes the transport (True) or goes away (False)."""
    reader, out = await _pipes()
    first = await read_frame(reader)
    if first is None:
        return False
    settings, connections = first
    transport = SmtpTransport(settings)
    admission = _Admission(connections)
    out.write(frame((0, "ready", None)))
    tasks: set[asyncio.Task[None]] = set()
    while (message := await read_frame(reader)) is not None:
        kind, call, envelopes = message
        if kind == "close":
            await asyncio.gather(*tasks, return_exceptions=True)
            await transport.close()
            with contextlib.suppress(ConnectionError):
                await out.drain()
            return True
        if kind == "hold":
            admission.hold()
            continue
        task = asyncio.get_running_loop().create_task(_serve_one(transport, admission, out, call, envelopes))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    return False


def main() -> None:
    # the worker owns shutdown: Ctrl-C or SIGTERM to the process group must not cut the
    # sessions short while the worker still waits for their results
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if not run_loop(_serve()):
        # The worker is gone (SIGKILL, a crash): nothing sent from now on could be
        # recorded. Exit without a word: the sessions close mid-transaction, and a
        # server keeps no message whose data did not end.
        os._exit(0)


if __name__ == "__main__":
    main()
