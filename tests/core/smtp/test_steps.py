"""What the doctor shows: the steps taken, each timed, and the transcript in order."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from postwarden.core.config.model import Security
from postwarden.core.secrets import Secret
from postwarden.core.smtp.errors import RecipientsRefused
from postwarden.core.smtp.session import Endpoint, SmtpSession
from postwarden.core.smtp.stages import SmtpStage
from postwarden.core.smtp.transcript import Transcript
from tests.core.smtp.support import PASSWORD, USER, run
from tests.smtpd import SmtpServer

MESSAGE = b"Subject: hello\r\n\r\nbody\r\n"
S = SmtpStage


def test_it_lists_every_step_of_a_full_session(
    smtpd_factory: Callable[..., SmtpServer], ssl_cert_file: object
) -> None:
    server = smtpd_factory(
        tls="starttls", users={USER: PASSWORD}, data_reply="250 2.0.0 Ok: queued as {queue_id}"
    )
    endpoint = Endpoint(**server.endpoint_args(host="localhost", user=USER, password=Secret(PASSWORD)))

    async def session_with_transcript() -> SmtpSession:
        async with SmtpSession(endpoint, transcript=Transcript()) as session:
            await session.send("from@example.test", ["to@example.test"], MESSAGE)
        return session

    session = run(session_with_transcript())

    assert [(step.stage, step.ok) for step in session.steps] == [
        (S.RESOLVE, True), (S.CONNECT, True), (S.GREETING, True), (S.EHLO, True), (S.STARTTLS, True),
        (S.EHLO, True), (S.AUTH, True), (S.MAIL, True), (S.RCPT, True), (S.DATA, True), (S.DATA, True),
        (S.QUIT, True),
    ]  # fmt: skip
    details = {step.stage: step.detail for step in session.steps}
    assert details[S.CONNECT] == f"connected to 127.0.0.1:{server.port}"
    assert details[S.AUTH] == "authenticated with PLAIN"
    assert details[S.DATA].startswith("250 2.0.0 Ok: queued as Q")
    assert all(step.duration_ms >= 0 for step in session.steps)


def test_it_writes_the_transcript_in_the_order_things_happened(smtpd: SmtpServer) -> None:
    transcript = Transcript()

    async def send() -> None:
        async with SmtpSession(Endpoint(**smtpd.endpoint_args()), transcript=transcript) as session:
            await session.send("from@example.test", ["a@example.test", "b@example.test"], MESSAGE)

    run(send())

    lines = str(transcript).splitlines()
    at = lines.index("C: MAIL FROM:<from@example.test> SIZE=24")
    assert lines[at:] == [
        "C: MAIL FROM:<from@example.test> SIZE=24",
        "C: RCPT TO:<a@example.test>",
        "C: RCPT TO:<b@example.test>",
        "C: DATA",
        "S: 250 OK",
        "S: 250 OK",
        "S: 250 OK",
        "S: 354 End data with <CR><LF>.<CR><LF>",
        "C: [24 bytes of message content]",
        "C: .",
        "S: 250 OK",
        "C: QUIT",
        "S: 221 Bye",
    ]
    assert lines[0] == "S: 220 smtpd.test Python SMTP 1.4.6"
    assert [line.at_ms for line in transcript.lines] == sorted(line.at_ms for line in transcript.lines)


def test_it_records_a_refusal_as_a_failed_step(smtpd: SmtpServer) -> None:
    smtpd.inject("RCPT", "550 5.1.1 <x@example.test>: Recipient address rejected: User unknown")

    async def probe() -> SmtpSession:
        session = SmtpSession(Endpoint(**smtpd.endpoint_args()), record_steps=True)
        await session.open()
        with pytest.raises(RecipientsRefused):
            await session.probe("from@example.test", ["x@example.test"])
        await session.quit()
        return session

    steps = run(probe()).steps

    assert [(s.stage, s.ok, s.detail) for s in steps if s.stage in (S.MAIL, S.RCPT, S.RSET)] == [
        (S.MAIL, True, "250 OK"),
        (S.RCPT, False, "550 5.1.1 <x@example.test>: Recipient address rejected: User unknown"),
        (S.RSET, True, "250 OK"),
    ]


def test_it_records_no_transaction_steps_on_the_hot_path(smtpd: SmtpServer) -> None:
    async def send() -> SmtpSession:
        async with SmtpSession(Endpoint(**smtpd.endpoint_args(security=Security.NONE))) as session:
            for _ in range(3):
                await session.send("from@example.test", ["a@example.test"], MESSAGE)
        return session

    session = run(send())

    assert [s.stage for s in session.steps] == [S.RESOLVE, S.CONNECT, S.GREETING, S.EHLO]
    assert session.messages_sent == 3
