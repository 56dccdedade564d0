"""The ``smtp`` transport: the core SMTP session (PIPELINING where offered) over a pool
of persistent connections, with DKIM signing when ``DKIM_*`` is set.

Connections are reused (zulip's PersistentSMTPEmailBackend): a connection idle longer
than :data:`IDLE_CHECK` gets a NOOP before it carries mail, one older than
:data:`MAX_LIFETIME` is closed (servers drop long sessions, and a fresh one picks up DNS
and certificate changes), and after a failed connect the transport does not hammer the
server: for a backoff window it answers at once with the same failure, which the retry
policy defers like the original.

Several deliveries go in one ``send_many`` call on one connection, each message's content
written together with the next one's envelope (RFC 2920 §3.1: one round trip a message).

Results, per recipient: the RCPT reply for refusals, the end-of-data reply (with the
server's queue id) for acceptances, and a DATA refusal for every accepted recipient.
A failure before the envelope (connect, TLS, AUTH) applies to all recipients.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Final

from postwarden.core.config.model import Settings
from postwarden.core.dkim import Signer, UnsignableMessage
from postwarden.core.smtp.errors import (
    DataRefused,
    NetworkError,
    RecipientsRefused,
    SmtpError,
    failure_text,
)
from postwarden.core.smtp.model import Endpoint, SendResult, SmtpOutgoing
from postwarden.core.smtp.reply import Reply
from postwarden.core.smtp.session import SmtpSession
from postwarden.core.smtp.stages import SmtpStage
from postwarden.core.smtp.transcript import Transcript
from postwarden.transports.base import MESSAGE_STAGE, Outcome, RecipientResult, TransportDelivery

#: seconds a connection may sit idle before it is checked with NOOP
IDLE_CHECK: Final = 30.0
#: seconds after which a connection is closed instead of reused
MAX_LIFETIME: Final = 300.0
#: messages one connection carries before it is renewed (Postfix's smtp_connection_reuse_count
#: plays the same role on the other side)
MAX_MESSAGES: Final = 10_000
#: reconnect backoff after a failed connect: first and longest wait, seconds
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 30.0
#: RFC 5321 4.5.3.1.8: a server must accept at least 100 recipients per transaction
DEFAULT_MAX_RECIPIENTS: Final = 100

SessionFactory = Callable[[Endpoint], SmtpSession]
#: what the session says about one message
SessionOutcome = SendResult | SmtpError


@dataclass(slots=True)
class _Pooled:
    session: SmtpSession
    last_used: float = field(default_factory=time.monotonic)


class SmtpTransport:
    """A :class:`~postwarden.transports.base.Transport` over SMTP."""

    name = "smtp"
    batches = True
    needs_parts = False
    takes_return_paths = True

    def __init__(
        self,
        settings: Settings,
        *,
        session_factory: SessionFactory | None = None,
        transcript: Transcript | None = None,
    ) -> None:
        """Raises ValueError (SMTP_HOST unset) or DkimKeyError: configuration errors."""
        self.endpoint = Endpoint.from_settings(settings.smtp)
        self.server: tuple[str, int] | None = (self.endpoint.host, self.endpoint.port)
        self.concurrency = max(1, settings.delivery.smtp_connections)
        cap = settings.delivery.max_recipients_per_message
        self.max_recipients = cap if cap > 0 else DEFAULT_MAX_RECIPIENTS
        from_domain = (settings.sending.from_address or "").rpartition("@")[2]
        self.signer = Signer.from_settings(settings.signing, from_domain) if from_domain else None
        self.transcript = transcript
        self._factory = session_factory or (lambda e: SmtpSession(e, transcript=self.transcript))
        self._idle: list[_Pooled] = []
        self._slots = asyncio.Semaphore(self.concurrency)
        self._failures = 0
        self._blocked_until = 0.0
        self._last_failure: SmtpError | None = None
        self._closed = False

    async def send(self, delivery: TransportDelivery) -> Sequence[RecipientResult]:
        return (await self.send_many([delivery]))[0]

    async def send_many(self, deliveries: Sequence[TransportDelivery]) -> list[list[RecipientResult]]:
        """Send ``deliveries`` in order on one connection of the pool, one round trip each
        (``SmtpSession.send_many``); one list of results per delivery."""
        started = time.perf_counter()
        raws: list[bytes | UnsignableMessage] = [d.raw for d in deliveries]
        signer = self.signer
        if signer is not None:
            # RSA signing is the costliest step a message takes here (docs/performance.md): off the event loop
            raws = await asyncio.to_thread(_sign_all, signer, deliveries)
        outgoing = [
            SmtpOutgoing(d.envelope_from, d.recipients, raw, smtputf8=d.needs_smtputf8)
            for d, raw in zip(deliveries, raws, strict=True)
            if isinstance(raw, bytes)
        ]
        outcomes: Iterator[SessionOutcome] = iter(())
        if outgoing:
            async with self._slots:
                outcomes = iter(await self._on_pool(outgoing))
        # one duration for the batch (the messages shared the connection and its round
        # trips); one rendering of a reply that many messages got
        ms, words = _ms(started), _Words()
        return [
            _results(d.recipients, next(outcomes), ms, words)
            if isinstance(raw, bytes)
            else [_unsendable(a, raw, ms) for a in d.recipients]
            for d, raw in zip(deliveries, raws, strict=True)
        ]

    async def _on_pool(self, outgoing: list[SmtpOutgoing]) -> list[SessionOutcome]:
        try:
            pooled, _ = await self._checkout(fresh=False)
        except SmtpError as exc:
            return [exc] * len(outgoing)
        outcomes = await self._batch(pooled, outgoing)
        # What never got as far as the server (cut at MAIL: nothing of it was accepted)
        # goes once more, on a new connection: a reused connection the server dropped while
        # it idled fails at the first write, and a batch cut short by one message's trouble
        # (a reply that never came, a hang-up) leaves the messages behind it unsent, which
        # must not pay for it with an attempt and a retry wait (tests/reliability).
        again = [
            i for i, o in enumerate(outcomes) if isinstance(o, NetworkError) and o.stage is SmtpStage.MAIL
        ]
        if again:
            try:
                fresh, _ = await self._checkout(fresh=True)
            except SmtpError as exc:
                return [exc if i in again else o for i, o in enumerate(outcomes)]
            retried = await self._batch(fresh, [outgoing[i] for i in again])
            for i, outcome in zip(again, retried, strict=True):
                outcomes[i] = outcome
        return outcomes

    async def _batch(self, pooled: _Pooled, outgoing: list[SmtpOutgoing]) -> list[SessionOutcome]:
        try:
            return await pooled.session.send_many(outgoing)
        finally:
            self._checkin(pooled)

    async def _checkout(self, *, fresh: bool) -> tuple[_Pooled, bool]:
        """A ready session and whether it was reused. Raises SmtpError when one cannot be opened."""
        now = time.monotonic()
        while self._idle and not fresh:
            pooled = self._idle.pop()
            age = now - pooled.session.opened_at
            if (
                age > MAX_LIFETIME
                or pooled.session.messages_sent >= MAX_MESSAGES
                or not pooled.session.is_connected
            ):
                await _close(pooled.session)
                continue
            if now - pooled.last_used > IDLE_CHECK:
                try:
                    await pooled.session.noop()
                except SmtpError:
                    pooled.session.abort()
                    continue
            return pooled, True
        return _Pooled(await self._open()), False

    async def _open(self) -> SmtpSession:
        if self._last_failure is not None and time.monotonic() < self._blocked_until:
            raise self._last_failure
        session = self._factory(self.endpoint)
        try:
            await session.open()
        except SmtpError as exc:
            self._failures += 1
            self._last_failure = exc
            self._blocked_until = time.monotonic() + min(
                BACKOFF_MAX, BACKOFF_FIRST * 2 ** (self._failures - 1)
            )
            raise
        self._failures, self._last_failure = 0, None
        return session

    def _checkin(self, pooled: _Pooled) -> None:
        if self._closed or not pooled.session.is_connected:
            pooled.session.abort()
            return
        pooled.last_used = time.monotonic()
        self._idle.append(pooled)

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        await asyncio.gather(*(_close(p.session) for p in idle), return_exceptions=True)


async def _close(session: SmtpSession) -> None:
    await session.quit()


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


class _Words:
    """``str(reply)``, rendered once per reply object: a server answers a batch with
    replies the session's reader shares (``250 2.0.0 Ok``), and a result needs their words."""

    __slots__ = ("_reply", "_text")

    def __init__(self) -> None:
        self._reply: Reply | None = None
        self._text = ""

    def __call__(self, reply: Reply | None) -> str:
        if reply is None:
            return ""
        if reply is not self._reply:
            self._reply, self._text = reply, str(reply)
        return self._text


