"""What a doctor run produces: findings, check results, the transcript, the report.

The codes, their stages, default severities and titles are in
:mod:`postwarden.core.codes` (one catalogue shared with the reply knowledge base);
this module holds the records built from them and the JSON shape of docs/spec/doctor.md.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from postwarden.core.codes import CATALOGUE, STAGE_ORDER, Code, Severity, rank

__all__ = ["STAGE_ORDER", "CheckResult", "Code", "Finding", "Report", "ReportedLine", "Severity", "Status"]


class Status(enum.StrEnum):
    """The outcome of one check, as the terminal and the console show it."""

    PASS = "pass"  # noqa: S105 - a check status, not a password
    WARN = "warn"
    FAIL = "fail"
    #: not run: a setting it needs is absent, an earlier step failed, or the database is
    #: not available (docs/spec/doctor.md: queue.*, policy.suppressed, config.process_drift)
    SKIP = "skip"


@dataclass(frozen=True, slots=True)
class Finding:
    """One fault, with the evidence (the server's or resolver's exact words) and the steps
    that fix it. ``severity`` and ``title`` default to the catalogue's."""

    code: Code
    severity: Severity
    title: str
    evidence: str
    steps: tuple[str, ...] = ()
    #: a sentence or two on what it means (the knowledge base's explanation)
    explanation: str = ""

    @classmethod
    def of(
        cls,
        code: Code,
        evidence: str,
        steps: Sequence[str] = (),
        *,
        severity: Severity | None = None,
        title: str | None = None,
        explanation: str = "",
    ) -> Finding:
        info = CATALOGUE[code]
        return cls(code, severity or info.severity, title or info.title, evidence, tuple(steps), explanation)

    @property
    def stage(self) -> str:
        return self.code.stage

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "code": self.code.value,
            "severity": self.severity.value,
            "stage": self.stage,
            "title": self.title,
            "evidence": self.evidence,
            "steps": list(self.steps),
        }
        if self.explanation:
            data["explanation"] = self.explanation
        return data


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One line of the report: ``network.connect pass 3 ms connected to 127.0.0.1:587``."""

    id: str
    status: Status
    duration_ms: int
    detail: str = ""

    @property
    def stage(self) -> str:
        return self.id.split(".", 1)[0]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status.value,
            "duration_ms": self.duration_ms,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class ReportedLine:
    """One line of the SMTP conversation (the AUTH exchange already redacted)."""

    dir: str  # "client" | "server"
    line: str

    def to_json(self) -> dict[str, str]:
        return {"dir": self.dir, "line": self.line}


def stage_index(stage: str) -> int:
    return STAGE_ORDER.index(stage) if stage in STAGE_ORDER else len(STAGE_ORDER)


_GRAVITY = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


def sort_findings(findings: Sequence[Finding]) -> tuple[Finding, ...]:
    """Stage order, then table order within a stage; each code once (the gravest kept,
    the first among equals: the probe and real mail can find the same code)."""
    unique: dict[Code, Finding] = {}
    for finding in findings:
        kept = unique.get(finding.code)
        if kept is None or _GRAVITY[finding.severity] < _GRAVITY[kept.severity]:
            unique[finding.code] = finding
    return tuple(sorted(unique.values(), key=lambda f: rank(f.code)))


@dataclass(frozen=True, slots=True)
class Report:
    """A finished doctor run. ``to_json()`` is the contract of docs/spec/doctor.md."""

    findings: tuple[Finding, ...]
    checks: tuple[CheckResult, ...]
    duration_ms: int
    #: where the doctor looked; secrets only as "set"/"empty"
    settings: Mapping[str, Any] = field(default_factory=dict)
    transcript: tuple[ReportedLine, ...] = ()
    #: decisions a person should see: importer translations, "SMTP_SECURITY=tls was read as ssl"
    notes: tuple[str, ...] = ()

    @property
    def root_cause(self) -> Finding | None:
        """The first ``error`` in stage order, or None."""
        return next((f for f in self.findings if f.severity is Severity.ERROR), None)

    @property
    def ok(self) -> bool:
        return self.root_cause is None

    @property
    def exit_status(self) -> int:
        """0 when no finding is an error, else 1 (2, "could not run", never gets a report)."""
        return 0 if self.ok else 1

    def to_json(self) -> dict[str, Any]:
        root = self.root_cause
        data: dict[str, Any] = {
            "ok": self.ok,
            "root_cause": root.code.value if root else None,
            "duration_ms": self.duration_ms,
            "settings": dict(self.settings),
            "findings": [f.to_json() for f in self.findings],
            "checks": [c.to_json() for c in self.checks],
            "transcript": [line.to_json() for line in self.transcript],
        }
        if self.notes:
            data["notes"] = list(self.notes)
        return data
