"""After a fix, mail goes at once (issue #17): a worker sees saved settings before its next
attempt (a message sent right after the password was fixed used to fail once with the old
one), the recipients a wrong password deferred are retried as soon as the settings change
or the transport works again, not after their backoff, and a person can retry deferred
recipients now. Against aiosmtpd with STARTTLS and a trustme CA, through the settings
store, the worker's own steps and the pipeline's actions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from postwarden.configstore.runtime import current_settings
from postwarden.core.config.model import Origin, Settings, Source
from postwarden.core.config.resolve import ConfigError, ConfigProblem
from postwarden.outbox import actions, retrynow
from postwarden.outbox.models import Attempt, Event, Recipient
from postwarden.outbox.submission import Outgoing, enqueue
from postwarden.outbox.worker.loop import Worker, WorkerOptions
from tests.console.conftest import _fresh_settings_cache, clean_env  # noqa: F401 - fixtures
from tests.factories import make_settings, save_smtp
from tests.smtpd import SmtpServer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("clean_env", "ssl_cert_file")]
USER = "ops"
RIGHT = "Right-Zq9XkVbN-password"
WRONG = "Wrong-Zq9XkVbN-password"
#: deliver steps a scenario may take: bounded, never timed
STEPS = 6


def _send(subject: str) -> int:
    return enqueue(
        Outgoing(to=[f"{subject}@example.org"], subject=subject, text="x"), settings=current_settings()
    ).pk


def _attempts(message_pk: int) -> list[tuple[str, str]]:
    rows = Attempt.objects.filter(recipient__message_id=message_pk).order_by("number")
    return [(a.outcome, a.finding) for a in rows]


def _worker() -> Worker:
    # settings are looked at every hour only: what this test shows must not hang on the timer
    return Worker(WorkerOptions(worker_id="w-fix", settings_interval=3600), settings_source=current_settings)


def _all_sent(message_pks: tuple[int, ...]) -> bool:
    return all(Recipient.objects.get(message_id=pk).state == "sent" for pk in message_pks)


def _state(message_pk: int) -> tuple[str, str]:
    row = Recipient.objects.get(message_id=message_pk)
    return row.state, row.finding


async def _until_sent(worker: Worker, *message_pks: int) -> None:
    """Database work from the worker's loop goes through ``worker.db`` (Django refuses it
    straight from a coroutine)."""
    for _ in range(STEPS):
        await worker.deliver_step()
        if await worker.db(_all_sent, message_pks):
            return
    raise AssertionError(await worker.db(lambda: {pk: _attempts(pk) for pk in message_pks}))


def test_a_message_sent_right_after_a_save_uses_the_saved_password_and_the_deferred_one_goes_at_once(
    smtpd_factory: Callable[..., SmtpServer],
) -> None:
    server = smtpd_factory(tls="starttls", users={USER: RIGHT})
    save_smtp(server, SMTP_USER=USER, SMTP_PASSWORD=WRONG)

    async def scenario() -> tuple[int, int]:
        worker = _worker()
        first = await worker.db(_send, "before")
        await worker.deliver_step()
        assert await worker.db(_state, first) == ("deferred", "auth.failed")
        await worker.db(lambda: save_smtp(server, SMTP_USER=USER, SMTP_PASSWORD=RIGHT))
        second = await worker.db(_send, "after")
        await _until_sent(worker, first, second)
        await worker.close()
        return first, second

    first, second = asyncio.run(scenario())
    # the message sent after the save went out at its first attempt, with the new password
    assert _attempts(second) == [("sent", "")]
    # the deferred one did not wait out its backoff (a minute at least): retried at once
    assert _attempts(first) == [("deferred", "auth.failed"), ("sent", "")]
    retry = Event.objects.get(kind="retry")
    assert retry.detail == "before@example.org: retried now (auth.failed): the settings changed"
    assert sorted(m.rcpt_tos[0] for m in server.delivered) == ["after@example.org", "before@example.org"]
    assert WRONG not in retry.detail
    assert RIGHT not in retry.detail


async def _until_the_transport_tries_again(worker: Worker) -> None:
    """After a failed connect the SMTP transport answers with the same failure for a
    moment (transports/smtp.py) instead of hammering the server: wait for its end."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while time.monotonic() < getattr(worker.transport, "_blocked_until", 0.0):
        assert loop.time() < deadline, "the SMTP transport's backoff never ended"
        await asyncio.sleep(0.05)


