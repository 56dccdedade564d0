"""Several messages on one connection, one round trip each (RFC 2920 §3.1).

With PIPELINING, :meth:`send` costs two round trips: MAIL+RCPT+DATA, then the content.
RFC 2920 lets the content open the next group of commands, so :meth:`send_many` writes
each message's content together with the next message's envelope: the server answers
the end of data of one message and the MAIL, RCPT and DATA of the next in one go. Against
a relay a round trip away that doubles what one connection carries; on loopback it saves
system calls and event-loop wake-ups per message (bench/smtp_client.py measures both).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from postwarden.core.smtp.connection import S, _explain_cut, _ok, error_for_closed
from postwarden.core.smtp.envelope import check_addresses, mail_parameters, prepare_content
from postwarden.core.smtp.errors import RecipientsRefused, SmtpError
from postwarden.core.smtp.model import SendResult, SmtpOutgoing
from postwarden.core.smtp.queueid import parse_queue_id
from postwarden.core.smtp.reply import Reply
from postwarden.core.smtp.transaction import Transacting

Outcome = SendResult | SmtpError


@dataclass(slots=True)
class _Prepared:
    size: int
    wire: bytes
    params: str


@dataclass(slots=True)
class _Open:
    """A message whose DATA got 354: its content goes out with the next envelope.
    ``discard``: nobody was accepted (the server should have refused DATA); send the
    bare terminator and keep the refusal already recorded."""

    index: int
    wire: bytes
    size: int
    accepted: dict[str, Reply] = field(default_factory=dict)
    refused: dict[str, Reply] = field(default_factory=dict)
    discard: bool = False


class Batching(Transacting):
    """Adds :meth:`send_many` to the transactions."""

    def _prepare(self, message: SmtpOutgoing) -> _Prepared | SmtpError:
        utf8 = check_addresses(message.sender, message.recipients)
        size, wire = prepare_content(message.data)
        try:
            params = mail_parameters(
                self._caps,
                size=size,
                eight_bit=not message.data.isascii(),
                utf8_needed=utf8,
                utf8_asked=message.smtputf8,
            )
        except SmtpError as refusal:
            return refusal
        return _Prepared(size, wire, params)

    async def send_many(self, messages: Sequence[SmtpOutgoing]) -> list[Outcome]:
        """Send ``messages`` in order on this connection; one outcome per message: its
        :class:`SendResult`, or the :class:`SmtpError` it got (refusals as :meth:`send`
        raises them). After a connection-level error the messages not yet answered get
        that error: they were not delivered. Without PIPELINING this is :meth:`send`
        in a loop.

        Raises ValueError, before anything is sent, for an unusable address.
        """
        prepared = [self._prepare(message) for message in messages]
        results: list[Outcome | None] = [None] * len(messages)
        carry: _Open | None = None
        reset = False
        for index, (message, prep) in enumerate(zip(messages, prepared, strict=True)):
            if isinstance(prep, SmtpError):
                results[index] = prep
            elif not self.is_connected:
                continue  # left None: reported as not delivered below
            elif not self._caps.pipelining:
                results[index] = await self._send_alone(message)
            else:
                carry, reset = await self._round(index, message, prep, carry, reset, results)
        if carry is not None:
            results[carry.index] = await self._last_content(carry, results[carry.index])
        if reset:
            await self._reset_quietly()
        gone = error_for_closed(S.MAIL)
        return [gone if result is None else result for result in results]

    async def _send_alone(self, message: SmtpOutgoing) -> Outcome:
        try:
            return await self.send(
                message.sender, message.recipients, message.data, smtputf8=message.smtputf8
            )
        except SmtpError as error:
            return error

    async def _round(
        self,
        index: int,
        message: SmtpOutgoing,
        prep: _Prepared,
        carry: _Open | None,
        reset: bool,
        results: list[Outcome | None],
    ) -> tuple[_Open | None, bool]:
        """One write: the open message's content, RSET if a refusal left a transaction
        open, and this message's envelope; then their replies, in that order."""
        recipients = message.recipients
        lines = [
            f"MAIL FROM:<{message.sender}>{prep.params}",
            *(f"RCPT TO:<{r}>" for r in recipients),
            "DATA",
        ]
        stages = [S.MAIL, *([S.RCPT] * len(recipients)), S.DATA]
        head = (carry.wire if carry is not None else b"") + (b"RSET\r\n" if reset else b"")
        lead = ([S.DATA] if carry is not None else []) + ([S.RSET] if reset else [])
        self._write(head + ("\r\n".join(lines) + "\r\n").encode(), S.MAIL)
        if self.transcript is not None:
            self._transcribe(carry, reset, lines)
        assert self._reader is not None
        replies, cut = await self._reader.read_many(lead + stages, self._timeout)
        if self.transcript is not None:
            for reply in replies:
                self.transcript.server(reply)
        if carry is not None:
            results[carry.index] = self._finish(carry, replies[0]) if replies else cut
        own = replies[len(lead) :]
        if cut is not None or len(own) < len(stages):
            self.abort()  # the server's last refusal (a 421) says more than the close after it
            results[index] = _explain_cut(stages, own, recipients) or cut or error_for_closed(S.MAIL)
            return None, False
        return self._judge(index, own, recipients, prep, results)

    def _transcribe(self, carry: _Open | None, reset: bool, lines: list[str]) -> None:
        assert self.transcript is not None
        if carry is not None:
            self.transcript.client_data(carry.size)
        if reset:
            self.transcript.client("RSET")
        for line in lines:
            self.transcript.client(line)

    def _judge(
        self,
        index: int,
        own: list[Reply],
        recipients: Sequence[str],
        prep: _Prepared,
        results: list[Outcome | None],
    ) -> tuple[_Open | None, bool]:
        """What this message's envelope replies mean: (the open message, RSET needed)."""
        mail, rcpt_replies, data_cmd = own[0], own[1:-1], own[-1]
        if not _ok(mail):
            results[index] = self._refusal(S.MAIL, mail)
            return None, False
        accepted: dict[str, Reply] = {}
        refused: dict[str, Reply] = {}
        for address, reply in zip(recipients, rcpt_replies, strict=True):
            (accepted if _ok(reply) else refused)[address] = reply
        if not accepted:
            results[index] = RecipientsRefused(refused)
            if data_cmd.code == 354:
                return _Open(index, b".\r\n", 0, discard=True), True
            return None, True
        if data_cmd.code != 354:
            results[index] = self._refusal(S.DATA, data_cmd, refused)
            return None, True
        return _Open(index, prep.wire, prep.size, accepted, refused), False

    def _finish(self, carry: _Open, reply: Reply) -> Outcome | None:
        if carry.discard:
            return RecipientsRefused(carry.refused)
        if not _ok(reply):
            return self._refusal(S.DATA, reply, carry.refused)
        self.messages_sent += 1
        return SendResult(carry.accepted, carry.refused, reply, parse_queue_id(reply))

    async def _last_content(self, carry: _Open, recorded: Outcome | None) -> Outcome | None:
        if not self.is_connected:
            return recorded
        try:
            reply = await self._content(carry.wire, carry.size)
        except SmtpError as error:
            return error
        return self._finish(carry, reply)
