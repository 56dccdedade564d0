"""Queue, drift and suppression checks judging the service's facts (plain data from the
Django adapter; tests/doctor/ covers gathering them from a real database)."""

from __future__ import annotations

from postwarden.core.doctor.model import Severity, Status
from postwarden.core.doctor.service import QueueFacts, RecipientPolicy, ServiceFacts, WorkerFacts
from tests.core.doctor.helpers import check, codes, doctor, finding, settings

GOOD = {"SMTP_HOST": "smtp.example.com", "MAIL_FROM": "ops@example.com"}
ONLY = frozenset({"queue", "config", "policy"})


def run(facts: ServiceFacts):  # type: ignore[no-untyped-def]
    return doctor(settings(**GOOD), only=ONLY, service=facts)


def worker(age: float = 2.0, fingerprint: str = "f1", status: str = "running") -> WorkerFacts:
    return WorkerFacts("w-1", "host-a", age, status, fingerprint, "smtp")


def test_it_is_quiet_for_a_healthy_service() -> None:
    report = run(ServiceFacts(QueueFacts(waiting=3, oldest_age=4.0), (worker(),), fingerprint="f1"))
    assert codes(report) == []
    assert check(report, "queue.worker").detail == "1 worker running, last seen 2 s ago"
    assert check(report, "config.process_drift").status is Status.PASS


def test_it_reports_a_worker_down_while_mail_waits() -> None:
    report = run(
        ServiceFacts(QueueFacts(waiting=12, oldest_age=30.0), (worker(age=600.0),), fingerprint="f1")
    )
    found = finding(report, "queue.worker_down")
    assert (found.severity, found.evidence) == (
        Severity.ERROR,
        "12 recipients waiting; last heartbeat 600 s ago (w-1, running)",
    )


def test_it_reports_a_worker_that_never_ran() -> None:
    found = finding(run(ServiceFacts(QueueFacts(waiting=1, oldest_age=1.0))), "queue.worker_down")
    assert found.evidence == "1 recipient waiting; no worker has ever reported"


def test_it_does_not_call_an_idle_stopped_worker_a_fault() -> None:
    report = run(ServiceFacts(QueueFacts(), (worker(status="stopped"),), fingerprint="f1"))
    assert codes(report) == []
    assert check(report, "queue.worker").status is Status.WARN


def test_it_reports_a_backlog() -> None:
    found = finding(
        run(ServiceFacts(QueueFacts(waiting=40, oldest_age=1800.0), (worker(),), fingerprint="f1")),
        "queue.backlog",
    )
    assert (found.severity, found.evidence) == (
        Severity.WARNING,
        "the oldest of 40 waiting recipients has waited 30 min",
    )


def test_it_quotes_the_dominant_retry_error() -> None:
    facts = ServiceFacts(
        QueueFacts(retrying=7, dominant_error=("451 4.7.1 Greylisted, try again later", 5)),
        (worker(),),
        fingerprint="f1",
    )
    found = finding(run(facts), "queue.retrying")
    assert found.evidence == (
        "7 recipients waiting for a retry; most often: 451 4.7.1 Greylisted, try again later (5x)"
    )


def test_it_reports_dead_letters() -> None:
    facts = ServiceFacts(
        QueueFacts(dead=2, dead_error=("550 5.1.1 User unknown", 2)), (worker(),), fingerprint="f1"
    )
    found = finding(run(facts), "queue.dead_letters")
    assert (found.severity, found.evidence) == (
        Severity.ERROR,
        "2 recipients gave up in the last 24 h; most often: 550 5.1.1 User unknown (2x)",
    )


def test_it_reports_a_bounce_and_complaint_rate_over_the_threshold() -> None:
    facts = ServiceFacts(
        QueueFacts(window_accepted=100, window_bounced=4, window_complained=2), (worker(),), fingerprint="f1"
    )
    found = finding(run(facts), "queue.bounce_rate")
    assert (found.severity, found.evidence) == (
        Severity.WARNING,
        "4 bounced and 2 complained: 6.0 % of the 100 recipients accepted in the last 24 h bounced or "
        "complained, above the threshold of 5 % (POSTWARDEN_BOUNCE_RATE_THRESHOLD)",
    )


def test_a_bounce_rate_at_the_threshold_or_on_too_few_is_no_finding() -> None:
    at = ServiceFacts(QueueFacts(window_accepted=100, window_bounced=5), (worker(),), fingerprint="f1")
    assert "queue.bounce_rate" not in codes(run(at))
    assert check(run(at), "queue.bounce_rate").detail.startswith("5.0 % of the 100 recipients")
    few = ServiceFacts(QueueFacts(window_accepted=19, window_bounced=19), (worker(),), fingerprint="f1")
    assert "queue.bounce_rate" not in codes(run(few))
    assert check(run(few), "queue.bounce_rate").detail == "too few to judge: 19 accepted (from 20 on)"


def test_the_bounce_rate_threshold_is_a_setting() -> None:
    facts = ServiceFacts(QueueFacts(window_accepted=100, window_bounced=3), (worker(),), fingerprint="f1")
    report = doctor(settings(**GOOD, POSTWARDEN_BOUNCE_RATE_THRESHOLD="2.5"), only=ONLY, service=facts)
    assert "above the threshold of 2.5 %" in finding(report, "queue.bounce_rate").evidence


def test_it_reports_a_worker_running_other_settings() -> None:
    facts = ServiceFacts(QueueFacts(), (worker(fingerprint="0ld"),), fingerprint="n3w")
    found = finding(run(facts), "config.process_drift")
    assert found.evidence == "these settings have fingerprint n3w; running with others: w-1 on host-a (0ld)"


def test_it_reports_a_suppressed_recipient() -> None:
    facts = ServiceFacts(
        recipient=RecipientPolicy("suppressed", "hard bounce on 2026-01-02: 550 5.1.1 unknown")
    )
    found = finding(run(facts), "policy.suppressed")
    assert found.evidence == "ops@example.com: hard bounce on 2026-01-02: 550 5.1.1 unknown"


def test_it_counts_recipients_refused_for_good_beside_the_dead_ones() -> None:
    refused = ("550 5.7.1 Message rejected", 3)
    alone = run(ServiceFacts(QueueFacts(failed=3, failed_error=refused), (worker(),), fingerprint="f1"))
    assert (check(alone, "queue.dead_letters").status, check(alone, "queue.dead_letters").detail) == (
        Status.WARN,
        "none gave up after retries in the last 24 h; 3 recipients refused for good in the last 24 h; "
        "most often: 550 5.7.1 Message rejected (3x)",
    )
    assert codes(alone) == []  # their cause is queue.recent_sends' to name
    both = run(
        ServiceFacts(
            QueueFacts(dead=1, dead_error=("451 4.3.0 try later", 1), failed=3, failed_error=refused),
            (worker(),),
            fingerprint="f1",
        )
    )
    assert finding(both, "queue.dead_letters").evidence == (
        "1 recipient gave up in the last 24 h; most often: 451 4.3.0 try later (1x); "
        "3 recipients refused for good in the last 24 h; most often: 550 5.7.1 Message rejected (3x)"
    )
