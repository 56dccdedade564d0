"""The wire under a session: writing commands, reading replies, recording steps and the
transcript, the small commands (RSET, NOOP, QUIT) and closing.

:class:`~postwarden.core.smtp.session.SmtpSession` builds on this; nothing else should.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ssl
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Final, Literal

from postwarden.core.secrets import MASK
from postwarden.core.smtp import auth
from postwarden.core.smtp.envelope import Capabilities
from postwarden.core.smtp.errors import (
    DataRefused,
    RecipientsRefused,
    ServerDisconnected,
    SmtpError,
    TokenFailed,
    error_for_reply,
    translate,
)
from postwarden.core.smtp.model import Endpoint, Resolver, Step, system_resolver
from postwarden.core.smtp.reader import ReplyReader
from postwarden.core.smtp.reply import Reply
from postwarden.core.smtp.stages import SmtpStage
from postwarden.core.smtp.tls import TlsInfo
from postwarden.core.smtp.transcript import Transcript

#: the QUIT reply is a courtesy; never wait long for it
_QUIT_WAIT: Final = 2.0

S = SmtpStage


def _ok(reply: Reply) -> bool:
    return 200 <= reply.code < 300


class _StepTimer:
    """Times one step, records it on the session, maps what it raises to the family."""

    __slots__ = ("_session", "_stage", "_start", "detail")

    def __init__(self, session: Connection, stage: SmtpStage) -> None:
        self._session, self._stage, self.detail = session, stage, ""

    def __enter__(self) -> _StepTimer:
        self._start = time.perf_counter()
        if self._session.on_step is not None:
            self._session.on_step(self._stage, None)
        return self

    def __exit__(
        self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Literal[False]:
        ms = round((time.perf_counter() - self._start) * 1000, 3)
        if exc is None:
            self._session.record(Step(self._stage, True, ms, self.detail))
            return False
        mapped = translate(exc, self._stage) if isinstance(exc, Exception) else None
        if mapped is None:
            return False
        stage = mapped.step_stage if isinstance(mapped, TokenFailed) else mapped.stage
        self._session.record(Step(stage, False, ms, mapped.detail))
        if mapped is not exc:
            raise mapped from exc
        return False


class Connection:
    """The state and the wire of one session (see :class:`SmtpSession` for the API).

    ``steps`` lists the steps of ``open()`` always, and those of every transaction when
    a transcript is attached or ``record_steps=True`` (the worker's hot path records none).
    ``loopback`` decides which peer addresses may receive credentials in clear.
    ``on_step(stage, None)`` is called when a step starts and ``on_step(stage, step)``
    when it ends, so a page can show the stages as they happen.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        resolver: Resolver | None = None,
        transcript: Transcript | None = None,
        ssl_context: ssl.SSLContext | None = None,
        loopback: Callable[[str], bool] = auth.is_loopback,
        record_steps: bool | None = None,
        on_step: Callable[[SmtpStage, Step | None], None] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.on_step = on_step
        self.transcript = transcript
        self.steps: list[Step] = []
        self.extensions: dict[str, str] = {}
        self.tls: TlsInfo | None = None
        self.auth_mechanism: str | None = None
        self.peer: tuple[str, int] | None = None
        self.greeting: Reply | None = None
        self.opened_at = 0.0
        self.messages_sent = 0
        self._resolver: Resolver = resolver or system_resolver
        self._ssl_context = ssl_context
        self._loopback = loopback
        self._trace = record_steps if record_steps is not None else transcript is not None
        self._timeout = endpoint.timeout
        self._caps = Capabilities()
        self._reader: ReplyReader | None = None
        self._transport: asyncio.Transport | None = None

    def __repr__(self) -> str:
        e = self.endpoint
        return f"<SmtpSession {e.host}:{e.port} {e.security.value} connected={self.is_connected}>"

    @property
    def is_connected(self) -> bool:
        return self._transport is not None and self._reader is not None and not self._reader.is_lost

    def _step(self, stage: SmtpStage) -> _StepTimer:
        return _StepTimer(self, stage)

    def record(self, step: Step) -> None:
        """Add a finished step (and tell ``on_step``)."""
        self.steps.append(step)
        if self.on_step is not None:
            self.on_step(step.stage, step)

    # -- the wire --------------------------------------------------------------------

    def _write(self, data: bytes, stage: SmtpStage) -> None:
        transport = self._transport
        if transport is None or self._reader is None or self._reader.is_lost:
            if self._reader is None:
                raise RuntimeError("open() the session first")
            raise error_for_closed(stage)
        transport.write(data)

    async def _read(self, stage: SmtpStage) -> Reply:
        assert self._reader is not None
        reply = await self._reader.next_reply(stage, self._timeout)
        if self.transcript is not None:
            self.transcript.server(reply)
        return reply

    async def _command(self, stage: SmtpStage, line: str) -> Reply:
        self._write(line.encode() + b"\r\n", stage)
        if self.transcript is not None:
            self.transcript.client(line)
        return await self._read(stage)

    async def exchange(
        self, line: bytes, *, shown: str | None, stage: SmtpStage, challenge_secret: bool = True
    ) -> Reply:
        """Send one raw command line (with CRLF) and return its reply. The transcript
        shows ``shown`` (a mask when None), and a mask for 334 challenges unless
        ``challenge_secret`` is False (an OAuth2 error challenge is the server's words,
        not a secret): AUTH uses it."""
        self._write(line, stage)
        if self.transcript is not None:
            self.transcript.client(shown if shown is not None else MASK, secret=shown is None)
        assert self._reader is not None
        reply = await self._reader.next_reply(stage, self._timeout)
        if shown is None or MASK in shown:  # a credentials line: never let the reply quote it
            reply = _masked(reply, auth.secrets_in(line))
        if self.transcript is not None:
            self.transcript.server(reply, secret=challenge_secret and reply.code == 334)
        return reply

    async def _batch(
        self, lines: list[str], stages: list[SmtpStage], recipients: Sequence[str]
    ) -> list[Reply]:
        """Send ``lines`` in one write and read one reply per stage, in order. With
        ``record_steps`` each stage becomes a step timed from the write to its reply.

        If the connection drops part-way, the first refusal already read (typically the
        421 the server sent before closing) explains it better than the drop: that is
        what is raised, after closing our side.
        """
        self._write(("\r\n".join(lines) + "\r\n").encode(), stages[0])
        if self.transcript is not None:
            for line in lines:
                self.transcript.client(line)
        assert self._reader is not None
        started = time.perf_counter() if self._trace else 0.0
        replies, cut = await self._reader.read_many(stages, self._timeout)
        if self.transcript is not None:
            for reply in replies:
                self.transcript.server(reply)
        if self._trace:
            ms = round((time.perf_counter() - started) * 1000, 3)
            self.steps += [
                Step(st, r.is_positive, ms, str(r)) for st, r in zip(stages, replies, strict=False)
            ]
            if cut is not None:
                self.steps.append(Step(cut.stage, False, ms, cut.detail))
        if cut is not None:
            self.abort()
            explained = _explain_cut(stages, replies, recipients)
            if explained is None:
                raise cut
            raise explained from cut
        return replies

    def _note(self, stage: SmtpStage, reply: Reply, started: float) -> None:
        ms = round((time.perf_counter() - started) * 1000, 3)
        self.steps.append(Step(stage, reply.is_positive, ms, str(reply)))

    def _refusal(self, stage: SmtpStage, reply: Reply, refused: dict[str, Reply] | None = None) -> SmtpError:
        if reply.code == 421:  # RFC 5321 §3.8: the server is closing the channel
            self.abort()
        error = error_for_reply(stage, reply)
        if isinstance(error, DataRefused) and refused:
            error.refused = dict(refused)
        return error

    async def _reset_quietly(self) -> None:
        """RSET after a refusal left a transaction open; on any trouble, close instead."""
        if not self.is_connected:
            return
        try:
            reply = await self._command(S.RSET, "RSET")
        except SmtpError:
            reply = None
        if reply is None or not _ok(reply):
            self.abort()

    # -- small commands and the end ------------------------------------------------------

    async def _simple(self, stage: SmtpStage, line: str) -> Reply:
        with self._step(stage) if self._trace else _NO_STEP:
            try:
                reply = await self._command(stage, line)
            except SmtpError:
                self.abort()
                raise
            if not _ok(reply):
                raise self._refusal(stage, reply)
        return reply

    async def rset(self) -> Reply:
        """RSET; raises :class:`CommandRefused` on a negative reply."""
        return await self._simple(S.RSET, "RSET")

    async def noop(self) -> Reply:
        """NOOP, the cheap "is this connection still alive" check before reuse."""
        return await self._simple(S.NOOP, "NOOP")

    async def quit(self) -> None:
        """QUIT and close. Never raises: the mail is already sent or not, whatever QUIT gets."""
        if not self.is_connected:
            self.abort()
            return
        assert self._transport is not None
        assert self._reader is not None
        try:
            with self._step(S.QUIT) if self._trace else _NO_STEP:
                self._write(b"QUIT\r\n", S.QUIT)
                if self.transcript is not None:
                    self.transcript.client("QUIT")
                reply = await self._reader.next_reply(S.QUIT, min(self._timeout, _QUIT_WAIT))
                if self.transcript is not None:
                    self.transcript.server(reply)
        except SmtpError:
            pass
        self._transport.close()
        await self._reader.wait_closed(min(self._timeout, _QUIT_WAIT))
        self.abort()

    def abort(self) -> None:
        """Drop the connection at once (no QUIT). Safe to call at any time."""
        transport, self._transport = self._transport, None
        if transport is not None and not transport.is_closing():
            transport.abort()


class _NoStep:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> Literal[False]:
        return False


_NO_STEP: Final = _NoStep()


def error_for_closed(stage: SmtpStage) -> SmtpError:
    return ServerDisconnected(stage, detail="the session is not connected")


def _explain_cut(
    stages: list[SmtpStage], replies: list[Reply], recipients: Sequence[str]
) -> SmtpError | None:
    for index, reply in enumerate(replies):
        if reply.is_positive:
            continue
        stage = stages[index]
        if stage is S.RCPT:
            return RecipientsRefused({recipients[stages[:index].count(S.RCPT)]: reply})
        return error_for_reply(stage, reply)
    return None


def _masked(reply: Reply, secrets: Sequence[str]) -> Reply:
    """``reply`` with every one of ``secrets`` in its text replaced by the mask."""
    found = [
        secret for secret in secrets if secret in reply.text or any(secret in line for line in reply.lines)
    ]
    if not found:
        return reply

    def mask(text: str) -> str:
        for secret in sorted(found, key=len, reverse=True):
            text = text.replace(secret, MASK)
        return text

    return dataclasses.replace(reply, text=mask(reply.text), lines=tuple(mask(line) for line in reply.lines))
