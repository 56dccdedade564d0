"""The alerts' outbox: an alert is stored with one delivery per destination before
anything is sent, then sent by the monitor (never by the worker: an alert endpoint that
hangs never holds up mail), retried with a doubling delay while its endpoint fails, and
given up after :data:`GIVE_UP` with the reason kept in the history and logged.

Rate limit: at most POSTWARDEN_ALERT_MAX_PER_HOUR alerts are sent per hour; more are
stored as held (shown in the history, not sent), and the next alert sent says how many
were held back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Final

from django.db import transaction
from django.utils import timezone

from postwarden.alerts import destinations
from postwarden.alerts.conditions import Change, said, words_of
from postwarden.alerts.models import Alert, Delivery
from postwarden.core.config.model import Settings
from postwarden.core.i18n import Text, as_data, format_datetime, gettext, keep, localize, ntext, override

log = logging.getLogger("postwarden.alerts")

#: an alert not delivered after this long is given up (failed, with its reason)
GIVE_UP: Final = timedelta(hours=24)
#: the longest wait between two tries
MAX_RETRY: Final = timedelta(minutes=15)
#: deliveries tried per run of the sending job at most
BATCH: Final = 50
#: the alert page of the console
ALERTS_PAGE: Final = "/alerts/"


def base_url(settings: Settings) -> str:
    """The console's address for links: POSTWARDEN_PUBLIC_URL, else where it listens."""
    public = settings.webhooks.public_url
    if public:
        return public.rstrip("/")
    host = settings.service.host
    host = "localhost" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 - a listen address, read
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{settings.service.port}"


def record(changes: Sequence[Change], settings: Settings, now: datetime | None = None) -> list[Alert]:
    """Store an alert per change, with its deliveries (or held, or without destination)."""
    now = now or timezone.now()
    made = []
    for change in changes:
        seen = change.observation
        made.append(
            _store(
                settings,
                kind=change.kind,
                key=seen.key,
                title=seen.title,
                evidence=seen.evidence,
                link=base_url(settings) + seen.page,
                now=now,
            )
        )
    return made


def _store(
    settings: Settings, *, kind: str, key: str, title: str, evidence: str, link: str, now: datetime
) -> Alert:
    targets = destinations.configured(settings)
    with transaction.atomic():
        alert = Alert(
            created_at=now, kind=kind, key=key[:100], title=title[:300], evidence=evidence, link=link[:500]
        )
        note: str = ""
        if not targets:
            alert.status = Alert.Status.NO_DESTINATION
            note = Text("no alert URL is configured (POSTWARDEN_ALERT_URLS, or console > Alerts)")
        elif kind != Alert.Kind.TEST and _sent_last_hour(now) >= settings.alerts.max_per_hour:
            alert.status = Alert.Status.HELD
            note = ntext(
                "held back: {n} alert was sent in the last hour (POSTWARDEN_ALERT_MAX_PER_HOUR)",
                "held back: {n} alerts were sent in the last hour (POSTWARDEN_ALERT_MAX_PER_HOUR)",
                settings.alerts.max_per_hour,
            )
        else:
            held = _held_since_last()
            if held:
                note = ntext(
                    "{n} alert before this one was held back by the rate limit",
                    "{n} alerts before this one were held back by the rate limit",
                    held,
                )
        alert.note = note
        alert.words = {**words_of(title, evidence), "note": as_data(note)}
        alert.save()
        if alert.status == Alert.Status.PENDING:
            Delivery.objects.bulk_create(
                [
                    Delivery(alert=alert, destination=t.key, label=t.label, next_attempt_at=now)
                    for t in targets
                ]
            )
    log.info("alert stored", extra={"alert": alert.pk, "kind": kind, "key": key, "status": alert.status})
    return alert


def _sent_last_hour(now: datetime) -> int:
    return (
        Alert.objects.filter(created_at__gt=now - timedelta(hours=1))
        .exclude(kind=Alert.Kind.TEST)
        .filter(status__in=(Alert.Status.PENDING, Alert.Status.SENT, Alert.Status.FAILED))
        .count()
    )


def _held_since_last() -> int:
    last = (
        Alert.objects.exclude(kind=Alert.Kind.TEST)
        .filter(status__in=(Alert.Status.PENDING, Alert.Status.SENT, Alert.Status.FAILED))
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )
    held = Alert.objects.filter(status=Alert.Status.HELD)
    return held.filter(id__gt=last).count() if last else held.count()


def message(alert: Alert, language: str = "en") -> tuple[str, str]:
    """The notification's title and body in ``language`` (the instance's,
    POSTWARDEN_LANGUAGE): what broke, the evidence, the console's page. The finding's
    title is said in it; the evidence quotes a server's words as they came."""
    with override(language):
        return _message(alert)


