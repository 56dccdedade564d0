"""Run the doctor's checks concurrently and assemble the report.

A *unit* is one coroutine that checks one part of the path (the SMTP walk, the provider
API, the From domain's DNS, …) and records check results and findings as it goes; the
runner starts every selected unit at once, bounds each by its own deadline and the whole
run by an overall one, and streams each check result to ``on_check`` the moment it is
recorded (the terminal's live lines, the console's live view).

A unit that overruns its deadline is cancelled and reported as a failed check; a unit
that raises is reported the same way, so one broken check never hides the others.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from postwarden.core.config.model import Security, Settings
from postwarden.core.dns import DnsClient
from postwarden.core.doctor.model import (
    STAGE_ORDER,
    CheckResult,
    Code,
    Finding,
    Report,
    Status,
    TranscriptLine,
    sort_findings,
)
from postwarden.core.doctor.redact import Redactor
from postwarden.core.doctor.service import ServiceFacts
from postwarden.core.i18n import Number, Text

#: the doctor answers in seconds: SMTP_TIMEOUT (default 20 s) is for a slow server under
#: load, but a person waiting at a terminal gets a verdict sooner (Mattermost's
#: SMTPServerTimeout is 10 s for the same reason)
MAX_TIMEOUT: Final = 10.0
#: the other modes tried when the configured one fails at the network or TLS stage
USUAL_PORTS: Final[Mapping[Security, tuple[int, ...]]] = {
    Security.SSL: (465,),
    Security.STARTTLS: (587, 2525),
    Security.OPPORTUNISTIC: (25,),
}
TEMPLATES_DIR: Final = Path(__file__).resolve().parents[2] / "templates" / "emails"

CheckCallback = Callable[[CheckResult], None]


@dataclass(frozen=True, slots=True)
class Options:
    """What ``postwarden doctor`` was asked (docs/spec/doctor.md, command line)."""

    #: recipient of the envelope probe and the test mail (default TEST_EMAIL, else From)
    to: str | None = None
    #: send a real test mail instead of MAIL/RCPT/RSET
    send: bool = False
    #: ``host[:port]`` asked for every DNS question (default POSTWARDEN_DNS_SERVER)
    dns_server: str | None = None
    #: seconds per network step (default SMTP_TIMEOUT, at most MAX_TIMEOUT)
    timeout: float | None = None
    #: stages to check; empty = all
    only: frozenset[str] = frozenset()
    #: security mode -> ports tried when the configured mode fails (tests inject theirs)
    usual_ports: Mapping[Security, tuple[int, ...]] = field(default_factory=lambda: dict(USUAL_PORTS))
    #: where Postwarden's own mail templates live (links stage)
    template_dirs: tuple[Path, ...] = (TEMPLATES_DIR,)


@dataclass
class Context:
    """What every unit may read. Units do not share mutable state except through
    the recorder."""

    settings: Settings
    options: Options
    dns: DnsClient
    timeout: float
    #: the probe/test recipient: --to, else TEST_EMAIL, else From
    recipient: str | None
    #: what only the service knows (queue, heartbeats, policy), from the Django adapter
    service: ServiceFacts | None = None

    def wants(self, *stages: str) -> bool:
        """True when any of ``stages`` was selected (``--only``)."""
        return not self.options.only or any(s in self.options.only for s in stages)


class Recorder:
    """Collects what the units find; calls ``on_check`` for each check as it lands."""

    def __init__(self, on_check: CheckCallback | None = None, redactor: Redactor | None = None) -> None:
        self.checks: list[CheckResult] = []
        self.findings: list[Finding] = []
        #: codes whose finding explains why a later, selected stage could not be checked
        self.blocking: set[Code] = set()
        self.transcript: list[TranscriptLine] = []
        self.notes: list[str] = []
        self._on_check = on_check
        self._redactor = redactor or Redactor(())

    def check(self, check_id: str, status: Status, detail: str = "", *, duration_ms: int = 0) -> CheckResult:
        result = CheckResult(check_id, status, duration_ms, self._redactor.text(detail))
        self.checks.append(result)
        if self._on_check is not None:
            self._on_check(result)
        return result

    def finding(self, finding: Finding, *, blocking: bool = False) -> None:
        self.findings.append(finding)
        if blocking:
            self.blocking.add(finding.code)

    def note(self, text: str) -> None:
        self.notes.append(text)

    @contextmanager
    def timed(self) -> Iterator[_Timer]:
        """``with rec.timed() as t: …; t.ms`` - milliseconds spent inside the block."""
        timer = _Timer()
        try:
            yield timer
        finally:
            timer.stop()


class _Timer:
    def __init__(self) -> None:
        self._start = time.perf_counter()
        self.ms = 0

    def stop(self) -> None:
        self.ms = elapsed_ms(self._start)


def elapsed_ms(start: float) -> int:
    return round((time.perf_counter() - start) * 1000)


UnitRun = Callable[[Context, Recorder], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Unit:
    """One concurrently running part of the doctor."""

    #: check id used when the unit itself fails ("dns.from_domain" …)
    id: str
    #: the stages whose findings it can produce; it runs when one is selected
    stages: frozenset[str]
    run: UnitRun
    #: deadline in multiples of the per-step timeout (an SMTP walk has many steps)
    budget: float = 2.0
    #: run even when its stages are not selected (--only): the settings' own faults are
    #: why a selected stage may not be checkable, and cost nothing to find
    always: bool = False
    #: reads only the service's facts (no network, no DNS): the monitor runs these every
    #: minute for alerts (checks.database_units)
    offline: bool = False


def effective_timeout(settings: Settings, options: Options) -> float:
    if options.timeout is not None:
        return options.timeout
    return min(settings.smtp.timeout, MAX_TIMEOUT)


def recipient_of(settings: Settings, options: Options) -> str | None:
    return options.to or settings.sending.test_email or settings.sending.from_address


async def run(
    settings: Settings,
    options: Options | None = None,
    *,
    units: Sequence[Unit] | None = None,
    extra_units: Sequence[Unit] = (),
    service: ServiceFacts | None = None,
    on_check: CheckCallback | None = None,
    notes: Iterable[str] = (),
) -> Report:
    """Run the doctor and return its :class:`Report`. Never raises for what it finds.

    ``units`` replaces the standard set (tests); ``extra_units`` adds to it; ``service``
    carries what only the service knows (None: no database, those checks are skipped).
    ``on_check`` is called for every check as it completes."""
    from postwarden.core.doctor.checks import standard_units

    options = options or Options()
    started = time.perf_counter()
    timeout = effective_timeout(settings, options)
    redactor = Redactor.for_settings(settings)
    recorder = Recorder(on_check, redactor)
    ctx = Context(
        settings,
        options,
        DnsClient(options.dns_server or settings.service.dns_server, timeout=timeout),
        timeout,
        recipient_of(settings, options),
        service,
    )
    chosen = [
        u
        for u in [*(standard_units() if units is None else units), *extra_units]
        if u.always or ctx.wants(*u.stages)
    ]
    overall = timeout * max((u.budget for u in chosen), default=1.0) + 1.0
    tasks = [asyncio.ensure_future(_run_unit(unit, ctx, recorder)) for unit in chosen]
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=overall)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    return _report(ctx, recorder, redactor, started, [*settings.notes, *notes])


async def _run_unit(unit: Unit, ctx: Context, rec: Recorder) -> None:
    start = time.perf_counter()
    try:
        async with asyncio.timeout(unit.budget * ctx.timeout):
            await unit.run(ctx, rec)
    except TimeoutError:
        rec.check(
            unit.id,
            Status.FAIL,
            Text("did not finish within {seconds:g} s", seconds=Number(unit.budget * ctx.timeout)),
            duration_ms=elapsed_ms(start),
        )
    except asyncio.CancelledError:
        rec.check(
            unit.id,
            Status.FAIL,
            Text("stopped: the doctor's overall time limit was reached"),
            duration_ms=elapsed_ms(start),
        )
        raise
    except Exception as exc:  # a defect in one check must not hide the others' results
        rec.check(
            unit.id,
            Status.FAIL,
            Text("the check itself failed: {kind}: {error}", kind=type(exc).__name__, error=str(exc)),
            duration_ms=elapsed_ms(start),
        )


def _report(ctx: Context, rec: Recorder, redactor: Redactor, started: float, notes: Sequence[str]) -> Report:
    from postwarden.core.doctor.checks.config import settings_block

    only = ctx.options.only
    # --only: the selected stages, plus a stage whose fault stopped a selected one (the
    # walk could not reach auth because the connection failed) with its checks for context
    findings = [f for f in rec.findings if not only or f.stage in only or f.code in rec.blocking]
    shown = set(only) | {f.stage for f in findings}
    checks = [c for c in rec.checks if not only or c.stage in shown]
    order = {stage: i for i, stage in enumerate(STAGE_ORDER)}
    checks.sort(key=lambda c: order.get(c.stage, len(order)))  # stable: completion order within a stage
    report = Report(
        findings=sort_findings(findings),
        checks=tuple(checks),
        duration_ms=elapsed_ms(started),
        settings=settings_block(ctx),
        transcript=tuple(rec.transcript),
        notes=tuple(dict.fromkeys([*notes, *rec.notes])),
    )
    return redactor.report(report)


def run_sync(settings: Settings, options: Options | None = None, **kwargs: Any) -> Report:
    """:func:`run` for callers without an event loop (the CLI, Django views)."""
    return asyncio.run(run(settings, options, **kwargs))


async def stream(
    settings: Settings, options: Options | None = None, **kwargs: Any
) -> AsyncIterator[CheckResult | Report]:
    """Yield each :class:`CheckResult` as it completes, then the :class:`Report` (the
    console's live view). Cancelling the iteration cancels the run."""
    queue: asyncio.Queue[CheckResult] = asyncio.Queue()
    task = asyncio.ensure_future(run(settings, options, on_check=queue.put_nowait, **kwargs))
    try:
        while not task.done() or not queue.empty():
            getter = asyncio.ensure_future(queue.get())
            await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                yield getter.result()
            else:
                getter.cancel()
        yield task.result()
    finally:
        if not task.done():
            task.cancel()