def _results(
    recipients: Sequence[str], outcome: SendResult | SmtpError, ms: int, words: _Words
) -> list[RecipientResult]:
    if isinstance(outcome, RecipientsRefused):
        return [_refused(a, outcome.replies.get(a), outcome, ms) for a in recipients]
    if isinstance(outcome, DataRefused):
        return [
            _refused(a, outcome.refused[a], None, ms) if a in outcome.refused else _failed(a, outcome, ms)
            for a in recipients
        ]
    if isinstance(outcome, SmtpError):
        return [_failed(a, outcome, ms) for a in recipients]
    reply, queue_id = outcome.data_reply, outcome.queue_id or ""
    detail = words(reply)
    accepted = outcome.accepted
    return [
        RecipientResult(
            address, Outcome.SENT, _DATA, reply=reply, detail=detail, queue_id=queue_id, duration_ms=ms
        )
        if address in accepted
        else _refused(address, outcome.refused.get(address), None, ms)
        for address in recipients
    ]


_DATA: Final = SmtpStage.DATA.value


def _refused(address: str, reply: Reply | None, error: SmtpError | None, ms: int) -> RecipientResult:
    detail = str(reply) if reply is not None else (error.detail if error else "refused at RCPT")
    return RecipientResult(
        address, Outcome.FAILED, SmtpStage.RCPT.value, reply=reply, detail=detail, duration_ms=ms
    )


