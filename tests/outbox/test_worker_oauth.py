"""The worker with SMTP_AUTH=oauth2 against the local identity server (tests/oauthd.py) and
an SMTP server judging tokens as Exchange Online does: a token that expires during a long
run is renewed without a failed message, and when no token can be had (the identity
platform down, the secret revoked, a clock off) the mail waits with the auth stage and the
platform's words, and goes out on the first attempt after the fix."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace

import pytest
import time_machine
from django.utils import timezone

from postwarden.core.config.model import (
    DeliverySettings,
    OAuth2Settings,
    Security,
    Settings,
    SmtpAuth,
    SmtpSettings,
)
from postwarden.core.secrets import Secret
from postwarden.outbox.models import Attempt, Recipient
from postwarden.outbox.submission import Outgoing, enqueue
from postwarden.outbox.worker.loop import Worker, WorkerOptions
from tests.factories import make_settings
from tests.oauthd import APP_SECRET, TENANT, BearerCheck, IdentityServer, microsoft_oauth2, self_signed
from tests.smtpd import SmtpServer

pytestmark = pytest.mark.django_db(transaction=True)
Smtpd = Callable[..., SmtpServer]
MAILBOX = "ops@example.com"  # the From address make_settings uses
SECRET = APP_SECRET


def _settings(server: SmtpServer, oauth2: OAuth2Settings, **delivery: int) -> Settings:
    smtp = SmtpSettings(
        host="localhost",
        port=server.port,
        security=Security.STARTTLS,
        user=MAILBOX,
        timeout=5.0,
        ehlo_name="client.test",
        auth=SmtpAuth.OAUTH2,
        oauth2=oauth2,
    )
    return replace(make_settings(smtp_port=server.port, delivery=DeliverySettings(**delivery)), smtp=smtp)


def _one_round(settings: Settings) -> None:
    async def steps() -> None:
        worker = Worker(WorkerOptions(worker_id="w", retry_base=0.01), settings_source=lambda: settings)
        await worker.deliver_step()
        await worker.close()

    asyncio.run(steps())


def _due_now() -> None:
    Recipient.objects.filter(state="deferred").update(next_attempt_at=timezone.now())


@pytest.fixture
def exchange(smtpd_factory: Smtpd, identity: IdentityServer) -> tuple[SmtpServer, BearerCheck, str]:
    app = identity.register_app(TENANT, secret=SECRET)
    check = BearerCheck(identity, "exchange", mailboxes={app.client_id: {MAILBOX}})
    server = smtpd_factory(
        tls="starttls", bearer=check, auth_mechanisms=("XOAUTH2",), data_reply="250 2.0.0 OK"
    )
    return server, check, app.client_id


def test_it_renews_a_token_that_expires_during_a_long_run(
    exchange: tuple[SmtpServer, BearerCheck, str], identity: IdentityServer
) -> None:
    server, check, client_id = exchange
    identity.lifetime = 60
    # Exchange drops the connection after every message, so each batch signs in again
    server.inject("DATA", "250 2.0.0 OK queued", close=True)
    settings = _settings(server, microsoft_oauth2(identity, client_id), smtp_connections=1)
    total = 24
    for i in range(total):
        enqueue(Outgoing(to=[f"r{i}@example.org"], text="x"), settings=make_settings())

    async def long_run() -> Worker:
        # a connection a message, and three messages a round, so the clock moves during the run
        options = WorkerOptions(worker_id="w", retry_base=0.01, deliveries_per_send=1, batch_size=3)
        worker = Worker(options, settings_source=lambda: settings)
        with time_machine.travel(timezone.now(), tick=True) as clock:
            for _ in range(total):  # bounded: at most one round per message
                if not await worker.db(lambda: Recipient.objects.exclude(state="sent").exists()):
                    break
                clock.shift(25)  # three rounds take the token past its life
                await worker.deliver_step()
        await worker.close()
        return worker

    asyncio.run(long_run())

    assert Recipient.objects.filter(state="sent").count() == total
    assert not Attempt.objects.exclude(outcome="sent").exists()
    assert {verdict for _, verdict in check.attempts} == {"ok"}  # no expired token was ever offered
    assert len(identity.issued) >= 3
    assert len(server.delivered) == total


def test_it_refreshes_a_token_the_server_finds_expired_without_failing_a_message(
    exchange: tuple[SmtpServer, BearerCheck, str], identity: IdentityServer
) -> None:
    server, check, client_id = exchange
    server.inject("DATA", "250 2.0.0 OK queued", close=True)
    settings = _settings(server, microsoft_oauth2(identity, client_id), smtp_connections=1)
    enqueue(Outgoing(to=["first@example.org"], text="x"), settings=make_settings())
    enqueue(Outgoing(to=["second@example.org"], text="x"), settings=make_settings())

    async def run() -> None:
        options = WorkerOptions(worker_id="w", retry_base=0.01, deliveries_per_send=1)
        worker = Worker(options, settings_source=lambda: settings)
        await worker.deliver_step()
        # Exchange's clock runs an hour ahead (or the token was revoked): to it, the token
        # this worker caches has expired; the identity server issues by the same clock
        check.clock_offset = identity.clock_offset = 3600.0
        await worker.db(enqueue, Outgoing(to=["third@example.org"], text="x"), settings=make_settings())
        await worker.deliver_step()
        await worker.close()

    asyncio.run(run())

    assert Recipient.objects.filter(state="sent").count() == 3
    assert not Attempt.objects.exclude(outcome="sent").exists()
    assert ("ops@example.com", "expired") in check.attempts
    assert check.attempts[-1] == ("ops@example.com", "ok")


@pytest.mark.parametrize("fault", ["endpoint_down", "secret_revoked", "clock_skew"])
def test_it_keeps_the_mail_while_no_token_can_be_had_and_sends_it_after_the_fix(
    fault: str, smtpd_factory: Smtpd, identity: IdentityServer
) -> None:
    pem, certificate = self_signed()
    app = identity.register_app(TENANT, secret=SECRET, certificate=certificate)
    check = BearerCheck(identity, "exchange", mailboxes={app.client_id: {MAILBOX}})
    server = smtpd_factory(tls="starttls", bearer=check, auth_mechanisms=("XOAUTH2",))
    oauth2 = microsoft_oauth2(identity, app.client_id)
    if fault == "clock_skew":  # a certificate's signed assertion is only valid around the platform's time
        oauth2 = replace(oauth2, client_secret=Secret(), client_cert=Secret(pem))
    enqueue(Outgoing(to=["alice@example.org"], text="x"), settings=make_settings())
    expected = {
        "endpoint_down": "HTTP 503",
        "secret_revoked": "invalid_client: AADSTS7000215: Invalid client secret provided.",
        "clock_skew": "invalid_client: AADSTS700024: Client assertion is not within its valid time range.",
    }[fault]
    if fault == "endpoint_down":
        identity.down = True
    elif fault == "secret_revoked":
        identity.apps[app.client_id].secret = "the-new-secret-after-rotation"
    else:
        identity.clock_offset = 2 * 3600.0

    _one_round(_settings(server, oauth2))

    row = Recipient.objects.get()
    attempt = Attempt.objects.get()
    assert (row.state, attempt.outcome, attempt.stage) == ("deferred", "deferred", "auth")
    assert expected in attempt.reply or expected in row.reason
    assert server.delivered == []

    if fault == "endpoint_down":
        identity.down = False
    elif fault == "secret_revoked":
        oauth2 = replace(oauth2, client_secret=Secret("the-new-secret-after-rotation"))
    else:
        identity.clock_offset = 0.0
    _due_now()
    _one_round(_settings(server, oauth2))

    row = Recipient.objects.get()
    assert (row.state, row.attempts) == ("sent", 2)
    assert [m.rcpt_tos for m in server.delivered] == [["alice@example.org"]]
