"""The bounce listener with a real SMTP client (smtplib): it takes bounces for valid
return paths only, offers STARTTLS and no AUTH, is no open relay, and bounds sizes."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from postwarden.bounces import intake
from postwarden.bounces.models import Bounce
from postwarden.outbox.models import Event, Recipient, Suppression
from postwarden.outbox.submission import Outgoing, enqueue
from tests.bounces.helpers import ListenerThread, bounce_settings, dsn, verp

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[ListenerThread]:
    thread = ListenerThread(tmp_path, size_limit=200_000).start()
    try:
        yield thread
    finally:
        thread.stop()


def sent_recipient() -> Recipient:
    out = enqueue(Outgoing(to=["alice@example.net"], text="x"), settings=bounce_settings())
    row = Recipient.objects.get(message_id=out.pk)
    Recipient.objects.filter(pk=row.pk).update(state="sent")
    return row


def client(listener: ListenerThread) -> smtplib.SMTP:
    smtp = smtplib.SMTP("127.0.0.1", listener.port, timeout=10)
    smtp.ehlo("mx.remote.example")
    return smtp


def test_a_bounce_to_a_valid_return_path_is_taken_and_applied(listener: ListenerThread) -> None:
    row = sent_recipient()
    path = verp().address(row.message_id, row.pk)
    with client(listener) as smtp:
        assert smtp.has_extn("starttls")
        assert not smtp.has_extn("auth")
        smtp.starttls(context=ssl._create_unverified_context())  # noqa: S323 - the listener's own self-signed pair
        smtp.ehlo("mx.remote.example")
        assert smtp.sendmail("", [path], dsn(path, "alice@example.net")) == {}
    row.refresh_from_db()
    assert row.state == "bounced"
    assert Suppression.objects.get().address == "alice@example.net"
    assert Bounce.objects.get().origin == "127.0.0.1"


@pytest.mark.parametrize(
    "recipient",
    ["someone@example.org", "postmaster@bounces.example.com", "bounces@bounces.example.com", "x@[127.0.0.1]"],
)
def test_it_is_no_open_relay_anything_but_a_return_path_is_refused_at_rcpt(
    listener: ListenerThread, recipient: str
) -> None:
    with client(listener) as smtp:
        smtp.mail("spammer@example.org")
        code, text = smtp.rcpt(recipient)
        assert code in (550, 553), text  # 553: an address literal the syntax check refuses first
        assert code == 553 or b"relay access denied" in text
        code, _ = smtp.docmd("DATA")
        assert code == 503  # no recipient, no data
    assert not Bounce.objects.exists()


def test_a_forged_return_path_is_refused_counted_and_changes_nothing(listener: ListenerThread) -> None:
    row = sent_recipient()
    good = verp().address(row.message_id, row.pk)
    forged = verp().address(row.message_id + 1, row.pk)  # a MAC for another message
    forged = forged.split(".")[0] + "." + good.split(".", 1)[1]
    with client(listener) as smtp:
        smtp.mail("")
        code, text = smtp.rcpt(forged)
    assert (code, text) == (550, b"5.1.1 Error: no such bounce address")
    assert intake.tallies()["forged"] == 1
    row.refresh_from_db()
    assert row.state == "sent"
    assert not Event.objects.exists()
    assert not Suppression.objects.exists()


def test_it_offers_no_auth(listener: ListenerThread) -> None:
    with client(listener) as smtp:
        code, _ = smtp.docmd("AUTH", "PLAIN AGFsaWNlAHNlY3JldA==")
    assert code == 502


def test_a_bounce_over_the_size_limit_is_refused_with_552(listener: ListenerThread) -> None:
    row = sent_recipient()
    path = verp().address(row.message_id, row.pk)
    big = dsn(path, "alice@example.net") + b"x" * 300_000 + b"\r\n"
    with client(listener) as smtp:
        with pytest.raises(smtplib.SMTPSenderRefused) as at_mail:  # smtplib says SIZE= at MAIL
            smtp.sendmail("", [path], big)
        assert at_mail.value.smtp_code == 552
        smtp.mail("")  # a client that does not say SIZE is stopped at the end of DATA
        assert smtp.rcpt(path)[0] == 250
        code, _ = smtp.data(big)
    assert code == 552
    assert not Bounce.objects.exists()


def test_when_the_intake_is_full_a_bounce_is_deferred_not_lost(
    listener: ListenerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    from postwarden.bounces import listener as module

    row = sent_recipient()
    path = verp().address(row.message_id, row.pk)
    monkeypatch.setattr(module, "MAX_WAITING", 0)  # a storm has filled the queue
    with client(listener) as smtp:
        with pytest.raises(smtplib.SMTPDataError) as deferred:
            smtp.sendmail("", [path], dsn(path, "alice@example.net"))
        assert (deferred.value.smtp_code, deferred.value.smtp_error) == (
            451,
            b"4.3.2 Error: too many bounces waiting; try again later",
        )
    assert not Bounce.objects.exists()
    assert intake.tallies()["busy"] == 1
    monkeypatch.setattr(module, "MAX_WAITING", 64)  # the sender's retry gets in
    with client(listener) as smtp:
        assert smtp.sendmail("", [path], dsn(path, "alice@example.net")) == {}
    row.refresh_from_db()
    assert row.state == "bounced"


def test_a_bounce_before_the_workers_record_is_deferred_with_451(
    listener: ListenerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    row = sent_recipient()
    Recipient.objects.filter(pk=row.pk).update(state="sending")
    monkeypatch.setattr(intake, "SENDING_WAIT", 0.0)
    path = verp().address(row.message_id, row.pk)
    with client(listener) as smtp, pytest.raises(smtplib.SMTPDataError) as deferred:
        smtp.sendmail("", [path], dsn(path, "alice@example.net"))
    assert deferred.value.smtp_code == 451
    assert not Bounce.objects.exists()
