"""What goes wrong between the outbox and the canary mailbox, and what a run records."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path as FsPath

import pytest
import time_machine
from django.utils import timezone

from postwarden.canaries import runner, store
from postwarden.canaries.models import Canary, CanaryRun, RunState
from tests.canaries.conftest import Path
from tests.dovecot import DovecotServer

pytestmark = pytest.mark.django_db(transaction=True)


def _started(path: Path, canary: Canary) -> CanaryRun:
    store.request_run(canary)
    path.pass_()
    run = canary.runs.order_by("-id").first()
    assert run is not None
    assert run.state == RunState.WAITING
    return run


def _look_now(path: Path, run: CanaryRun) -> CanaryRun:
    """Make the run's next look due and take a pass (no sleeping for the backoff)."""
    CanaryRun.objects.filter(pk=run.pk).update(next_poll_at=None)
    path.pass_()
    run.refresh_from_db()
    return run


def _past_deadline(path: Path, run: CanaryRun) -> CanaryRun:
    """One look after the run's deadline (the clock moved on, nothing slept)."""
    assert run.deadline_at is not None
    with time_machine.travel(run.deadline_at + timedelta(seconds=1)):
        path.pass_()
    run.refresh_from_db()
    return run


def test_a_canary_accepted_upstream_but_never_filed_is_missing_with_how_far_it_got(canary_path: Path) -> None:
    canary_path.mx.hold = True  # the receiver takes it and sits on it
    canary = canary_path.canary()
    run = _started(canary_path, canary)
    canary_path.send()
    run = _look_now(canary_path, run)  # a look before the deadline: not there yet, still waiting
    assert (run.state, run.looks) == (RunState.WAITING, 1)
    assert run.accepted_at is not None
    run = _past_deadline(canary_path, run)
    assert run.state == RunState.MISSING
    assert run.detail.startswith(
        f"accepted upstream at {run.accepted_at:%H:%M:%S} UTC (250 2.0.0 Ok: queued (held))"
    )
    assert "but not in the inbox and Junk or any other folder 10 min after it was queued" in run.detail


def test_a_canary_the_sending_server_refuses_is_missing_at_once_never_accepted(canary_path: Path) -> None:
    canary_path.mx.refuse = "554 5.7.1 Message rejected as spam"
    canary = canary_path.canary()
    run = _started(canary_path, canary)
    canary_path.send()
    run = _look_now(canary_path, run)
    assert (run.state, run.accepted_at) == (RunState.MISSING, None)
    assert run.detail.startswith("never accepted upstream: the outbox says failed: ")
    assert "554 5.7.1 Message rejected as spam" in run.detail


def test_a_late_arrival_is_recorded_on_its_run_and_counts_once(canary_path: Path) -> None:
    canary_path.mx.hold = True
    canary = canary_path.canary()
    first = _started(canary_path, canary)
    canary_path.send()
    first = _past_deadline(canary_path, first)
    assert first.state == RunState.MISSING
    canary_path.mx.release()  # it arrives now, after the deadline
    second = canary_path.run_to_end(canary)  # the next run's first look finds the late one
    first.refresh_from_db()
    assert (first.state, first.late_placement) == (RunState.MISSING, "inbox")
    assert first.late_arrived_at is not None
    assert second.state == RunState.ARRIVED
    assert canary_path.mailbox.messages("INBOX") == []  # both removed
    canary.refresh_from_db()
    assert canary.last_run_id == second.pk


def test_a_canary_delivered_twice_is_one_arrival_with_two_copies(canary_path: Path) -> None:
    canary_path.mx.copies = 2
    run = canary_path.run_to_end(canary_path.canary())
    assert (run.state, run.copies) == (RunState.ARRIVED, 2)
    assert canary_path.mailbox.messages("INBOX") == []


def test_a_mailbox_without_a_junk_folder_reports_another_folder(
    canary_path: Path, dovecot_factory: Callable[..., DovecotServer]
) -> None:
    mailbox = dovecot_factory(folders={"Archive": "", "Sent": "\\Sent"})
    canary_path.mx.mailbox = mailbox
    canary_path.mx.rule = lambda judged: "Archive"
    canary = canary_path.canary(imap_port=mailbox.port)
    run = canary_path.run_to_end(canary)
    assert (run.state, run.placement, run.folder) == (RunState.OTHER, "other", "Archive")
    canary_path.mx.hold = True
    later = _started(canary_path, canary)
    canary_path.send()
    later = _past_deadline(canary_path, later)
    assert "not in the inbox (the mailbox has no junk folder) or any other folder" in later.detail


def test_latency_is_measured_on_our_clock_whatever_the_receivers_clock_says(canary_path: Path) -> None:
    canary_path.mx.clock_offset = -3 * 3600.0  # the receiving side is three hours behind
    run = canary_path.run_to_end(canary_path.canary())
    assert run.state == RunState.ARRIVED
    assert run.arrived_at is not None
    assert run.server_received_at is not None
    assert 0 <= run.arrival_seconds < 60  # type: ignore[operator]
    skew = (run.arrived_at - run.server_received_at).total_seconds()
    assert 3 * 3600 - 60 < skew < 3 * 3600 + 60