def _message(alert: Alert) -> tuple[str, str]:
    at = format_datetime(alert.created_at, seconds=False) + " UTC"
    what = localize(said(alert.words, "title", alert.title))
    evidence = localize(said(alert.words, "evidence", alert.evidence))
    if alert.kind == Alert.Kind.TEST:
        title = gettext("Postwarden: test alert")
        lines = [
            gettext(
                "This is a test alert from Postwarden, sent at {at}. Alerts reach this destination."
            ).format(at=at)
        ]
    elif alert.kind == Alert.Kind.RESOLVED:
        title = gettext("Postwarden resolved: {title} ({key})").format(title=what, key=alert.key)
        lines = [
            gettext("Resolved at {at}: {title} ({key}) is no longer found.").format(
                at=at, title=what, key=alert.key
            ),
            gettext("Last evidence: {evidence}").format(evidence=evidence),
        ]
    else:
        title = gettext("Postwarden alert: {title} ({key})").format(title=what, key=alert.key)
        lines = [
            gettext("What broke: {title} ({key}), found at {at}.").format(title=what, key=alert.key, at=at),
            gettext("Evidence: {evidence}").format(evidence=evidence),
        ]
    if alert.link:
        lines.append(gettext("Console: {link}").format(link=alert.link))
    if alert.note:
        note = localize(said(alert.words, "note", alert.note))
        lines.append(gettext("Note: {note}.").format(note=note))
    return title, "\n".join(lines)


def send_test_alert(settings: Settings, now: datetime | None = None) -> Alert:
    """The console's "Send test alert": stored, then sent at once to every destination
    (not retried: the person pressing the button sees the outcome)."""
    alert = _store(
        settings,
        kind=Alert.Kind.TEST,
        key="test",
        title=Text("Test alert"),
        evidence="",
        link=base_url(settings) + ALERTS_PAGE,
        now=now or timezone.now(),
    )
    targets = {t.key: t for t in destinations.configured(settings)}
    for delivery in alert.deliveries.all():
        _attempt(delivery, targets, retry=False, language=settings.service.language)
    _settle(alert)
    alert.refresh_from_db()
    return alert


def send_due(settings: Settings, stopping: Callable[[], bool] = lambda: False) -> int:
    """Try the deliveries that are due (the sending job); returns how many were tried."""
    now = timezone.now()
    due = list(
        Delivery.objects.filter(status=Delivery.Status.PENDING, next_attempt_at__lte=now)
        .select_related("alert")
        .order_by("next_attempt_at", "id")[:BATCH]
    )
    targets = {t.key: t for t in destinations.configured(settings)}
    failing: set[str] = set()
    tried = 0
    for delivery in due:
        if stopping():
            break
        if delivery.destination in failing:  # down a moment ago: its other alerts wait their turn
            _postpone(delivery, settings, now)
            continue
        tried += 1
        if not _attempt(delivery, targets, retry=True, settings=settings, language=settings.service.language):
            failing.add(delivery.destination)
        _settle(delivery.alert)
    return tried


def _attempt(
    delivery: Delivery,
    targets: dict[str, destinations.Destination],
    *,
    retry: bool,
    settings: Settings | None = None,
    language: str = "en",
) -> bool:
    alert = delivery.alert
    target = targets.get(delivery.destination)
    now = timezone.now()
    delivery.attempts += 1
    if target is None:
        error: str | None = Text("the destination was removed from the alert URLs before it was sent")
        retry = False
    else:
        title, body = message(alert, language)
        error = destinations.send(target, title, body)
    if error is None:
        delivery.status, delivery.sent_at, delivery.last_error = Delivery.Status.SENT, now, ""
        log.info("alert sent", extra={"alert": alert.pk, "key": alert.key, "to": delivery.label})
    elif retry and settings is not None and now - alert.created_at < GIVE_UP:
        delivery.last_error = error
        delivery.next_attempt_at = now + _backoff(settings, delivery.attempts)
        log.warning(
            "alert not sent; will retry",
            extra={
                "alert": alert.pk,
                "key": alert.key,
                "to": delivery.label,
                "error": error,
                "attempts": delivery.attempts,
            },
        )
    else:
        delivery.status, delivery.last_error = Delivery.Status.FAILED, error
        log.error(
            "alert not delivered; given up",
            extra={
                "alert": alert.pk,
                "key": alert.key,
                "to": delivery.label,
                "error": error,
                "attempts": delivery.attempts,
            },
        )
    # English for the API and the logs; the sentence, when it is one of ours, for the page
    delivery.words = keep(last_error=error) if error is not None else None
    delivery.last_error = str(delivery.last_error)
    delivery.save(update_fields=["status", "attempts", "sent_at", "last_error", "next_attempt_at", "words"])
    return error is None


def _postpone(delivery: Delivery, settings: Settings, now: datetime) -> None:
    delivery.next_attempt_at = now + timedelta(seconds=settings.alerts.retry_seconds)
    delivery.save(update_fields=["next_attempt_at"])


def _backoff(settings: Settings, attempts: int) -> timedelta:
    seconds = settings.alerts.retry_seconds * 2 ** min(max(attempts - 1, 0), 16)
    return min(MAX_RETRY, timedelta(seconds=seconds))


def _settle(alert: Alert) -> None:
    """The alert's status from its deliveries': pending while one is, else failed when
    one failed, else sent."""
    states = set(alert.deliveries.values_list("status", flat=True))
    if not states or Delivery.Status.PENDING in states:
        return
    status = Alert.Status.FAILED if Delivery.Status.FAILED in states else Alert.Status.SENT
    Alert.objects.filter(pk=alert.pk).update(status=status)
