"""The relay's guards against aiosmtplib, the SMTP client of asyncio applications
(issue #11): a stale key throttled while a good one passes, a header block RFC 5322
forbids refused at DATA with the reason, and the Received stamp of a STARTTLS + AUTH
PLAIN session (Go's net/smtp does the same: STARTTLS first, then PLAIN)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable

import aiosmtplib
import pytest
import trustme

from postwarden.accounts.models import ApiKey
from postwarden.outbox.models import Content, Message
from tests.relay.helpers import RelayThread, simple_mail

pytestmark = pytest.mark.django_db(transaction=True)

Factory = Callable[..., RelayThread]


def tls_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


async def login(port: int, password: str, context: ssl.SSLContext) -> tuple[int, str]:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, tls_context=context, start_tls=True, timeout=10)
    await client.connect()
    try:
        await client.ehlo()  # again after STARTTLS (RFC 3207 4.2)
        answer = await client.auth_plain("app", password)  # one AUTH PLAIN, as Go's net/smtp sends
        return answer.code, answer.message
    except aiosmtplib.SMTPAuthenticationError as refused:
        return refused.code, refused.message
    finally:
        client.close()


def test_a_stale_key_is_throttled_and_a_good_one_still_passes(
    relay_factory: Factory, ca: trustme.CA, key: tuple[ApiKey, str]
) -> None:
    relay = relay_factory(trusted=())
    context = tls_context(ca)
    stale = key[1][:-4] + "AAAA"

    async def run() -> list[tuple[int, str]]:
        answers = [await login(relay.port, stale, context) for _ in range(6)]
        answers.append(await login(relay.port, key[1], context))
        return answers

    answers = asyncio.run(run())
    assert [code for code, _ in answers] == [535] * 5 + [454, 235]
    assert answers[5][1] == "4.7.0 Error: this password failed too many times; try again later"


def test_a_second_from_is_refused_at_data_with_the_reason(relay_factory: Factory) -> None:
    relay = relay_factory()
    mail = simple_mail().replace(b"To: ", b"From: Evil <evil@example.net>\r\nTo: ")

    async def run() -> aiosmtplib.SMTPDataError:
        with pytest.raises(aiosmtplib.SMTPDataError) as refused:
            await aiosmtplib.send(
                mail, sender="app@example.com", recipients=["alice@example.net"], hostname="127.0.0.1",
                port=relay.port, start_tls=False, timeout=10,
            )  # fmt: skip
        return refused.value

    refused = asyncio.run(run())
    assert (refused.code, refused.message) == (
        550,
        "5.6.0 Error: the message has 2 From fields; RFC 5322 3.6 allows exactly one (list every address "
        "in one field)",
    )
    assert not Message.objects.exists()


def test_starttls_then_auth_plain_is_stamped_esmtpsa_with_the_key_name(
    relay_factory: Factory, ca: trustme.CA, key: tuple[ApiKey, str]
) -> None:
    relay = relay_factory(trusted=())

    async def run() -> None:
        await aiosmtplib.send(
            simple_mail(), sender="app@example.com", recipients=["alice@example.net"], hostname="127.0.0.1",
            port=relay.port, start_tls=True, tls_context=tls_context(ca), username="app", password=key[1],
            local_hostname="async-app.example", timeout=10,
        )  # fmt: skip

    asyncio.run(run())
    raw = bytes(Content.objects.get(message=Message.objects.get()).raw)
    head = raw.split(b"\r\nDate: ", 1)[0]
    assert head.startswith(
        b"Received: from async-app.example ([127.0.0.1])\r\n\tby relay.test (Postwarden) with ESMTPSA"
    )
    assert b'(authenticated with the API key "mattermost");' in head
    assert key[1].encode() not in raw
