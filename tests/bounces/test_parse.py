"""The parser on input no MTA should send: it never raises, bounds what it reads, and
finds the report of a bounce of a bounce."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from postwarden.bounces.parse import MAX_RECIPIENTS, MAX_TEXT, BounceKind, read
from tests.bounces.helpers import dsn


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4000))
def test_any_bytes_give_a_report(raw: bytes) -> None:
    assert read(raw).kind in set(BounceKind)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 3000), st.text(max_size=200))
def test_a_truncated_or_spliced_dsn_gives_a_report(cut: int, junk: str) -> None:
    raw = dsn("bounces+x@b.example", "a@example.net")
    assert read(raw[:cut] + junk.encode("utf-8", "replace") + raw[cut:]).kind in set(BounceKind)


def test_many_recipients_and_huge_diagnostics_are_bounded() -> None:
    raw = dsn(
        "r@b.example",
        "a@example.net",
        extra_recipients=MAX_RECIPIENTS + 500,
        diagnostic="smtp; 550 " + "x" * 50_000,
    )
    report = read(raw)
    assert len(report.recipients) == MAX_RECIPIENTS
    assert report.omitted == 501
    assert all(len(s.diagnostic) <= MAX_TEXT for s in report.recipients)
    assert report.status_for("a@example.net") is not None


def test_a_bounce_of_a_bounce_reads_the_outer_report() -> None:
    inner = dsn("bounces+inner@b.example", "first@example.net")
    outer = dsn("bounces+outer@b.example", "second@example.net").replace(
        b"--B1--",
        b"--B1\r\nContent-Type: message/rfc822\r\n\r\n" + inner.replace(b"B1", b"B2") + b"\r\n--B1--",
    )
    report = read(outer)
    assert report.kind is BounceKind.HARD_BOUNCE
    assert [s.address for s in report.recipients] == ["second@example.net"]


def test_a_status_block_sent_as_text_is_still_read() -> None:
    raw = dsn("r@b.example", "a@example.net").replace(b"message/delivery-status", b"text/plain", 1)
    # as text/plain the block is no report part: the mail system's notice is read for its codes
    assert read(raw).kind is BounceKind.HARD_BOUNCE


def test_a_dsn_reporting_success_is_no_bounce() -> None:
    raw = dsn("r@b.example", "a@example.net", action="delivered", status="2.0.0", diagnostic="smtp; 250 ok")
    assert read(raw).kind is BounceKind.DELIVERED


def test_an_auth_failure_report_is_not_a_complaint() -> None:
    from tests.bounces.helpers import arf

    report = read(arf("r@b.example", "a@example.net", feedback_type="auth-failure"))
    assert report.kind is BounceKind.UNKNOWN
    assert "not a complaint" in report.note
