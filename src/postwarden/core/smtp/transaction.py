"""Message transactions: MAIL, RCPT… and DATA or RSET, pipelined when the server allows.

This is the worker's hot path (bench/smtp_client.py): per message one write for the
envelope and one for the content, replies taken from the reader's buffer without a
trip through the event loop when they are already there, and no step or transcript
work unless one was asked for.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from postwarden.core.smtp.connection import Connection, S, _ok
from postwarden.core.smtp.envelope import check_addresses, mail_parameters, prepare_content
from postwarden.core.smtp.errors import RecipientsRefused, SmtpError
from postwarden.core.smtp.model import SendResult
from postwarden.core.smtp.queueid import parse_queue_id
from postwarden.core.smtp.reply import Reply
from postwarden.core.smtp.stages import SmtpStage


class Transacting(Connection):
    """Adds :meth:`send` and :meth:`probe` to a connection."""

    async def _envelope(
        self, sender: str, recipients: Sequence[str], params: str, last: str, last_stage: SmtpStage
    ) -> tuple[Reply, dict[str, Reply], dict[str, Reply], Reply | None]:
        """MAIL, every RCPT and ``last`` (DATA or RSET): one write with PIPELINING, else
        one command at a time, stopping where the transaction cannot go on.
        Returns the MAIL reply, accepted and refused recipients, and ``last``'s reply."""
        mail_line = f"MAIL FROM:<{sender}>{params}"
        rcpt_lines = [f"RCPT TO:<{r}>" for r in recipients]
        last_reply: Reply | None
        if self._caps.pipelining:
            stages = [S.MAIL, *([S.RCPT] * len(recipients)), last_stage]
            replies = await self._batch([mail_line, *rcpt_lines, last], stages, recipients)
            mail, rcpt_replies, last_reply = replies[0], replies[1:-1], replies[-1]
        else:
            mail = (await self._batch([mail_line], [S.MAIL], ()))[0]
            if not _ok(mail):
                return mail, {}, {}, None
            rcpt_replies = []
            for line, address in zip(rcpt_lines, recipients, strict=True):
                rcpt_replies += await self._batch([line], [S.RCPT], (address,))
            go_on = last_stage is S.RSET or any(_ok(r) for r in rcpt_replies)
            last_reply = (await self._batch([last], [last_stage], ()))[0] if go_on else None
        accepted: dict[str, Reply] = {}
        refused: dict[str, Reply] = {}
        for address, reply in zip(recipients, rcpt_replies, strict=True):
            (accepted if _ok(reply) else refused)[address] = reply
        return mail, accepted, refused, last_reply

    async def send(
        self, sender: str, recipients: Sequence[str], data: bytes, *, smtputf8: bool = False
    ) -> SendResult:
        """Send one message (RFC 5322 bytes; line ends normalized, dots stuffed here).

        Recipients refused while others are accepted are in ``refused``; the message
        goes to the rest. Raises :class:`SenderRefused`, :class:`RecipientsRefused`
        (all refused), :class:`DataRefused`, :class:`MessageTooLarge` (before sending,
        when over the advertised SIZE), :class:`SmtpUtf8Unavailable`, :class:`AuthRequired`,
        or a connection-level error (then the session is closed). Raises ValueError for
        an address with a line break or angle bracket, or no recipients.
        """
        utf8 = check_addresses(sender, recipients)
        size, wire = prepare_content(data)
        params = mail_parameters(
            self._caps, size=size, eight_bit=not data.isascii(), utf8_needed=utf8, utf8_asked=smtputf8
        )
        mail, accepted, refused, data_cmd = await self._envelope(sender, recipients, params, "DATA", S.DATA)
        if not _ok(mail):
            raise self._refusal(S.MAIL, mail)
        if not accepted:
            if data_cmd is not None and data_cmd.code == 354:  # a server that should have said 554
                await self._finish_empty()
            await self._reset_quietly()
            raise RecipientsRefused(refused)
        assert data_cmd is not None
        if data_cmd.code != 354:
            await self._reset_quietly()
            raise self._refusal(S.DATA, data_cmd, refused)
        final = await self._content(wire, size)
        if not _ok(final):
            raise self._refusal(S.DATA, final, refused)
        self.messages_sent += 1
        return SendResult(accepted, refused, final, parse_queue_id(final))

    async def _content(self, wire: bytes, size: int) -> Reply:
        assert self._reader is not None
        self._write(wire, S.DATA)
        if self.transcript is not None:
            self.transcript.client_data(size)
        started = time.perf_counter() if self._trace else 0.0
        try:
            if self._reader.write_paused:  # a large message on a slow link
                await self._reader.drain(S.DATA, self._timeout)
            reply = await self._read(S.DATA)
        except SmtpError:
            self.abort()
            raise
        if self._trace:
            self._note(S.DATA, reply, started)
        return reply

    async def _finish_empty(self) -> None:
        self._write(b".\r\n", S.DATA)
        try:
            await self._read(S.DATA)
        except SmtpError:
            self.abort()

    async def probe(self, sender: str, recipients: Sequence[str], *, size: int | None = None) -> SendResult:
        """MAIL and RCPT, then RSET: proves the server would take the mail, sends none.

        ``size`` is declared as ``SIZE=`` in MAIL FROM (RFC 1870) where the server
        offers SIZE, so that a server checking it refuses here as it would a real message.
        Raises :class:`SenderRefused` or :class:`RecipientsRefused` (all refused) as
        :meth:`send` does, and :class:`MessageTooLarge` before sending anything when
        ``size`` exceeds the advertised limit; partial refusals are in the result.
        """
        utf8 = check_addresses(sender, recipients)
        params = mail_parameters(self._caps, size=size, eight_bit=False, utf8_needed=utf8, utf8_asked=False)
        mail, accepted, refused, reset = await self._envelope(sender, recipients, params, "RSET", S.RSET)
        if reset is not None and not _ok(reset):
            self.abort()
        if not _ok(mail):
            raise self._refusal(S.MAIL, mail)
        if not accepted:
            raise RecipientsRefused(refused)
        return SendResult(accepted, refused)
