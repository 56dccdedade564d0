"""The retry policy: one classifier decides transient or permanent; waits grow with
jitter, honour the server's "try again in N", and stop at the attempts or age limit."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from postwarden.core import i18n
from postwarden.core.i18n import Text
from postwarden.core.smtp.reply import Reply
from postwarden.outbox.retry import RetryPolicy, judge, said_reason
from postwarden.transports.base import Outcome, RecipientResult

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
POLICY = RetryPolicy(max_attempts=5, max_age=86400, base=60, cap=3600)


def failed(
    stage: str, line: str | None = None, detail: str = "", http_status: int | None = None
) -> RecipientResult:
    reply = None
    if line is not None:
        code, _rest = line.split(" ", 1)
        reply = Reply.from_lines(int(code), [line])
    return RecipientResult(
        "a@example.com",
        Outcome.FAILED,
        stage,
        reply=reply,
        detail=detail or line or "",
        http_status=http_status,
    )


@pytest.mark.parametrize(
    ("result", "state", "finding"),
    [
        (
            failed("rcpt", "550 5.1.1 <a@example.com>: Recipient address rejected: User unknown"),
            "failed",
            "envelope.recipient_rejected",
        ),
        (
            failed("rcpt", "450 4.7.1 <a@example.com>: Recipient address rejected: Greylisted"),
            "deferred",
            "envelope.greylisted",
        ),
        (
            failed("data", "552 5.3.4 Message size exceeds fixed limit"),
            "failed",
            "envelope.message_too_large",
        ),
        (
            failed("data", "421 4.7.0 Too many connections, try again later"),
            "deferred",
            "envelope.rate_limited",
        ),
        (
            failed("mail", "553 5.7.1 <ops@example.com>: Sender address rejected: not owned by user ops"),
            "failed",
            "envelope.sender_rejected",
        ),
        # the path to the server, not the message: retried even when the reply is 5xx
        (failed("auth", "535 5.7.8 Username and Password not accepted"), "deferred", "auth.failed"),
        (
            failed("connect", detail="[Errno 111] Connection refused"),
            "deferred",
            "network.connection_refused",
        ),
        (
            failed("tls", detail="[SSL: WRONG_VERSION_NUMBER] wrong version number"),
            "deferred",
            "tls.handshake_failed",
        ),
        (failed("internal", detail="KeyError: 'x'"), "deferred", ""),
    ],
)
def test_it_asks_the_classifier_and_keeps_its_finding(
    result: RecipientResult, state: str, finding: str
) -> None:
    verdict = judge(result, tries=1, queued_at=NOW, now=NOW, policy=POLICY)
    assert (verdict.state, verdict.finding) == (state, finding)
    assert verdict.permanent == (state == "failed")
    assert (verdict.retry_at is not None) == (state == "deferred")


@pytest.mark.parametrize(
    ("status", "detail", "state"),
    [
        (None, "ConnectionError: Connection refused", "deferred"),
        (429, '{"message": "rate limited"}', "deferred"),
        (500, '{"errors": [{"message": "An internal server error occurred."}]}', "deferred"),
        (502, "<html><h1>502 Bad Gateway</h1></html>", "deferred"),
        (503, "Service Unavailable", "deferred"),
        (504, "<html><h1>504 Gateway Time-out</h1></html>", "deferred"),
        (None, "ReadTimeout: HTTPSConnectionPool: Read timed out. (read timeout=30.0)", "deferred"),
        (
            None,
            "ConnectionError: ('Connection aborted.', ConnectionResetError(104, 'reset by peer'))",
            "deferred",
        ),
        (401, '{"errors": [{"message": "The provided authorization grant is invalid"}]}', "deferred"),
        (403, '{"message": "Forbidden: the key lacks the mail.send scope"}', "deferred"),
        (404, '{"message": "Domain not found: mg.example.com"}', "failed"),
        (
            400,
            '{"errors": [{"field": "from", "message": "does not match a verified Sender Identity"}]}',
            "failed",
        ),
        (422, '{"ErrorCode": 300, "Message": "Invalid email request"}', "failed"),
        (200, "rejected: invalid", "failed"),
    ],
)
def test_it_reads_provider_answers_in_http_terms(status: int | None, detail: str, state: str) -> None:
    verdict = judge(
        failed("api", detail=detail, http_status=status), tries=1, queued_at=NOW, now=NOW, policy=POLICY
    )
    assert verdict.state == state


@pytest.mark.parametrize("stage", ["api", "message", "data", "rcpt", "connect"])
def test_a_message_refused_before_sending_fails_for_good_whatever_its_words(stage: str) -> None:
    refused = RecipientResult(
        "a@example.com", Outcome.FAILED, stage, detail="Invalid email address", refused_before_sending=True
    )
    verdict = judge(refused, tries=1, queued_at=NOW, now=NOW, policy=POLICY)
    assert (verdict.state, verdict.permanent, verdict.retry_at) == ("failed", True, None)


def test_the_words_not_sent_alone_decide_nothing() -> None:
    """The field decides; a provider's text that happens to begin "not sent:" is read as
    any failure without an HTTP answer: transient."""
    words = failed("api", detail="not sent: the connection was reset")
    verdict = judge(words, tries=1, queued_at=NOW, now=NOW, policy=POLICY)
    assert (verdict.state, verdict.permanent) == ("deferred", False)


def test_its_waits_grow_exponentially_within_jittered_bounds() -> None:
    rng = random.Random(7)
    for tries, low, high in [(1, 30, 60), (2, 60, 120), (3, 120, 240), (7, 1800, 3600), (12, 1800, 3600)]:
        waits = [POLICY.delay(tries, None, rng) for _ in range(50)]
        assert all(low <= w <= high for w in waits), (tries, min(waits), max(waits))
        assert max(waits) - min(waits) > (high - low) / 4  # jitter spreads retries out


def test_it_honours_the_servers_try_again_in() -> None:
    result = failed("rcpt", "450 4.2.1 Too much mail from you: please try again in 10 minutes")
    verdict = judge(result, tries=1, queued_at=NOW, now=NOW, policy=POLICY)
    assert verdict.retry_at is not None
    assert timedelta(minutes=10) <= verdict.retry_at - NOW <= timedelta(minutes=11)


def test_it_gives_up_after_the_last_attempt_or_the_maximum_age() -> None:
    greylisted = failed("rcpt", "451 4.7.1 Greylisted")
    assert judge(greylisted, tries=4, queued_at=NOW, now=NOW, policy=POLICY).state == "deferred"
    dead = judge(greylisted, tries=5, queued_at=NOW, now=NOW, policy=POLICY)
    assert (dead.state, dead.reason) == ("dead", "dead after 5 attempts; last at rcpt: 451 4.7.1 Greylisted")
    old = judge(greylisted, tries=1, queued_at=NOW - timedelta(days=1), now=NOW, policy=POLICY)
    assert old.state == "dead"
    assert old.reason.startswith("dead after 24.0 hours")


def test_it_never_schedules_a_retry_past_the_maximum_age() -> None:
    queued = NOW - timedelta(seconds=86400 - 30)
    verdict = judge(failed("rcpt", "451 4.7.1 Greylisted"), tries=3, queued_at=queued, now=NOW, policy=POLICY)
    assert verdict.retry_at == queued + timedelta(seconds=86400)


def test_a_retry_after_of_a_second_or_less_is_kept_and_none_or_zero_is_computed() -> None:
    rng = random.Random(3)
    assert 0.5 <= POLICY.delay(1, 0.5, rng) <= 0.55
    assert 30 <= POLICY.delay(1, 0.0, rng) <= 60
    assert 30 <= POLICY.delay(1, None, rng) <= 60


def test_it_gives_the_classifier_the_servers_port() -> None:
    timeout = failed("connect", detail="TimeoutError: timed out")
    on_25 = judge(timeout, tries=1, queued_at=NOW, now=NOW, policy=POLICY, port=25)
    on_587 = judge(timeout, tries=1, queued_at=NOW, now=NOW, policy=POLICY, port=587)
    assert (on_25.title, on_587.title) == (
        "Outbound port 25 looks blocked",
        "The connection to the server timed out",
    )


def test_a_failure_without_words_says_no_reply() -> None:
    verdict = judge(failed("greeting"), tries=1, queued_at=NOW, now=NOW, policy=POLICY)
    assert (verdict.state, verdict.reason) == ("deferred", "deferred at greeting: no reply")


def test_a_permanent_verdict_carries_the_title_and_the_reason() -> None:
    refused = failed("rcpt", "550 5.1.1 <a@example.com>: Recipient address rejected: User unknown")
    verdict = judge(refused, tries=1, queued_at=NOW, now=NOW, policy=POLICY)
    assert (verdict.state, verdict.retry_at, verdict.permanent) == ("failed", None, True)
    assert verdict.title
    assert (
        verdict.reason
        == "failed at rcpt: 550 5.1.1 <a@example.com>: Recipient address rejected: User unknown"
    )


def test_a_dead_verdict_is_not_permanent_and_keeps_the_finding_and_title() -> None:
    greylisted = failed("rcpt", "451 4.7.1 Greylisted")
    deferred = judge(greylisted, tries=1, queued_at=NOW, now=NOW, policy=POLICY)
    dead = judge(greylisted, tries=5, queued_at=NOW, now=NOW, policy=POLICY)
    assert (dead.state, dead.retry_at, dead.permanent) == ("dead", None, False)
    assert (dead.finding, dead.title) == (deferred.finding, deferred.title)
    assert dead.finding
    assert dead.title
    brief = RetryPolicy(max_attempts=5, max_age=180)
    aged = judge(greylisted, tries=1, queued_at=NOW - timedelta(seconds=180), now=NOW, policy=brief)
    assert aged.reason == "dead after 0.1 hours; last at rcpt: 451 4.7.1 Greylisted"


@pytest.mark.parametrize(
    ("stage", "finding"),
    [
        ("mail", "envelope.sender_rejected"),
        ("rcpt", "envelope.relay_denied"),
        ("data", "envelope.content_rejected"),
        ("auth", "auth.failed"),
        # no SMTP stage: the reply is read on its own
        ("api", "envelope.relay_denied"),
        ("internal", "envelope.relay_denied"),
    ],
)
def test_it_reads_the_servers_reply_at_the_stage_it_came(stage: str, finding: str) -> None:
    # the transport keeps the reply apart from the detail: the reply and its stage decide
    reply = Reply.from_lines(450, ["450 4.7.1 Rejected"])
    result = RecipientResult("a@example.com", Outcome.FAILED, stage, reply=reply, detail="")
    verdict = judge(result, tries=1, queued_at=NOW, now=NOW, policy=POLICY)
    assert (verdict.state, verdict.finding) == ("deferred", finding)
    assert verdict.reason == f"deferred at {stage}: 450 4.7.1 Rejected"


@pytest.mark.parametrize(
    ("result", "tries", "queued_at"),
    [
        (failed("rcpt", "550 5.1.1 <a@example.com>: Recipient address rejected: User unknown"), 1, NOW),
        (failed("rcpt", "451 4.7.1 Greylisted: try again in 5 minutes"), 1, NOW),
        (failed("rcpt", "451 4.7.1 Greylisted"), 5, NOW),
        (failed("rcpt", "451 4.7.1 Greylisted"), 1, NOW - timedelta(days=1, minutes=30)),
        (failed("greeting"), 1, NOW),
        (failed("api", detail="HTTP 503: Service Unavailable; try again: later"), 1, NOW),
    ],
)
def test_a_page_reads_each_reason_the_worker_writes_back_as_a_sentence(
    result: RecipientResult, tries: int, queued_at: datetime
) -> None:
    """The worker stores its reasons in English by batched SQL; a page says them again in
    the reader's language from that English, the stage and the server's words kept as they
    came (the pseudo-locale wraps only our own words)."""
    reason = judge(result, tries=tries, queued_at=queued_at, now=NOW, policy=POLICY).reason
    said = said_reason(reason)
    assert isinstance(said, Text)
    assert said == reason
    with i18n.override(i18n.PSEUDO):
        shown = said.localized()
    assert shown.startswith(i18n.PSEUDO_OPEN)
    assert (
        (result.reply is not None and str(result.reply) in shown)
        or result.detail in shown
        or "no reply" in shown
    )


def test_a_reason_that_only_looks_like_the_workers_stays_as_it_is() -> None:
    for reason in ("deferred at rcpt", "dead after 5 tries; last at rcpt: x", "held: by hand", ""):
        said = said_reason(reason)
        assert said == reason
        assert not isinstance(said, Text)
