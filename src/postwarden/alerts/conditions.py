"""What is watched, and when a change of it is an alert.

The doctor names what is wrong (its finding codes are the contract of docs/spec/doctor.md),
so the alerts own no checks of their own: every minute the monitor runs the doctor's
database-only checks (core/doctor/checks.database_units: the queue, recent real sends,
the canaries once they are doctor findings), and on a schedule the whole doctor. A
condition is a finding code that alerts (:data:`ALERTING`, or any finding of severity
error); it fires when its finding appears and resolves when it is gone, one alert each
time, none while it stays as it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from django.db import transaction
from django.utils import timezone

from postwarden.alerts.models import Alert, Condition
from postwarden.core.doctor.model import Finding, Report, Severity
from postwarden.core.i18n import Text, as_data, kept, ntext

#: the codes that alert whatever their severity (issue #14's triggers); beyond these, any
#: finding of severity error does
ALERTING: Final = frozenset(
    {
        "queue.worker_down",
        "queue.dead_letters",
        "queue.bounce_rate",
        "provider.account_suspended",
        "provider.sandbox",
        "canary.missing",
        "canary.junk",
        "canary.auth_failed",
        "canary.mailbox_unreachable",
    }
)
#: the condition of the scheduled doctor as a whole
SCHEDULED: Final = "doctor.scheduled"
#: the sources that own conditions
DATABASE: Final = "database"
DOCTOR: Final = "doctor"

#: console page by code prefix (the longest match wins); the doctor's page otherwise
PAGES: Final[dict[str, str]] = {
    "queue.dead_letters": "/held/",
    "queue.bounce_rate": "/deliveries/?state=bounced",
    "queue.": "/",
    "canary.": "/canaries/",
}
DEFAULT_PAGE: Final = "/doctor/"


@dataclass(frozen=True)
class Observation:
    """A condition seen firing now."""

    key: str
    title: str
    evidence: str
    page: str


def page_of(key: str) -> str:
    matches = [prefix for prefix in PAGES if key.startswith(prefix)]
    return PAGES[max(matches, key=len)] if matches else DEFAULT_PAGE


def alerting(findings: Iterable[Finding]) -> list[Observation]:
    """The findings that are alert conditions, one per code (the first ranks highest)."""
    seen: dict[str, Observation] = {}
    for finding in findings:
        code = finding.code.value
        if code in seen or (code not in ALERTING and finding.severity is not Severity.ERROR):
            continue
        seen[code] = Observation(code, finding.title, finding.evidence, page_of(code))
    return list(seen.values())


def scheduled(report: Report) -> list[Observation]:
    """The scheduled doctor's condition: firing while it finds an error, with its root
    cause as the evidence."""
    errors = [f for f in report.findings if f.severity is Severity.ERROR]
    if not errors:
        return []
    cause = report.root_cause or errors[0]
    more = (
        ntext(" (and {n} more error)", " (and {n} more errors)", len(errors) - 1) if len(errors) > 1 else ""
    )
    evidence = Text(
        "{code}: {title}. {evidence}{more}",
        code=cause.code.value,
        title=cause.title,
        evidence=cause.evidence,
        more=more,
    )
    return [Observation(SCHEDULED, Text("The scheduled doctor found an error"), evidence, DEFAULT_PAGE)]


def words_of(title: str, evidence: str) -> dict[str, object]:
    """What a row keeps of a title and an evidence to say them again in another language."""
    return {"title": as_data(title), "evidence": as_data(evidence)}


def said(words: dict[str, object], name: str, english: str) -> str:
    """The sentence ``name`` a row kept (a :class:`Text` again), else its English column."""
    return kept(words, name, english)


@dataclass(frozen=True)
class Change:
    kind: str  # Alert.Kind
    observation: Observation


def observe(source: str, firing: Sequence[Observation], now: datetime | None = None) -> list[Change]:
    """Record what ``source`` sees firing now; returns the changes (fired, resolved). The
    conditions of ``source`` not in ``firing`` are clear."""
    now = now or timezone.now()
    changes: list[Change] = []
    wanted = {o.key: o for o in firing}
    with transaction.atomic():
        known = {c.key: c for c in Condition.objects.select_for_update().filter(key__in=list(wanted))}
        known.update(
            {c.key: c for c in Condition.objects.select_for_update().filter(source=source, firing=True)}
        )
        for key, seen in wanted.items():
            row = known.get(key)
            if row is None or not row.firing:
                changes.append(Change(Alert.Kind.FIRING, seen))
                Condition.objects.update_or_create(
                    key=key,
                    defaults={
                        "source": source,
                        "firing": True,
                        "since": now,
                        "title": seen.title[:300],
                        "evidence": seen.evidence,
                        "page": seen.page,
                        "words": words_of(seen.title, seen.evidence),
                    },
                )
            elif (row.evidence, row.title) != (seen.evidence, seen.title[:300]):
                row.evidence, row.title = seen.evidence, seen.title[:300]
                row.words = words_of(seen.title, seen.evidence)
                row.save(update_fields=["evidence", "title", "words"])
        for key, row in known.items():
            if key in wanted or not row.firing or row.source != source:
                continue
            title, evidence = said(row.words, "title", row.title), said(row.words, "evidence", row.evidence)
            changes.append(Change(Alert.Kind.RESOLVED, Observation(key, title, evidence, row.page)))
            row.firing, row.since = False, now
            row.save(update_fields=["firing", "since"])
    return changes
