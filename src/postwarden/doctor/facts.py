"""Gather what only the service's database knows, as plain data for the core doctor
(:class:`~postwarden.core.doctor.service.ServiceFacts`): queue figures, worker heartbeats,
the outbox's own policy decision for the test recipient, and recent messages' links.

A handful of indexed, bounded queries: the doctor must stay fast on a million rows. The
command line reads the same facts without Django (:mod:`postwarden.doctor.lean`).
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, Min, Q, QuerySet
from django.utils import timezone

from postwarden.core.config.model import Settings
from postwarden.core.doctor.service import QueueFacts, RecipientPolicy, ServiceFacts, WorkerFacts
from postwarden.doctor.lean import DEAD_WINDOW, ERROR_SAMPLE, RECENT_MESSAGES, WORKERS
from postwarden.outbox import policy
from postwarden.outbox.heartbeat import settings_fingerprint
from postwarden.outbox.models import Content, Recipient, State, WorkerHeartbeat


def _most_common(rows: QuerySet[Recipient]) -> tuple[str, int] | None:
    sample = rows.exclude(last_reply="").order_by("-updated_at").values_list("pk", flat=True)[:ERROR_SAMPLE]
    top = (
        Recipient.objects.filter(pk__in=list(sample))
        .values("last_reply")
        .annotate(n=Count("pk"))
        .order_by("-n", "last_reply")
        .first()
    )
    return (str(top["last_reply"]), int(top["n"])) if top else None


def queue_facts(now: datetime) -> QueueFacts:
    due = Recipient.objects.filter(state__in=(State.QUEUED, State.DEFERRED)).filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )
    figures = due.aggregate(n=Count("pk"), oldest=Min("queued_at"))
    retrying = Recipient.objects.filter(state=State.DEFERRED)
    dead = Recipient.objects.filter(state=State.DEAD, updated_at__gte=now - DEAD_WINDOW)
    n_retrying, n_dead = retrying.count(), dead.count()
    oldest = figures["oldest"]
    return QueueFacts(
        waiting=int(figures["n"]),
        oldest_age=(now - oldest).total_seconds() if oldest else None,
        retrying=n_retrying,
        dominant_error=_most_common(retrying) if n_retrying else None,
        dead=n_dead,
        dead_error=_most_common(dead) if n_dead else None,
        dead_window_hours=int(DEAD_WINDOW.total_seconds() // 3600),
    )


def worker_facts(now: datetime) -> tuple[WorkerFacts, ...]:
    rows = WorkerHeartbeat.objects.order_by("-last_seen")[:WORKERS]
    return tuple(
        WorkerFacts(
            w.worker_id, w.host, (now - w.last_seen).total_seconds(), w.status, w.fingerprint, w.transport
        )
        for w in rows
    )


def recent_messages() -> tuple[tuple[str, str], ...]:
    rows = (
        Content.objects.select_related("message")
        .order_by("-message__created_at")
        .values_list("message__public_id", "text", "html")[:RECENT_MESSAGES]
    )
    return tuple((str(pid), f"{text or ''}\n{html or ''}") for pid, text, html in rows)


def collect(settings: Settings, recipient: str | None, *, now: datetime | None = None) -> ServiceFacts:
    """Everything the core doctor needs from the database. Raises the database's errors."""
    now = now or timezone.now()
    decision, members = None, frozenset[str]()
    if recipient:
        decisions = policy.decide([recipient], settings, now=now)
        state, reason = next(iter(decisions.values()))
        decision = RecipientPolicy(str(state), reason)
        members = frozenset(policy.members_among([recipient]))
    return ServiceFacts(
        queue=queue_facts(now),
        workers=worker_facts(now),
        fingerprint=settings_fingerprint(settings),
        recipient=decision,
        members=members,
        recent_messages=recent_messages(),
    )
