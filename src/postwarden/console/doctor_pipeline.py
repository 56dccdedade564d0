"""The doctor's report (the JSON contract of docs/spec/doctor.md) shaped for the page: the
stages as a pipeline, each with the worst status of its checks, and the root cause."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from postwarden.core import i18n
from postwarden.core.codes import STAGE_ORDER

#: worst first
_RANK: Final = {"fail": 3, "warn": 2, "pass": 1, "skip": 0}
LABELS: Final[dict[str, Promise]] = {
    "config": _("Settings"),
    "queue": _("Queue & worker"),
    "network": _("Network"),
    "tls": _("TLS"),
    "auth": _("AUTH"),
    "envelope": _("Envelope"),
    "policy": _("Policy"),
    "provider": _("Provider"),
    "dns": _("DNS"),
    "links": _("Links"),
}


@dataclass(frozen=True, slots=True)
class StageBox:
    stage: str
    label: object
    status: str
    checks: int


def pipeline(report: Mapping[str, Any]) -> list[StageBox]:
    """Each stage's worst check status; a stage with an error finding is ``fail`` even
    when its checks were skipped (e.g. config.missing stops everything after it)."""
    worst: dict[str, str] = {}
    counts: dict[str, int] = {}
    for check in report.get("checks", []):
        stage = str(check.get("id", "")).split(".", 1)[0]
        status = str(check.get("status", "skip"))
        counts[stage] = counts.get(stage, 0) + 1
        if _RANK.get(status, 0) > _RANK.get(worst.get(stage, "skip"), 0):
            worst[stage] = status
    for finding in report.get("findings", []):
        status = "fail" if finding.get("severity") == "error" else "warn"
        stage = str(finding.get("stage", ""))
        if _RANK[status] > _RANK.get(worst.get(stage, "skip"), 0):
            worst[stage] = status
    return [StageBox(s, LABELS.get(s, s), worst.get(s, "skip"), counts.get(s, 0)) for s in STAGE_ORDER]


def root_cause(report: Mapping[str, Any]) -> Mapping[str, Any] | None:
    code = report.get("root_cause")
    if not code:
        return None
    return next((f for f in report.get("findings", []) if f.get("code") == code), None)


def others(report: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    code = report.get("root_cause")
    return [f for f in report.get("findings", []) if f.get("code") != code]


def settings_rows(report: Mapping[str, Any]) -> list[tuple[str, list[str]]]:
    """The report's settings block as rows of lines (a nested mapping, such as the
    sources, becomes one ``name: value`` line each)."""
    rows = []
    for key, value in dict(report.get("settings", {})).items():
        if isinstance(value, Mapping):
            rows.append((str(key), [f"{k}: {v}" for k, v in value.items()]))
        else:
            rows.append((str(key), [str(value)]))
    return rows


def translations(report: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """The report's sentences (core Text: titles, details, steps, notes) in every shipped
    language, by their place in the report ("/findings/0/title"). The report itself is
    stored as the JSON contract has it, in English; a later reader gets these."""
    said: dict[str, dict[str, str]] = {}
    for path, text in _texts(report, ""):
        for language in i18n.LANGUAGES[1:]:
            said.setdefault(language, {})[path] = text.localized(language)
    return said


def in_language(report: Mapping[str, Any], said: Mapping[str, Mapping[str, str]], language: str) -> Any:
    """``report`` with the sentences said in ``language`` where they were kept."""
    words = said.get(language)
    return _replace(report, "", words) if words else report


def _texts(value: object, path: str) -> Iterator[tuple[str, i18n.Text]]:
    if isinstance(value, i18n.Text):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _texts(item, f"{path}/{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _texts(item, f"{path}/{index}")


def _replace(value: object, path: str, words: Mapping[str, str]) -> object:
    if path in words:
        return words[path]
    if isinstance(value, Mapping):
        return {key: _replace(item, f"{path}/{key}", words) for key, item in value.items()}
    if isinstance(value, list):
        return [_replace(item, f"{path}/{index}", words) for index, item in enumerate(value)]
    return value
