"""The SMTP transport against a real aiosmtpd server: per-recipient results, connection
reuse, reconnects, DKIM signatures that verify."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import dkim
import pytest

from postwarden.core.config.model import DeliverySettings, SigningSettings
from postwarden.core.dkim import generate_key, public_key_of, txt_record
from postwarden.core.secrets import Secret
from postwarden.outbox.retry import RetryPolicy, judge
from postwarden.transports import smtp as smtp_transport
from postwarden.transports.base import Outcome, RecipientResult, TransportDelivery
from postwarden.transports.smtp import SmtpTransport
from tests.factories import make_settings
from tests.outbox import smtpd_helper
from tests.outbox.smtpd_helper import Server

RAW = (
    b"From: Ops <ops@example.com>\r\nTo: alice@example.com\r\nSubject: Hi\r\n"
    b"Message-ID: <m1@example.com>\r\nDate: Mon, 2 Mar 2026 10:00:00 +0000\r\n\r\nHello\r\n.dot line\r\n"
)

#: the recording server fixture, shared with the outbox tests
smtp_server = smtpd_helper.smtp_server


def delivery(*recipients: str, raw: bytes = RAW) -> TransportDelivery:
    return TransportDelivery(
        message_pk=1,
        public_id="m_1",
        message_id="<m1@example.com>",
        envelope_from="ops@example.com",
        recipients=recipients,
        raw=raw,
    )


def send_all(transport: SmtpTransport, *deliveries: TransportDelivery) -> list[list[tuple[str, str, str]]]:
    async def go() -> list[list[tuple[str, str, str]]]:
        try:
            found = []
            for item in deliveries:
                results = await transport.send(item)
                found.append([(r.address, r.outcome.value, r.detail) for r in results])
            return found
        finally:
            await transport.close()

    return asyncio.run(go())


def test_it_reports_each_recipient_and_sends_the_bytes_intact(smtp_server: Server) -> None:
    smtp_server.handler.rcpt["bob@example.com"] = ["550 5.1.1 No such user"]
    transport = SmtpTransport(make_settings(smtp_port=smtp_server.port))
    [results] = send_all(transport, delivery("alice@example.com", "bob@example.com"))
    assert results == [
        ("alice@example.com", "sent", "250 2.0.0 Ok: queued as Q00001"),
        ("bob@example.com", "failed", "550 5.1.1 No such user"),
    ]
    [received] = smtp_server.handler.received
    assert received.rcpt_tos == ("alice@example.com",)
    assert received.data.replace(b"\r\n", b"\n") == RAW.replace(b"\r\n", b"\n")


def test_it_applies_a_data_refusal_to_every_accepted_recipient(smtp_server: Server) -> None:
    smtp_server.handler.rcpt["bob@example.com"] = ["550 5.1.1 No such user"]
    smtp_server.handler.data = ["554 5.7.1 Message rejected as spam"]
    transport = SmtpTransport(make_settings(smtp_port=smtp_server.port))

    async def go() -> list[tuple[str, str, str | None, str]]:
        results = await transport.send(delivery("alice@example.com", "bob@example.com", "carol@example.com"))
        await transport.close()
        return [(r.address, r.stage, r.reply.enhanced if r.reply else None, r.detail) for r in results]

    assert asyncio.run(go()) == [
        ("alice@example.com", "data", "5.7.1", "554 5.7.1 Message rejected as spam"),
        ("bob@example.com", "rcpt", "5.1.1", "550 5.1.1 No such user"),
        ("carol@example.com", "data", "5.7.1", "554 5.7.1 Message rejected as spam"),
    ]


def test_it_reuses_one_connection_for_consecutive_messages(smtp_server: Server) -> None:
    transport = SmtpTransport(make_settings(smtp_port=smtp_server.port))
    results = send_all(transport, *(delivery(f"user{i}@example.com") for i in range(5)))
    assert [r[0][1] for r in results] == ["sent"] * 5
    assert smtp_server.handler.sessions == 1
    assert len(smtp_server.handler.received) == 5


def test_it_opens_up_to_the_configured_number_of_connections(smtp_server: Server) -> None:
    settings = make_settings(smtp_port=smtp_server.port, delivery=DeliverySettings(smtp_connections=3))
    transport = SmtpTransport(settings)

    async def go() -> int:
        try:
            results = await asyncio.gather(*(transport.send(delivery(f"u{i}@example.com")) for i in range(9)))
        finally:
            await transport.close()
        return sum(1 for found in results for r in found if r.outcome is Outcome.SENT)

    assert asyncio.run(go()) == 9
    assert smtp_server.handler.sessions == 3


def test_it_renews_a_connection_past_its_lifetime(
    smtp_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(smtp_transport, "MAX_LIFETIME", 0.0)
    transport = SmtpTransport(make_settings(smtp_port=smtp_server.port))
    send_all(transport, delivery("a@example.com"), delivery("b@example.com"))
    assert smtp_server.handler.sessions == 2


def test_it_checks_an_idle_connection_with_noop_and_replaces_a_dead_one(
    smtp_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(smtp_transport, "IDLE_CHECK", 0.0)
    transport = SmtpTransport(make_settings(smtp_port=smtp_server.port))

    async def go() -> list[str]:
        first = await transport.send(delivery("a@example.com"))
        for pooled in transport._idle:  # the server side goes away while the connection idles
            pooled.session.abort()
        second = await transport.send(delivery("b@example.com"))
        await transport.close()
        return [first[0].outcome.value, second[0].outcome.value]

    assert asyncio.run(go()) == ["sent", "sent"]
    assert smtp_server.handler.sessions == 2


def test_it_waits_before_reconnecting_to_a_server_that_refused_the_connection() -> None:
    from tests.ports import free_port

    transport = SmtpTransport(make_settings(smtp_port=free_port()))
    results = send_all(transport, delivery("a@example.com"), delivery("b@example.com"))
    assert [r[0][1] for r in results] == ["failed", "failed"]
    assert results[0][0][2] == results[1][0][2]
    assert transport._failures == 1  # the second answer came from the backoff window, not a new connect


@pytest.fixture
def dkim_key() -> Iterator[tuple[str, str]]:
    key = generate_key(1024)
    return key.reveal(), txt_record("sel", "example.com", public_key_of(key)).value


def test_it_signs_with_dkim_and_the_signature_verifies(
    smtp_server: Server, dkim_key: tuple[str, str]
) -> None:
    pem, record = dkim_key
    settings = replace(
        make_settings(smtp_port=smtp_server.port),
        signing=SigningSettings(selector="sel", private_key=Secret(pem)),
    )
    send_all(SmtpTransport(settings), delivery("alice@example.com"))
    [received] = smtp_server.handler.received
    assert received.data.startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com;")
    lookups: list[bytes] = []

    def dns(name: bytes, timeout: int = 5) -> bytes:
        lookups.append(name)
        return record.encode()

    assert dkim.verify(received.data, dnsfunc=dns)
    assert lookups == [b"sel._domainkey.example.com."]


def test_it_sends_several_deliveries_on_one_connection_each_with_its_own_results(smtp_server: Server) -> None:
    smtp_server.handler.rcpt["bad@example.com"] = ["550 5.1.1 No such user"]
    transport = SmtpTransport(make_settings(smtp_port=smtp_server.port))

    async def go() -> list[list[tuple[str, str]]]:
        try:
            answers = await transport.send_many(
                [delivery("a@example.com"), delivery("bad@example.com"), delivery("c@example.com")]
            )
        finally:
            await transport.close()
        return [[(r.address, r.outcome.value) for r in results] for results in answers]

    assert asyncio.run(go()) == [
        [("a@example.com", "sent")],
        [("bad@example.com", "failed")],
        [("c@example.com", "sent")],
    ]
    assert smtp_server.handler.sessions == 1
    assert [r.rcpt_tos for r in smtp_server.handler.received] == [("a@example.com",), ("c@example.com",)]


def test_it_replaces_a_connection_the_server_dropped_while_it_idled(smtp_server: Server) -> None:
    smtp_server.handler.hang_up_after = 1
    transport = SmtpTransport(make_settings(smtp_port=smtp_server.port))

    async def go() -> list[str]:
        try:
            first = await transport.send(delivery("a@example.com"))
            # the server hangs up; the pooled connection does not know yet
            assert await asyncio.to_thread(smtp_server.handler.hung_up.wait, 10)
            second = await transport.send_many([delivery("b@example.com"), delivery("c@example.com")])
        finally:
            await transport.close()
        return [first[0].outcome.value] + [results[0].outcome.value for results in second]

    assert asyncio.run(go()) == ["sent", "sent", "sent"]
    assert smtp_server.handler.sessions == 2
    assert [r.rcpt_tos[0] for r in smtp_server.handler.received] == [
        "a@example.com",
        "b@example.com",
        "c@example.com",
    ]


def test_a_message_dkim_cannot_parse_fails_for_good_alone_and_its_batch_is_sent(
    smtp_server: Server, dkim_key: tuple[str, str]
) -> None:
    """Stored before the relay refused such header blocks: one bad message neither fails
    its batch nor waits two days of retries at stage "internal"."""
    pem, _ = dkim_key
    settings = replace(
        make_settings(smtp_port=smtp_server.port),
        signing=SigningSettings(selector="sel", private_key=Secret(pem)),
    )
    transport = SmtpTransport(settings)
    bad = delivery("b@example.com", raw=RAW.replace(b"Subject: Hi", b"Subject : Hi"))

    async def go() -> list[list[RecipientResult]]:
        try:
            return await transport.send_many([delivery("a@example.com"), bad, delivery("c@example.com")])
        finally:
            await transport.close()

    first, [failed], third = asyncio.run(go())
    assert [(r.address, r.outcome.value) for r in first + third] == [
        ("a@example.com", "sent"),
        ("c@example.com", "sent"),
    ]
    assert (failed.address, failed.outcome, failed.stage) == ("b@example.com", Outcome.FAILED, "message")
    assert failed.refused_before_sending
    assert not first[0].refused_before_sending
    assert failed.detail == (
        "not sent: the header block cannot be parsed for DKIM signing: Unexpected characters in RFC822 "
        "header: b'Subject : Hi'; the message is malformed"
    )
    assert [r.rcpt_tos for r in smtp_server.handler.received] == [("a@example.com",), ("c@example.com",)]
    now = datetime.now(UTC)
    verdict = judge(failed, tries=1, queued_at=now, now=now, policy=RetryPolicy())
    assert (verdict.state, verdict.retry_at) == ("failed", None)
    assert verdict.reason.startswith("failed at message: not sent: the header block cannot be parsed")
