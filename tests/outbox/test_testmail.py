"""A test mail sent now (outbox/testmail.py): claimed where it is stored, so a running
worker never takes it; recorded as the worker records an attempt; cancelled when it
failed; bounded in time."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Callable
from contextlib import closing
from dataclasses import replace

import pytest

from postwarden.core.config.model import Provider, ProviderSettings
from postwarden.core.secrets import Secret
from postwarden.outbox.models import Attempt, Recipient
from postwarden.outbox.testmail import send_test_mail
from postwarden.outbox.timeline import timeline
from tests.factories import make_settings
from tests.outbox.procs import BOUND, Place, wait_for
from tests.smtpd import SmtpServer

#: send-tests run while the worker polls; each would be a chance for it to take one
ROUNDS = 3


def run_cli(place: Place, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "postwarden", "send-test", *argv],
        env=place.environ(),
        cwd=place.root,
        capture_output=True,
        text=True,
        timeout=BOUND * 2,
        check=False,
    )


def attempts_of_test_mails(place: Place) -> list[tuple[str, str, str]]:
    """(worker, outcome, state) of every attempt at a send-test message, read from the file."""
    with closing(sqlite3.connect(place.root / "outbox.sqlite3")) as db:
        return db.execute(
            "SELECT a.worker, a.outcome, r.state FROM outbox_attempt a "
            "JOIN outbox_recipient r ON r.id = a.recipient_id "
            "JOIN outbox_message m ON m.id = r.message_id WHERE m.source = 'cli' ORDER BY a.id"
        ).fetchall()


@pytest.mark.slow
def test_it_sends_with_a_worker_running_and_the_worker_never_attempts_it(
    smtpd_factory: Callable[..., SmtpServer], place_factory: Callable[..., Place]
) -> None:
    server = smtpd_factory(data_reply="250 2.0.0 Ok: queued as {queue_id}")
    place = place_factory(None, server.port)
    place.worker(name="worker")
    place.script("enqueue", "5")
    # the worker is alive and claiming (every 50 ms when idle) before the test mails go
    wait_for(lambda: place.script("states")["states"].get("sent") == 5, "the worker to send 5")
    for round_ in range(ROUNDS):
        done = run_cli(place, "--to", f"alice{round_}@example.com")
        assert done.returncode == 0, done.stdout + done.stderr
        last = done.stdout.strip().splitlines()[-1]
        assert last.startswith("accepted by the server (queue id "), done.stdout
        assert last.endswith(f": 250 2.0.0 Ok: queued as {server.delivered[-1].queue_id}")
    tests = attempts_of_test_mails(place)
    assert len(tests) == ROUNDS
    assert all(worker.startswith("send-test:cli:") for worker, _, _ in tests), tests
    assert [(outcome, state) for _, outcome, state in tests] == [("sent", "sent")] * ROUNDS
    to = sorted(m.rcpt_tos[0] for m in server.delivered)
    assert to == sorted(
        [f"user{i}@example.com" for i in range(5)] + [f"alice{i}@example.com" for i in range(3)]
    )
    assert place.script("states")["sent_by"] == {"worker": 5, **_by_sender(tests)}


def _by_sender(tests: list[tuple[str, str, str]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for worker, _, _ in tests:
        counts[worker] = counts.get(worker, 0) + 1
    return counts


@pytest.mark.django_db(transaction=True)
def test_it_records_the_attempt_in_the_timeline_as_the_worker_does(smtpd: SmtpServer) -> None:
    settings = make_settings(smtp_port=smtpd.port)
    result = send_test_mail(
        settings, "bob@example.com", text="hello", source="console", cancelled_by="the test"
    )
    assert result.state == "sent"
    assert result.said.startswith("250 ")
    [entry] = [e for e in timeline(Recipient.objects.get().message) if e.kind == "attempt"]
    assert entry.recipient == "bob@example.com"
    assert entry.data["outcome"] == "sent"
    assert entry.data["transport"] == "smtp"
    assert entry.data["reply"] == result.said
    assert Attempt.objects.get().worker.startswith("send-test:console:")
    assert Recipient.objects.get().claimed_by == ""


@pytest.mark.django_db(transaction=True)
def test_it_stops_a_send_that_overruns_its_bound_and_cancels_the_mail(smtpd: SmtpServer) -> None:
    smtpd.inject("DATA", "250 2.0.0 Ok", delay=3.0)
    settings = make_settings(smtp_port=smtpd.port)
    result = send_test_mail(
        settings, "bob@example.com", text="hello", source="console", cancelled_by="the test", timeout=0.5
    )
    assert result.state == "failed"
    assert result.stage == "internal"
    assert result.said == "the test took longer than 0.5 seconds and was stopped"
    row = Recipient.objects.get()
    assert (row.state, row.reason, row.lease_until) == ("cancelled", "cancelled by the test", None)
    assert Attempt.objects.get().outcome == "deferred"


@pytest.mark.django_db(transaction=True)
def test_it_sends_nothing_when_sending_is_switched_off(smtpd: SmtpServer) -> None:
    settings = make_settings(smtp_port=smtpd.port, enabled=False)
    result = send_test_mail(settings, "bob@example.com", text="hello", source="cli", cancelled_by="the test")
    assert (result.state, result.reason) == ("unusable", "sending is switched off (EMAIL_ENABLED=false)")
    assert not Recipient.objects.exists()
    assert smtpd.delivered == []


@pytest.mark.django_db(transaction=True)
def test_it_sends_through_a_provider_api_with_the_stored_message(moto_url: str) -> None:
    """Amazon SES (moto's server): the provider's message id comes back and is recorded."""
    import boto3

    key = "ses-testsend-secret-5e1f"
    boto3.client(
        "sesv2",
        region_name="eu-west-1",
        endpoint_url=moto_url,
        aws_access_key_id="AKIDTESTSEND",
        aws_secret_access_key=key,
    ).create_email_identity(EmailIdentity="example.com")
    provider = ProviderSettings(
        name=Provider.SES,
        secrets={"AWS_SECRET_ACCESS_KEY": Secret(key)},
        options={"AWS_ACCESS_KEY_ID": "AKIDTESTSEND", "AWS_REGION": "eu-west-1"},
        api_url=moto_url,
    )
    settings = replace(make_settings(provider=Provider.SES), provider=provider)
    result = send_test_mail(settings, "bob@example.net", text="hello", source="cli", cancelled_by="the test")
    assert (result.state, result.transport, result.stage) == ("sent", "ses", "api")
    assert result.provider_message_id
    attempt = Attempt.objects.get()
    assert (attempt.outcome, attempt.provider_message_id) == ("sent", result.provider_message_id)
    assert key not in repr(result)
