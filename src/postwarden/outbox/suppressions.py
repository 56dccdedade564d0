"""The suppression list: addresses mail is not sent to.

Who writes it: provider webhooks (hard bounces, complaints, unsubscribes), the API and the
console (manual). Who reads it: the enqueue policy (:func:`is_suppressed`). A bounce
suppression expires (30 days by default, as Postal's list does) and a later successful
send clears it (:func:`clear_bounce`, called by the pipeline); a complaint or an
unsubscribe never expires, because mailing a person who said "spam" or "stop" again is
what gets a sender blocked.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Final

from django.db import IntegrityError, connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from postwarden.core.i18n import keep

# keyed by the lower-cased addr-spec, like Recipient.address (one rule: core.policy)
from postwarden.core.policy import normalize as normalize
from postwarden.outbox.models import Event, Suppression

HARD_BOUNCE: Final = "hard_bounce"
COMPLAINT: Final = "complaint"
UNSUBSCRIBE: Final = "unsubscribe"
MANUAL: Final = "manual"
FAILURES: Final = "failures"
REASONS: Final = (HARD_BOUNCE, COMPLAINT, UNSUBSCRIBE, MANUAL, FAILURES)

#: how long a hard bounce keeps an address off the list of recipients (Postal: 30 days);
#: mailboxes that bounced are sometimes re-created, so a bounce is not forever
BOUNCE_TTL: Final = timedelta(days=30)

#: a suppression that may be replaced by a newer one of another reason; complaints,
#: unsubscribes and manual entries are a person's decision and are never downgraded
_WEAK_REASONS: Final = frozenset({HARD_BOUNCE, FAILURES})

CSV_COLUMNS: Final = ("address", "reason", "detail", "source", "created_at", "expires_at")


def _active(now: datetime) -> Q:
    return Q(expires_at__isnull=True) | Q(expires_at__gt=now)


#: addresses per query: under SQLite's limit of host parameters (32,766 since 3.32)
_CHUNK: Final = 10_000


def is_suppressed(addresses: Iterable[str], *, now: datetime | None = None) -> dict[str, Suppression]:
    """The active (unexpired) suppressions among ``addresses``, keyed by normalized address.
    One query per 10,000 addresses.

    Every message enqueued asks this (the relay once per group commit, the API once per
    batch), and nearly always the answer is "none": so it is one plain statement, not the
    ORM's (which compiled the query anew each time: docs/performance.md), and model
    instances are built only for the rows found."""
    wanted = sorted({normalize(a) for a in addresses if a})
    if not wanted:
        return {}
    moment = connection.ops.adapt_datetimefield_value(now or timezone.now())
    found: dict[str, Suppression] = {}
    with connection.cursor() as cursor:
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            cursor.execute(_active_sql(len(chunk)), [*chunk, moment])
            for row in _instances(cursor.fetchall()):
                found[row.address] = row
    return found


def _active_sql(count: int) -> str:
    meta, quote = Suppression._meta, connection.ops.quote_name
    columns = {f.name: quote(str(f.column)) for f in meta.concrete_fields}
    names, address, expires = ", ".join(columns.values()), columns["address"], columns["expires_at"]
    marks = ", ".join(["%s"] * count)
    # identifiers come from the model, values travel as parameters
    return (
        f"SELECT {names} FROM {quote(meta.db_table)} "  # noqa: S608
        f"WHERE {address} IN ({marks}) AND ({expires} IS NULL OR {expires} > %s)"
    )


def _instances(rows: list[tuple[Any, ...]]) -> list[Suppression]:
    """Model instances from rows of :func:`_active_sql`, with the values converted as the
    ORM converts them (SQLite returns datetimes as text)."""
    if not rows:
        return []
    fields = Suppression._meta.concrete_fields
    columns = [field.get_col(Suppression._meta.db_table) for field in fields]
    converters = [
        (connection.ops.get_db_converters(col) + col.get_db_converters(connection), col) for col in columns
    ]
    instances = []
    for row in rows:
        values = list(row)
        for index, (funcs, col) in enumerate(converters):
            for convert in funcs:
                values[index] = convert(values[index], col, connection)
        instances.append(Suppression.from_db(connection.alias, [f.attname for f in fields], values))
    return instances


def add(
    address: str,
    reason: str,
    *,
    detail: str = "",
    source: str = "",
    event: Event | None = None,
    expires_at: datetime | None = None,
    now: datetime | None = None,
) -> Suppression:
    """Add or refresh the suppression of ``address`` and return the row.

    An existing row is updated when it has expired, when it is a weak reason (bounce,
    failures) or when the new reason is the same; a complaint, an unsubscribe or a manual
    entry is never replaced by a bounce. Raises ValueError for an unknown ``reason`` or an
    empty address."""
    if reason not in REASONS:
        raise ValueError(f"unknown suppression reason {reason!r}; one of {', '.join(REASONS)}")
    key = normalize(address)
    if not key or "@" not in key:
        raise ValueError(f"not an email address: {address!r}")
    now = now or timezone.now()
    values = {
        "reason": reason,
        "detail": str(detail)[:2000],
        "words": keep(detail=detail, source=source) or None,
        "source": str(source)[:255],
        "event": event,
        "expires_at": expires_at,
        "created_at": now,
    }
    for _ in range(2):  # a concurrent insert of the same address loses the race once
        try:
            with transaction.atomic():
                row = Suppression.objects.select_for_update().filter(address=key).first()
                if row is None:
                    return Suppression.objects.create(address=key, **values)
                if _replaceable(row, reason, now):
                    Suppression.objects.filter(pk=row.pk).update(**values)
                    row.refresh_from_db()
                return row
        except IntegrityError:
            continue
    return Suppression.objects.get(address=key)


def _replaceable(row: Suppression, reason: str, now: datetime) -> bool:
    expired = row.expires_at is not None and row.expires_at <= now
    return expired or row.reason == reason or row.reason in _WEAK_REASONS


def add_bounce(
    address: str,
    *,
    detail: str = "",
    source: str = "",
    event: Event | None = None,
    now: datetime | None = None,
    ttl: timedelta = BOUNCE_TTL,
) -> Suppression:
    """A hard bounce: suppressed until ``now + ttl``."""
    now = now or timezone.now()
    return add(address, HARD_BOUNCE, detail=detail, source=source, event=event, expires_at=now + ttl, now=now)


def remove(address: str) -> bool:
    """Delete the suppression of ``address``, whatever its reason. True if there was one."""
    deleted, _ = Suppression.objects.filter(address=normalize(address)).delete()
    return deleted > 0


def clear_bounce(address: str) -> bool:
    """A send to ``address`` succeeded: forget a bounce suppression (never a complaint,
    an unsubscribe or a manual entry). True if one was removed."""
    deleted, _ = Suppression.objects.filter(address=normalize(address), reason=HARD_BOUNCE).delete()
    return deleted > 0


def prune_expired(*, now: datetime | None = None) -> int:
    """Delete expired suppressions; returns how many."""
    deleted, _ = Suppression.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted


def search(
    query: str = "", *, reason: str | None = None, include_expired: bool = False, now: datetime | None = None
) -> QuerySet[Suppression]:
    """Suppressions whose address contains ``query`` (case-insensitive), newest first."""
    rows = Suppression.objects.all()
    if query:
        rows = rows.filter(address__icontains=query.strip().lower())
    if reason:
        rows = rows.filter(reason=reason)
    if not include_expired:
        rows = rows.filter(_active(now or timezone.now()))
    return rows.order_by("-created_at", "-id")


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def export_csv(rows: Iterable[Suppression]) -> str:
    """CSV text with a header row (columns: :data:`CSV_COLUMNS`), for the console's download.
    Values starting with ``= + - @`` are prefixed with ``'`` so a spreadsheet does not run
    them as formulas (CSV injection: the detail is a provider's text). Lines end in CRLF as
    RFC 4180 says; the csv module then quotes a value holding a bare CR too, which with
    ``\n`` endings it left bare and readers split the row there."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        values = (row.address, row.reason, row.detail, row.source, _iso(row.created_at), _iso(row.expires_at))
        writer.writerow([_defuse(v) for v in values])
    return out.getvalue()


def _defuse(value: str) -> str:
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