def _failed(address: str, error: SmtpError, ms: int) -> RecipientResult:
    return RecipientResult(
        address,
        Outcome.FAILED,
        error.stage.value,
        reply=error.reply,
        detail=failure_text(error),
        duration_ms=ms,
    )


def _sign_all(signer: Signer, deliveries: Sequence[TransportDelivery]) -> list[bytes | UnsignableMessage]:
    """Each delivery's bytes, signed; bytes shared by several deliveries (one message to
    several recipients, each with its own return path) are signed once: the signature
    covers the header and body, not the envelope."""
    done: dict[int, bytes | UnsignableMessage] = {}
    out = []
    for d in deliveries:
        found = done.get(id(d.raw))
        if found is None:
            found = done[id(d.raw)] = _signed(signer, d.raw)
        out.append(found)
    return out


def _signed(signer: Signer, raw: bytes) -> bytes | UnsignableMessage:
    """``raw`` signed, or why it cannot be: one such message must not fail its batch."""
    try:
        return signer.sign(raw)
    except UnsignableMessage as exc:
        return exc


def _unsendable(address: str, error: UnsignableMessage, ms: int) -> RecipientResult:
    return RecipientResult(
        address,
        Outcome.FAILED,
        MESSAGE_STAGE,
        detail=f"not sent: {error}; the message is malformed",
        duration_ms=ms,
        refused_before_sending=True,
    )


def build(settings: Settings) -> SmtpTransport:
    return SmtpTransport(settings)