def test_an_imap_server_down_during_the_wait_is_retried_until_it_answers(canary_path: Path) -> None:
    canary = canary_path.canary()
    run = _started(canary_path, canary)
    canary_path.send()  # filed into the mailbox
    canary_path.mailbox.stop()
    run = _look_now(canary_path, run)
    assert (run.state, run.looks, run.polls) == (RunState.WAITING, 0, 1)
    assert run.imap_error == "connect: could not connect to the IMAP server: Connection refused"
    assert run.next_poll_at is not None
    canary_path.mailbox.restart()
    run = _look_now(canary_path, run)
    assert (run.state, run.looks, run.polls, run.imap_error) == (RunState.ARRIVED, 1, 2, "")


def test_an_imap_server_down_until_the_deadline_cannot_tell_missing_from_unreachable(
    canary_path: Path,
) -> None:
    canary = canary_path.canary()
    run = _started(canary_path, canary)
    canary_path.send()
    canary_path.mailbox.stop()
    run = _past_deadline(canary_path, run)
    assert run.state == RunState.UNREACHABLE
    assert run.detail == (
        "the mailbox could not be read at the deadline: "
        "connect: could not connect to the IMAP server: Connection refused"
    )


def test_an_imap_server_down_at_the_start_sends_nothing(canary_path: Path, closed_port: int) -> None:
    canary = canary_path.canary(imap_port=closed_port)
    canary_path.pass_()
    run = canary.runs.get()
    assert run.state == RunState.UNREACHABLE
    assert run.detail == "nothing was sent: connect: could not connect to the IMAP server: Connection refused"
    assert run.message_id is None


def test_an_untrusted_imap_certificate_is_unreachable_with_the_reason(
    canary_path: Path, dovecot_factory: Callable[..., DovecotServer]
) -> None:
    mailbox = dovecot_factory(tls=True)
    canary = canary_path.canary(imap_port=mailbox.tls_port, imap_security="ssl")
    canary_path.pass_()
    run = canary.runs.get()
    assert run.state == RunState.UNREACHABLE
    assert "the IMAP server's certificate was not accepted" in run.detail
    assert "certificate verify failed" in run.detail


def test_a_trusted_certificate_over_implicit_tls_works(
    canary_path: Path, dovecot_factory: Callable[..., DovecotServer], ssl_cert_file: FsPath
) -> None:
    mailbox = dovecot_factory(tls=True)
    canary_path.mx.mailbox = mailbox
    run = canary_path.run_to_end(canary_path.canary(imap_port=mailbox.tls_port, imap_security="ssl"))
    assert run.state == RunState.ARRIVED


def test_it_never_runs_faster_than_its_schedule_even_across_restarts(canary_path: Path) -> None:
    canary = canary_path.canary(interval_minutes=30)
    run = canary_path.run_to_end(canary)
    assert run.state == RunState.ARRIVED
    # a new process (another owner) right away, then just before the interval: nothing
    assert runner.run_due(owner="restarted:1", settings=canary_path.settings) == 0
    with time_machine.travel(run.started_at + timedelta(minutes=29, seconds=50)):
        assert runner.run_due(owner="restarted:2", settings=canary_path.settings) == 0
    assert canary.runs.count() == 1
    with time_machine.travel(run.started_at + timedelta(minutes=30, seconds=1)):
        assert runner.run_due(owner="restarted:3", settings=canary_path.settings) == 1
    assert canary.runs.count() == 2


def test_one_node_drives_a_run_and_another_takes_over_when_its_lease_lapses(canary_path: Path) -> None:
    canary = canary_path.canary()
    store.request_run(canary)
    assert runner.run_due(owner="node-a", settings=canary_path.settings) == 1
    run = canary.runs.get()
    canary_path.send()
    CanaryRun.objects.filter(pk=run.pk).update(next_poll_at=None)
    # node-a holds the lease: node-b does nothing with this canary
    assert runner.run_due(owner="node-b", settings=canary_path.settings) == 0
    run.refresh_from_db()
    assert (run.state, run.polls) == (RunState.WAITING, 0)
    # node-a died; once its lease lapsed, node-b finishes the run
    with time_machine.travel(timezone.now() + runner.LEASE + timedelta(seconds=1)):
        assert runner.run_due(owner="node-b", settings=canary_path.settings) == 1
    run.refresh_from_db()
    assert run.state == RunState.ARRIVED
    assert canary.runs.count() == 1


def test_starttls_with_a_trusted_certificate_works_and_without_it_is_refused(
    canary_path: Path, dovecot_factory: Callable[..., DovecotServer], ssl_cert_file: FsPath
) -> None:
    mailbox = dovecot_factory(tls=True)
    canary_path.mx.mailbox = mailbox
    run = canary_path.run_to_end(canary_path.canary(imap_port=mailbox.port, imap_security="starttls"))
    assert run.state == RunState.ARRIVED
    plain = canary_path.canary(name="plain", imap_security="starttls")  # the plain Dovecot offers none
    canary_path.pass_()
    refused = plain.runs.get()
    assert refused.state == RunState.UNREACHABLE
    assert refused.detail == "nothing was sent: starttls: the IMAP server does not offer STARTTLS"
