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
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

from postwarden.core.config.model import Settings
from postwarden.core.dns import DnsClient
from postwarden.core.doctor.checks import standard_units
from postwarden.core.doctor.checks.config import settings_block
from postwarden.core.doctor.context import (
    CheckCallback,
    Context,
    Options,
    Recorder,
    Unit,
    effective_timeout,
    elapsed_ms,
    recipient_of,
)
from postwarden.core.doctor.model import STAGE_ORDER, CheckResult, Report, Status, sort_findings
from postwarden.core.doctor.redact import Redactor
from postwarden.core.doctor.service import ServiceFacts
from postwarden.core.i18n import Number, Text


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
