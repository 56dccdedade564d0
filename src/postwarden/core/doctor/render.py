"""The doctor's two faces: readable terminal lines, and the JSON of docs/spec/doctor.md.

Both render a :class:`Report` that has already passed the redactor, so neither can
print a secret that the report does not hold.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Final, TextIO

from postwarden.core.doctor.model import CheckResult, Finding, Report, Severity, Status

_RESET: Final = "\033[0m"
_STYLE: Final[dict[str, str]] = {
    Status.PASS: "\033[32m",
    Status.WARN: "\033[33m",
    Status.FAIL: "\033[31m",
    Status.SKIP: "\033[2m",
    Severity.ERROR: "\033[1;31m",
    Severity.WARNING: "\033[1;33m",
    "bold": "\033[1m",
    "dim": "\033[2m",
}


def use_color(stream: TextIO, environ: dict[str, str] | None = None) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    env = os.environ if environ is None else environ
    return "NO_COLOR" not in env and hasattr(stream, "isatty") and stream.isatty()


def _paint(text: str, style: str, color: bool) -> str:
    return f"{_STYLE[style]}{text}{_RESET}" if color else text


def check_line(check: CheckResult, *, color: bool = False) -> str:
    """``  pass  network.connect            3 ms  connected to 127.0.0.1:587``"""
    status = _paint(f"{check.status.value:<4}", check.status, color)
    timing = f"{check.duration_ms:>5} ms" if check.duration_ms else " " * 8
    return f"  {status}  {check.id:<26} {timing}  {check.detail}".rstrip()


def finding_block(finding: Finding, *, color: bool = False, heading: str = "") -> list[str]:
    label = _paint(f"{finding.severity.value}: {finding.code.value}", finding.severity, color)
    lines = [f"{heading}{label} - {finding.title}"]
    lines.append(f"  Evidence: {finding.evidence}")
    if finding.explanation:
        lines.append(f"  What it means: {finding.explanation}")
    if finding.steps:
        lines.append("  Steps:")
        lines += [f"    {n}. {step}" for n, step in enumerate(finding.steps, 1)]
    return lines


def summary(report: Report, *, color: bool = False) -> str:
    """What follows the check lines: the root cause with evidence and numbered steps,
    the other findings, the notes, and a one-line verdict."""
    lines = [""]
    root = report.root_cause
    if root is not None:
        lines += finding_block(root, color=color, heading=_paint("Root cause: ", "bold", color))
    others = [f for f in report.findings if f is not root]
    if others:
        lines += ["", _paint("Also found:", "bold", color)]
        for finding in others:
            lines += ["", *finding_block(finding, color=color)]
    if report.notes:
        lines += ["", _paint("Notes:", "bold", color), *(f"  - {note}" for note in report.notes)]
    errors = sum(f.severity is Severity.ERROR for f in report.findings)
    warnings = sum(f.severity is Severity.WARNING for f in report.findings)
    counts = f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"
    # "All clear" only when nothing at all was found: a warning can be mail that waits
    verdict = "Problems found" if errors else ("Warnings" if warnings else "All clear")
    lines += ["", _paint(f"{verdict}: {counts} ({report.duration_ms} ms).", "bold", color)]
    return "\n".join(lines)


def to_json(report: Report) -> str:
    return json.dumps(report.to_json(), indent=2, ensure_ascii=False)


def print_live(stream: TextIO = sys.stdout, *, color: bool | None = None) -> Callable[[CheckResult], None]:
    """A ``on_check`` callback that prints each check the moment it completes."""
    painted = use_color(stream) if color is None else color

    def show(check: CheckResult) -> None:
        stream.write(check_line(check, color=painted) + "\n")
        stream.flush()

    return show
