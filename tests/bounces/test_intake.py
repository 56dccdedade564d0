"""The intake: what a bounce, a delay, a complaint, an auto-reply, a forged or an unknown
bounce does to the outbox (timeline, state, suppression), against the test database."""

from __future__ import annotations

import logging

import pytest

from postwarden.bounces import intake
from postwarden.bounces.intake import Arrival, take
from postwarden.bounces.models import Bounce, BounceOutcome
from postwarden.outbox.models import Event, Recipient, Suppression
from postwarden.outbox.submission import Outgoing, enqueue
from tests.bounces.helpers import arf, bounce_settings, dsn, out_of_office, verp

pytestmark = pytest.mark.django_db


def sent(address: str = "alice@example.net") -> Recipient:
    """A recipient the server accepted (the worker's part is tested elsewhere)."""
    out = enqueue(Outgoing(to=[address], subject="Hi", text="x"), settings=bounce_settings())
    row = Recipient.objects.get(message_id=out.pk)
    Recipient.objects.filter(pk=row.pk).update(state="sent")
    row.refresh_from_db()
    return row


def path_of(row: Recipient) -> str:
    return verp().address(row.message_id, row.pk)


def arrive(raw: bytes, *paths: str) -> list[Bounce]:
    return take(Arrival(raw, "smtp", return_paths=paths, origin="192.0.2.1"), verp())


def test_a_hard_bounce_goes_on_the_timeline_verbatim_suppresses_and_refuses_the_next_message() -> None:
    row = sent()
    diagnostic = "smtp; 550 5.1.1 <alice@example.net>: Recipient address rejected: User unknown"
    [bounce] = arrive(dsn(path_of(row), row.address, diagnostic=diagnostic), path_of(row))
    assert (bounce.outcome, bounce.kind, bounce.status) == ("applied", "hard_bounce", "5.1.1")
    event = Event.objects.get(recipient=row)
    assert (event.kind, event.provider) == ("bounced", "bounce")
    assert event.detail.startswith(diagnostic + " — ")
    assert "mailbox does not exist" in event.detail  # the knowledge base's explanation
    assert event.raw["remote_mta"] == "mx.remote.example"
    row.refresh_from_db()
    assert row.state == "bounced"
    suppression = Suppression.objects.get(address="alice@example.net")
    assert suppression.reason == "hard_bounce"
    assert suppression.expires_at is not None
    assert diagnostic in suppression.detail
    nxt = enqueue(Outgoing(to=["alice@example.net"], text="again"), settings=bounce_settings())
    [again] = nxt.recipients
    assert again.state == "suppressed"
    assert Recipient.objects.get(message_id=nxt.pk).reason.startswith("suppressed: hard bounce (bounce <dsn.")


def test_a_soft_bounce_is_recorded_and_does_not_suppress() -> None:
    row = sent()
    raw = dsn(path_of(row), row.address, status="4.2.2", diagnostic="smtp; 452 4.2.2 Mailbox full")
    [bounce] = arrive(raw, path_of(row))
    assert (bounce.outcome, bounce.kind) == ("applied", "soft_bounce")
    assert Event.objects.get(recipient=row).kind == "deferred"
    assert not Suppression.objects.exists()


def test_a_delay_is_a_timeline_note_only() -> None:
    row = sent()
    raw = dsn(
        path_of(row), row.address, action="delayed", status="4.4.7", diagnostic="smtp; 451 4.4.7 try later"
    )
    [bounce] = arrive(raw, path_of(row))
    assert bounce.kind == "delayed"
    event = Event.objects.get(recipient=row)
    assert event.kind == "delayed"
    assert "451 4.4.7 try later" in event.detail
    row.refresh_from_db()
    assert row.state == "sent"
    assert not Suppression.objects.exists()


def test_a_complaint_report_marks_complained_and_suppresses_for_good() -> None:
    row = sent()
    [bounce] = arrive(arf(path_of(row), row.address), path_of(row))
    assert (bounce.outcome, bounce.kind, bounce.detector) == ("applied", "complaint", "arf")
    row.refresh_from_db()
    assert row.state == "complained"
    suppression = Suppression.objects.get()
    assert (suppression.reason, suppression.expires_at) == ("complaint", None)


def test_an_auto_reply_is_ignored_and_never_counted_as_a_bounce() -> None:
    row = sent()
    [bounce] = arrive(out_of_office(path_of(row)), path_of(row))
    assert (bounce.outcome, bounce.kind) == ("ignored", "auto_reply")
    assert not Event.objects.filter(recipient=row).exists()
    row.refresh_from_db()
    assert row.state == "sent"


def test_a_forged_token_changes_nothing_and_is_counted_with_a_logged_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    row = sent()
    good = path_of(row)
    forged = good.replace(
        good[good.index("@") - 3 : good.index("@")], "aaa" if not good.endswith("aaa") else "bbb"
    )
    caplog.set_level(logging.WARNING, "postwarden.bounces")
    assert arrive(dsn(forged, row.address), forged) == []
    row.refresh_from_db()
    assert row.state == "sent"
    assert not Event.objects.exists()
    assert not Suppression.objects.exists()
    assert not Bounce.objects.exists()
    assert intake.tallies()["forged"] == 1
    [record] = [r for r in caplog.records if "forged" in r.getMessage()]
    assert "does not verify" in record.__dict__["reason"]
    assert "alice@example.net" not in caplog.text