def test_recipients_deferred_by_an_unreachable_server_are_retried_when_it_answers_again(
    smtpd_factory: Callable[..., SmtpServer],
) -> None:
    server = smtpd_factory(tls="starttls", users={USER: RIGHT})
    save_smtp(server, SMTP_USER=USER, SMTP_PASSWORD=RIGHT)
    server.inject("EHLO", "421 4.3.2 Service not available, closing channel", times=1)

    async def scenario() -> tuple[int, int]:
        worker = _worker()
        first = await worker.db(_send, "during")
        await worker.deliver_step()
        state, finding = await worker.db(_state, first)
        assert state == "deferred"
        assert finding.partition(".")[0] in retrynow.TRANSPORT
        await _until_the_transport_tries_again(worker)
        second = await worker.db(_send, "later")  # the server answers again: this one goes, and so the first
        await _until_sent(worker, first, second)
        await worker.close()
        return first, second

    first, second = asyncio.run(scenario())
    assert [o for o, _ in _attempts(first)] == ["deferred", "sent"]
    assert _attempts(second) == [("sent", "")]
    assert "the transport works again" in Event.objects.get(kind="retry").detail


def test_a_recipient_refused_at_rcpt_is_not_retried_by_a_settings_change(
    smtpd_factory: Callable[..., SmtpServer],
) -> None:
    server = smtpd_factory(tls="starttls", users={USER: RIGHT})
    save_smtp(server, SMTP_USER=USER, SMTP_PASSWORD=RIGHT)
    server.inject("RCPT", "452 4.2.2 Mailbox full", match="full@example.org")

    async def scenario() -> None:
        worker = _worker()
        await worker.db(_send, "full")
        await worker.deliver_step()
        # a settings change that cannot help a full mailbox
        await worker.db(lambda: save_smtp(server, SMTP_USER=USER, SMTP_PASSWORD=RIGHT + "-changed"))
        await worker.deliver_step()
        await worker.close()

    asyncio.run(scenario())
    row = Recipient.objects.get()
    assert (row.state, row.attempts) == ("deferred", 1)
    assert not Event.objects.filter(kind="retry").exists()


def test_retry_now_requeues_a_deferred_recipient_and_names_who_asked(
    smtpd_factory: Callable[..., SmtpServer],
) -> None:
    server = smtpd_factory(tls="starttls", users={USER: RIGHT})
    save_smtp(server, SMTP_USER=USER, SMTP_PASSWORD=RIGHT)
    server.inject("RCPT", "451 4.7.1 Greylisted, try again later", match="grey@example.org", times=1)

    async def scenario() -> int:
        worker = _worker()
        pk = await worker.db(_send, "grey")
        await worker.deliver_step()
        assert (await worker.db(_state, pk))[0] == "deferred"
        rcpt = await worker.db(lambda: Recipient.objects.get(message_id=pk).pk)
        done = await worker.db(actions.requeue, [rcpt], by="console: ops@example.com")
        assert (done.changed, done.skipped) == (1, 0)
        await _until_sent(worker, pk)
        await worker.close()
        return pk

    pk = asyncio.run(scenario())
    assert [o for o, _ in _attempts(pk)] == ["deferred", "sent"]
    assert (
        Event.objects.get(kind="requeued").detail == "grey@example.org: re-queued by console: ops@example.com"
    )


def test_settings_that_cannot_be_read_before_a_send_leave_those_in_force(
    smtpd_factory: Callable[..., SmtpServer],
) -> None:
    server = smtpd_factory()
    settings = make_settings(smtp_port=server.port)
    reads = {"n": 0}

    def source() -> Settings:
        reads["n"] += 1
        if reads["n"] > 1:  # a stored value the resolver refuses, saved after the start
            raise ConfigError([ConfigProblem("SMTP_PORT", "must be a whole number", Source(Origin.STORED))])
        return settings

    async def scenario() -> int:
        worker = Worker(
            WorkerOptions(worker_id="w-unreadable", settings_interval=3600), settings_source=source
        )
        pk = await worker.db(lambda: enqueue(Outgoing(to=["a@example.org"], text="x"), settings=settings).pk)
        await _until_sent(worker, pk)
        await worker.close()
        return pk

    pk = asyncio.run(scenario())
    assert _attempts(pk) == [("sent", "")]
    assert reads["n"] >= 2
