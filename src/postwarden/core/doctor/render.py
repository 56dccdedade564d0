"""The doctor's two faces: readable terminal lines, and the JSON of docs/spec/doctor.md.

Both render a :class:`Report` that has already passed the redactor, so neither can
print a secret that the report does not hold. The JSON is English (codes, keys and the
findings' English sentences, for machines); the terminal lines are in the active
language (core/i18n.py). Right to left, every piece of data a finding quotes (the
server's reply, a host, an address) stands on its own line: a terminal's bidirectional
algorithm would otherwise reorder it among the words around it.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Final, TextIO

from postwarden.core.doctor.model import CheckResult, Finding, Report, Severity, Status
from postwarden.core.i18n import format_number, get_language, gettext, localize, ngettext, text_direction

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


def _rtl() -> bool:
    return text_direction() == "rtl"


def status_word(status: Status) -> str:
    """A check's status as the reader's language says it."""
    words = {
        Status.PASS: gettext("pass"),
        Status.WARN: gettext("warn"),
        Status.FAIL: gettext("fail"),
        Status.SKIP: gettext("skip"),
    }
    return words[status]


def number(value: int) -> str:
    """A count or a duration for a person: as is in English, grouped and in the
    language's digits otherwise."""
    return str(value) if get_language() == "en" else format_number(value)


def check_line(check: CheckResult, *, color: bool = False) -> str:
    """``  pass  network.connect            3 ms  connected to 127.0.0.1:587``"""
    width = max(len(status_word(s)) for s in Status)
    status = _paint(f"{status_word(check.status):<{width}}", check.status, color)
    timing = gettext("{ms} ms").format(ms=f"{number(check.duration_ms):>5}") if check.duration_ms else ""
    timing = f"{timing:>8}"
    detail = localize(check.detail)
    if _rtl() and detail:  # the detail quotes data: on its own line, below the check
        return f"  {status}  {check.id:<26} {timing}".rstrip() + f"\n{' ' * (width + 4)}{detail}"
    return f"  {status}  {check.id:<26} {timing}  {detail}".rstrip()


def finding_block(finding: Finding, *, color: bool = False, heading: str = "") -> list[str]:
    label = _paint(f"{finding.severity.word()}: {finding.code.value}", finding.severity, color)
    title, evidence = localize(finding.title), localize(finding.evidence)
    said, meant, steps = gettext("Evidence:"), gettext("What it means:"), gettext("Steps:")
    if _rtl():
        lines = [f"{heading}{title}", f"  {label}", f"  {said}", f"    {evidence}"]
        if finding.explanation:
            lines += [f"  {meant}", f"    {localize(finding.explanation)}"]
    else:
        lines = [f"{heading}{label} - {title}", f"  {said} {evidence}"]
        if finding.explanation:
            lines.append(f"  {meant} {localize(finding.explanation)}")
    if finding.steps:
        lines.append(f"  {steps}")
        lines += [f"    {number(n)}. {localize(step)}" for n, step in enumerate(finding.steps, 1)]
    return lines


def summary(report: Report, *, color: bool = False) -> str:
    """What follows the check lines: the root cause with evidence and numbered steps,
    the other findings, the notes, and a one-line verdict."""
    lines = [""]
    root = report.root_cause
    if root is not None:
        lines += finding_block(root, color=color, heading=_paint(gettext("Root cause: "), "bold", color))
    others = [f for f in report.findings if f is not root]
    if others:
        lines += ["", _paint(gettext("Also found:"), "bold", color)]
        for finding in others:
            lines += ["", *finding_block(finding, color=color)]
    if report.notes:
        lines += [
            "",
            _paint(gettext("Notes:"), "bold", color),
            *(f"  - {localize(note)}" for note in report.notes),
        ]
    errors = sum(f.severity is Severity.ERROR for f in report.findings)
    warnings = sum(f.severity is Severity.WARNING for f in report.findings)
    # "All clear" only when nothing at all was found: a warning can be mail that waits
    verdict = (
        gettext("Problems found") if errors else (gettext("Warnings") if warnings else gettext("All clear"))
    )
    line = gettext("{verdict}: {errors}, {warnings} ({ms} ms).").format(
        verdict=verdict,
        errors=ngettext("{n} error", "{n} errors", errors).format(n=number(errors)),
        warnings=ngettext("{n} warning", "{n} warnings", warnings).format(n=number(warnings)),
        ms=number(report.duration_ms),
    )
    lines += ["", _paint(line, "bold", color)]
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
