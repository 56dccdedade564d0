"""What every unit of the doctor reads and writes: the options it was asked, the
:class:`Context` (settings, DNS, timeout, recipient, the service's facts), the
:class:`Recorder` its findings and checks go to, and the :class:`Unit` that is one
concurrently running part of it. The checks (``core/doctor/checks``) and the provider
probes (``core/doctor/providers``) import this module; the runner (``runner.py``) runs
the units, so none of them imports the runner.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from postwarden.core.config.model import Security, Settings
from postwarden.core.dns import DnsClient
from postwarden.core.doctor.model import CheckResult, Code, Finding, ReportedLine, Status
from postwarden.core.doctor.redact import Redactor
from postwarden.core.doctor.service import ServiceFacts

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
        self.transcript: list[ReportedLine] = []
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
