"""The runner: checks run concurrently, each bounded; a broken check does not hide the
others; --only selects stages; results stream as they complete."""

from __future__ import annotations

import asyncio

from postwarden.core.doctor.context import Context, Options, Recorder, Unit, effective_timeout
from postwarden.core.doctor.model import Code, Finding, Report, Status
from postwarden.core.doctor.runner import stream
from tests.core.doctor.helpers import check, codes, doctor, settings

GOOD = settings(SMTP_HOST="smtp.example.com", MAIL_FROM="ops@example.com")


async def _sleeps(ctx: Context, rec: Recorder) -> None:
    await asyncio.sleep(0.3)
    rec.check("dns.slow", Status.PASS, "slept")


async def _hangs(ctx: Context, rec: Recorder) -> None:
    await asyncio.sleep(3600)


async def _breaks(ctx: Context, rec: Recorder) -> None:
    raise KeyError("a defect in a check")


async def _finds(ctx: Context, rec: Recorder) -> None:
    rec.finding(Finding.of(Code.LINKS_INSECURE, "http://x"))
    rec.finding(Finding.of(Code.CONFIG_DISABLED, "EMAIL_ENABLED=false"))
    rec.finding(Finding.of(Code.LINKS_INSECURE, "http://y"))
    rec.check("links.x", Status.WARN, "x")


def test_it_runs_units_concurrently() -> None:
    # each unit waits until all five have started: run one after another, the first
    # would wait out its deadline and fail
    started: list[int] = []
    everyone = asyncio.Event()

    def unit(n: int) -> Unit:
        async def meet(ctx: Context, rec: Recorder) -> None:
            started.append(n)
            if len(started) == 5:
                everyone.set()
            await everyone.wait()
            rec.check("dns.met", Status.PASS, f"unit {n}")

        return Unit(f"dns.u{n}", frozenset({"dns"}), meet)

    report = doctor(GOOD, units=[unit(n) for n in range(5)])
    assert [c.status for c in report.checks] == [Status.PASS] * 5
    assert sorted(started) == [0, 1, 2, 3, 4]


def test_it_bounds_a_unit_that_never_finishes() -> None:
    report = doctor(
        GOOD,
        units=[
            Unit("dns.hang", frozenset({"dns"}), _hangs, budget=1.0),
            Unit("dns.ok", frozenset({"dns"}), _sleeps),
        ],
        timeout=0.2,
    )
    assert check(report, "dns.hang").detail == "did not finish within 0.2 s"
    assert check(report, "dns.hang").status is Status.FAIL
    assert check(report, "dns.slow").status is Status.PASS


def test_it_reports_a_broken_check_and_goes_on() -> None:
    report = doctor(
        GOOD,
        units=[
            Unit("links.broken", frozenset({"links"}), _breaks),
            Unit("links.fine", frozenset({"links"}), _finds),
        ],
    )
    assert check(report, "links.broken").detail == "the check itself failed: KeyError: 'a defect in a check'"
    assert check(report, "links.x").status is Status.WARN


def test_it_sorts_findings_and_keeps_each_code_once() -> None:
    report = doctor(GOOD, units=[Unit("links.fine", frozenset({"links", "config"}), _finds)])
    assert codes(report) == ["config.disabled", "links.insecure"]
    assert report.findings[1].evidence == "http://x"
    assert report.root_cause is not None
    assert report.root_cause.code is Code.CONFIG_DISABLED


def test_it_runs_only_the_selected_stages() -> None:
    report = doctor(
        GOOD,
        units=[Unit("links.fine", frozenset({"links"}), _finds), Unit("dns.ok", frozenset({"dns"}), _sleeps)],
        only=frozenset({"dns"}),
    )
    assert [c.id for c in report.checks] == ["dns.slow"]
    assert codes(report) == []


def test_it_streams_each_check_then_the_report() -> None:
    async def collect() -> list[object]:
        units = [
            Unit("dns.ok", frozenset({"dns"}), _sleeps),
            Unit("links.fine", frozenset({"links"}), _finds),
        ]
        return [item async for item in stream(GOOD, Options(timeout=2), units=units)]

    items = asyncio.run(collect())
    assert [getattr(i, "id", None) for i in items[:-1]] == ["links.x", "dns.slow"]
    assert isinstance(items[-1], Report)


def test_it_caps_the_step_timeout_at_ten_seconds() -> None:
    assert effective_timeout(settings(SMTP_TIMEOUT="60"), Options()) == 10.0
    assert effective_timeout(settings(SMTP_TIMEOUT="3"), Options()) == 3.0
    assert effective_timeout(settings(SMTP_TIMEOUT="60"), Options(timeout=30)) == 30


def test_it_reports_the_missing_setting_that_stopped_a_selected_stage() -> None:
    report = doctor(settings(EMAIL_PROVIDER="smtp", MAIL_FROM="ops@example.com"), only=frozenset({"network"}))
    assert codes(report) == ["config.missing"]
    assert report.exit_status == 1
    assert check(report, "network.connect").detail == "SMTP_HOST is not set (config.missing)"


def test_it_keeps_the_settings_quiet_when_they_stop_nothing() -> None:
    report = doctor(
        settings(SMTP_HOST="smtp.example.com", MAIL_FROM="me@gmail.com"), only=frozenset({"links"})
    )
    assert "config.freemail_from" not in codes(report)
    assert {c.stage for c in report.checks} == {"links"}