def test_a_bounce_for_a_message_the_outbox_no_longer_has_is_kept_for_the_operator() -> None:
    gone = verp().address(999_999, 888_888)
    raw = dsn(gone, "someone@example.net")
    [bounce] = arrive(raw, gone)
    assert (bounce.outcome, bounce.kind, bounce.status) == ("unknown_message", "hard_bounce", "5.1.1")
    assert bytes(bounce.raw) == raw
    assert not Suppression.objects.exists()


def test_the_same_bounce_twice_is_applied_once() -> None:
    row = sent()
    raw = dsn(path_of(row), row.address)
    arrive(raw, path_of(row))
    assert arrive(raw, path_of(row)) == []
    assert Event.objects.filter(recipient=row).count() == 1
    assert intake.tallies()["duplicate"] == 1


def test_a_storm_of_bounces_for_one_recipient_is_bounded() -> None:
    row = sent()
    for n in range(intake.PER_RECIPIENT + 5):
        arrive(dsn(path_of(row), row.address, diagnostic=f"smtp; 550 5.1.1 no such user ({n})"), path_of(row))
    assert Event.objects.filter(recipient=row).count() == intake.PER_RECIPIENT
    assert Bounce.objects.filter(outcome=BounceOutcome.EXCESS).count() == 5
    assert intake.tallies()["excess"] == 5


def test_a_dsn_listing_many_recipients_applies_the_tokens_recipients_status() -> None:
    row = sent("bob@example.net")
    raw = dsn(path_of(row), "bob@example.net", extra_recipients=5000)
    [bounce] = arrive(raw, path_of(row))
    assert bounce.outcome == "applied"
    assert bounce.address == "bob@example.net"
    assert "more recipient blocks not read" in bounce.note
    assert Suppression.objects.get().address == "bob@example.net"


def test_a_mailbox_mail_is_matched_by_the_return_path_in_its_headers() -> None:
    row = sent()
    [bounce] = take(Arrival(dsn(path_of(row), row.address), "imap", origin="imap"), verp())
    assert bounce.outcome == "applied"
    assert bounce.return_path == path_of(row)


def test_a_mailbox_mail_without_any_return_path_is_kept() -> None:
    [bounce] = take(Arrival(dsn("someone@else.example", "x@example.net"), "imap"), verp())
    assert bounce.outcome == "no_token"
    assert bounce.raw is not None


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff" * 1000,
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n--x\r\n",
        b"Content-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; a@b\r\nAction: failed\r\n",
        b"Content-Type: multipart/mixed; boundary=a\r\n\r\n"
        + b"--a\r\nContent-Type: multipart/mixed; boundary=a\r\n\r\n" * 300,
    ],
)
def test_malformed_mail_never_crashes_the_intake_and_is_kept(raw: bytes) -> None:
    row = sent()
    [bounce] = arrive(raw, path_of(row))
    assert bounce.outcome in ("unreadable", "applied")
    assert Bounce.objects.count() == 1


def test_soft_bounces_count_toward_the_threshold_as_provider_events_do() -> None:
    from postwarden.outbox import effects

    row = sent()
    for n in range(effects.SOFT_LIMIT):
        assert not Suppression.objects.exists()
        raw = dsn(path_of(row), row.address, status="4.2.2", diagnostic=f"smtp; 452 4.2.2 Mailbox full ({n})")
        arrive(raw, path_of(row))
    suppression = Suppression.objects.get()
    assert suppression.reason == "failures"
    assert "Mailbox full (4)" in suppression.detail


def test_a_bounce_faster_than_the_workers_record_waits_for_it(monkeypatch: pytest.MonkeyPatch) -> None:
    row = sent()
    Recipient.objects.filter(pk=row.pk).update(state="sending")  # the server took it; not recorded yet

    def worker_records(seconds: float) -> None:  # the worker writes its batch while the intake waits
        Recipient.objects.filter(pk=row.pk).update(state="sent")

    monkeypatch.setattr(intake.time, "sleep", worker_records)
    [bounce] = arrive(dsn(path_of(row), row.address), path_of(row))
    assert bounce.outcome == "applied"
    row.refresh_from_db()
    assert row.state == "bounced"


def test_a_bounce_for_mail_still_unrecorded_after_the_wait_comes_again_later(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    row = sent()
    Recipient.objects.filter(pk=row.pk).update(state="sending")
    monkeypatch.setattr(intake, "SENDING_WAIT", 0.0)
    with pytest.raises(intake.NotYet):
        arrive(dsn(path_of(row), row.address), path_of(row))
    assert not Bounce.objects.exists()
    assert not Event.objects.exists()
    Recipient.objects.filter(pk=row.pk).update(state="sent")
    [bounce] = arrive(dsn(path_of(row), row.address), path_of(row))
    assert bounce.outcome == "applied"
