"""The doctor's database reads in plain SQL: the one read path for ``postwarden doctor``
on the command line and for the doctor inside the service (the console, the API, the
monitor, ``doctor --send``). The settings saved in the console, queue figures, worker
heartbeats, the policy decision for the test recipient and recent messages' text, read
through a DB-API connection.

Why plain SQL: setting Django up (every app, model, admin and system check) cost the doctor
some 0.8 s of CPU, twice what the rest of a healthy run costs, to read a dozen rows. So the
command line opens the database with the standard library's sqlite3 (or psycopg) and no
Django (:func:`connect`); inside the service, where Django runs anyway, the same queries
run on Django's own connection (:meth:`Db.of_django`, called by doctor/report.py). The
policy decision is core/policy.py's, as the outbox's; a parity test
(tests/doctor/test_db_reads.py) holds :func:`decide` to :func:`postwarden.outbox.policy.decide`.

Only reads; never creates or migrates anything. Table and column names are Django's
defaults for the models named in each query's comment. This module never imports Django.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from postwarden.core import policy
from postwarden.core.config.model import Settings
from postwarden.core.config.service import fingerprint
from postwarden.core.config.stored import Unsealer, unsealed
from postwarden.core.doctor.service import (
    ACCEPTED_STATES,
    FAILED_STATES,
    CanaryFacts,
    QueueFacts,
    RecipientPolicy,
    SendFacts,
    ServiceFacts,
    StoredTemplate,
    WorkerFacts,
)
from postwarden.core.i18n import Text
from postwarden.core.secrets import Secret

#: dead letters (and permanent failures) older than this are history, not a current fault
DEAD_WINDOW: Final = timedelta(hours=24)
#: recent messages whose links the links stage reads
RECENT_MESSAGES: Final = 20
#: stored templates the links stage renders (their newest versions, by name)
TEMPLATES: Final = 200
#: only so many rows are grouped to find the most common error (an indexed slice)
ERROR_SAMPLE: Final = 2000
#: heartbeats read (the newest first)
WORKERS: Final = 50
#: the newest messages whose sizes and recipients' fates are read (an indexed slice by
#: created_at, so the doctor stays fast on a million rows)
RECENT_WINDOW: Final = 200
#: the most recently changed recipients among them whose fate is judged
RECENT_SENDS: Final = 50
#: canary mailboxes the canary stage reads at most
CANARIES: Final = 100
#: seconds to wait for a database lock or a PostgreSQL connection
_WAIT: Final = 5


class Unsupported(Exception):
    """A database this reader does not read (another engine, psycopg not installed)."""


class Db:
    """A DB-API connection and how to talk to it: ``?`` placeholders in the queries
    below become ``%s`` for psycopg; SQLite keeps datetimes as naive UTC text (as Django
    writes them), PostgreSQL as aware timestamps."""

    def __init__(self, connection: Any, *, sqlite: bool) -> None:
        self.connection = connection
        self.sqlite = sqlite

    @classmethod
    def of_django(cls, connection: Any) -> Db:
        """Django's connection (``django.db.connection``) as a :class:`Db`: the same
        DB-API connection, so the reads see the caller's transaction."""
        connection.ensure_connection()
        return cls(connection.connection, sqlite=connection.vendor == "sqlite")

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cursor = self.connection.cursor()
        try:
            cursor.execute(sql if self.sqlite else sql.replace("?", "%s"), list(params))
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def moment(self, value: datetime) -> Any:
        """``value`` as a query parameter compared with a datetime column."""
        if self.sqlite:  # what Django's SQLite backend writes: str() of the naive UTC time
            return str(value.astimezone(UTC).replace(tzinfo=None))
        return value


def aware(value: Any) -> datetime | None:
    """A datetime column's value as an aware UTC datetime (None stays None)."""
    if value is None:
        return None
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@contextmanager
def connect(database_url: str) -> Iterator[Db]:
    """A read-only connection to the service's database. Raises :class:`Unsupported`
    for an engine it does not read, else the driver's errors."""
    scheme = urlsplit(database_url).scheme
    if scheme == "sqlite":
        import sqlite3

        path = urlsplit(database_url).path
        connection: Any = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, timeout=_WAIT)
        sqlite = True
    elif scheme in ("postgres", "postgresql"):
        try:
            import psycopg
        except ImportError as exc:
            raise Unsupported(Text("psycopg is not installed ({error})", error=str(exc))) from None
        connection = psycopg.connect(database_url, connect_timeout=_WAIT, autocommit=True)
        sqlite = False
    else:
        raise Unsupported(Text("no plain reader for {scheme} databases", scheme=scheme or "this"))
    try:
        yield Db(connection, sqlite=sqlite)
    finally:
        connection.close()


def stored_values(db: Db, key: Secret) -> dict[str, str]:
    """The settings saved in the console (configstore.StoredSetting), secrets unsealed."""
    rows = db.rows("SELECT name, value, sealed FROM configstore_storedsetting")
    return unsealed(rows, lambda: _sealer(key))


def _sealer(key: Secret) -> Unsealer:
    from postwarden.core.sealing import Sealer  # cryptography's Fernet: only when there is a secret

    return Sealer(key)


def collect(db: Db, settings: Settings, recipient: str | None, key: Secret, now: datetime) -> ServiceFacts:
    """Everything the core doctor needs from the database. ``key``: the service's secret
    key (the settings' fingerprint is keyed with it, as the workers' are). Raises the
    driver's errors."""
    decision, members = None, frozenset[str]()
    if recipient:
        members = frozenset(_members(db, [recipient.strip().lower()]))
        decision = decide(db, recipient, settings, members, now)
    window = timedelta(hours=settings.alerts.bounce_window_hours)
    return ServiceFacts(
        queue=bounce_facts(db, now, window, queue_facts(db, now)),
        workers=worker_facts(db, now),
        fingerprint=fingerprint(settings, key),
        recipient=decision,
        members=members,
        recent_messages=recent_messages(db),
        recent_sizes=recent_sizes(db),
        recent_sends=recent_sends(db, now),
        templates=stored_templates(db),
        canaries=canary_facts(db, now),
    )


def queue_facts(db: Db, now: datetime) -> QueueFacts:
    # outbox.Recipient; "due" is what the worker would claim now, and what a worker has
    # claimed (state sending, under a lease) is not sent either
    [(waiting, oldest)] = db.rows(
        "SELECT COUNT(*), MIN(queued_at) FROM (SELECT queued_at FROM outbox_recipient "
        "WHERE state IN ('queued', 'deferred') AND (next_attempt_at IS NULL OR next_attempt_at <= ?) "
        "UNION ALL SELECT queued_at FROM outbox_recipient WHERE state = 'sending') AS waiting",
        [db.moment(now)],
    )
    [(claimed,)] = db.rows("SELECT COUNT(*) FROM outbox_recipient WHERE state = 'sending'")
    [(retrying,)] = db.rows("SELECT COUNT(*) FROM outbox_recipient WHERE state = 'deferred'")
    dead_since = db.moment(now - DEAD_WINDOW)
    dead_recently, failed_recently = _ended_recently("dead"), _ended_recently("failed")
    [(dead,)] = db.rows(f"SELECT COUNT(*) FROM outbox_recipient WHERE {dead_recently}", [dead_since])  # noqa: S608
    [(failed,)] = db.rows(f"SELECT COUNT(*) FROM outbox_recipient WHERE {failed_recently}", [dead_since])  # noqa: S608
    oldest_at = aware(oldest)
    return QueueFacts(
        waiting=int(waiting),
        oldest_age=(now - oldest_at).total_seconds() if oldest_at else None,
        retrying=int(retrying),
        dominant_error=_most_common(db, "state = 'deferred'", []) if retrying else None,
        dead=int(dead),
        dead_error=_most_common(db, dead_recently, [dead_since]) if dead else None,
        dead_window_hours=int(DEAD_WINDOW.total_seconds() // 3600),
        failed=int(failed),
        failed_error=_most_common(db, failed_recently, [dead_since]) if failed else None,
        claimed=int(claimed),
    )


def _ended_recently(state: str) -> str:
    """Recipients in ``state`` (dead or failed) since a time, read through the partial
    index rcpt_ended: its condition word for word first (SQLite uses a partial index
    only for a query that repeats it), so the count follows the failures of the window
    and not every failure in the history."""
    return f"state IN ('dead', 'failed') AND state = '{state}' AND updated_at >= ?"


def bounce_facts(db: Db, now: datetime, window: timedelta, queue: QueueFacts) -> QueueFacts:
    """``queue`` with how the recipients of the messages made within ``window`` fared: accepted (sent,
    delivered, bounced, complained), and of them bounced and complained. Read through
    the messages' created_at index, so the cost follows the window's volume, not the
    outbox's size."""
    # outbox.Message and its outbox.Recipient rows; CROSS JOIN: SQLite then starts from the
    # window's messages (created_at's index) rather than from every recipient in those
    # states, which on a large outbox is most of the table
    rows = db.rows(
        "SELECT r.state, COUNT(*) FROM outbox_message m CROSS JOIN outbox_recipient r "
        "WHERE r.message_id = m.id AND m.created_at >= ? "
        "AND r.state IN ('sent', 'delivered', 'bounced', 'complained') GROUP BY r.state",
        [db.moment(now - window)],
    )
    counts = {str(state): int(n) for state, n in rows}
    return replace(
        queue,
        window_accepted=sum(counts.values()),
        window_bounced=counts.get("bounced", 0),
        window_complained=counts.get("complained", 0),
        bounce_window_hours=int(window.total_seconds() // 3600),
    )


def _most_common(db: Db, where: str, params: list[Any]) -> tuple[str, int] | None:
    """The most frequent reply among the latest ERROR_SAMPLE rows matching ``where``."""
    found = db.rows(
        "SELECT last_reply, COUNT(*) AS n FROM (SELECT last_reply FROM outbox_recipient "  # noqa: S608
        f"WHERE {where} AND last_reply <> '' ORDER BY updated_at DESC LIMIT ?) AS sample "
        "GROUP BY last_reply ORDER BY n DESC, last_reply LIMIT 1",
        [*params, ERROR_SAMPLE],
    )
    return (str(found[0][0]), int(found[0][1])) if found else None


def worker_facts(db: Db, now: datetime) -> tuple[WorkerFacts, ...]:
    # outbox.WorkerHeartbeat
    rows = db.rows(
        "SELECT worker_id, host, last_seen, status, fingerprint, transport FROM outbox_workerheartbeat "
        "ORDER BY last_seen DESC LIMIT ?",
        [WORKERS],
    )
    facts = []
    for worker_id, host, last_seen, status, digest, transport in rows:
        seen = aware(last_seen) or now
        facts.append(WorkerFacts(worker_id, host, (now - seen).total_seconds(), status, digest, transport))
    return tuple(facts)


def recent_messages(db: Db) -> tuple[tuple[str, str], ...]:
    # outbox.Content joined to outbox.Message, the newest first
    rows = db.rows(
        "SELECT m.public_id, c.text, c.html FROM outbox_content c "
        "JOIN outbox_message m ON m.id = c.message_id ORDER BY m.created_at DESC LIMIT ?",
        [RECENT_MESSAGES],
    )
    return tuple((str(pid), f"{text or ''}\n{html or ''}") for pid, text, html in rows)


def recent_sizes(db: Db) -> tuple[tuple[str, int], ...]:
    # outbox.Message: the size of the composed message, as the server receives it
    rows = db.rows(
        "SELECT public_id, size FROM outbox_message ORDER BY created_at DESC LIMIT ?", [RECENT_WINDOW]
    )
    return tuple((str(pid), int(size)) for pid, size in rows if size)


def recent_sends(db: Db, now: datetime) -> tuple[SendFacts, ...]:
    """The fate of the recipients of the newest messages, the most recently changed first:
    accepted ones, and refused ones with the stage and the words of their latest attempt."""
    states = sorted(ACCEPTED_STATES | FAILED_STATES)
    marks = ", ".join("?" for _ in states)
    # outbox.Recipient of the newest outbox.Message rows, each with its latest outbox.Attempt
    # (the attempt numbered as the recipient's attempts: the unique (recipient, number) index)
    rows = db.rows(
        "SELECT r.address, m.envelope_from, r.state, r.updated_at, m.public_id, a.stage, "  # noqa: S608
        "COALESCE(NULLIF(a.reply, ''), r.last_reply) "
        # CROSS JOIN: SQLite then starts from the newest messages (created_at's index) rather
        # than from every recipient in a state, which on a large outbox is most of the table
        "FROM (SELECT id, envelope_from, public_id FROM outbox_message ORDER BY created_at DESC LIMIT ?) m "
        "CROSS JOIN outbox_recipient r "
        "LEFT JOIN outbox_attempt a ON a.recipient_id = r.id AND a.number = r.attempts "
        f"WHERE r.message_id = m.id AND r.state IN ({marks}) AND r.updated_at >= ? "
        "ORDER BY r.updated_at DESC, r.id DESC LIMIT ?",
        [RECENT_WINDOW, *states, db.moment(now - DEAD_WINDOW), RECENT_SENDS],
    )
    sends = []
    for address, sender, state, updated, public_id, stage, reply in rows:
        at = aware(updated) or now
        sends.append(
            SendFacts(
                str(address),
                str(sender),
                str(state),
                max(0.0, (now - at).total_seconds()),
                str(public_id),
                str(stage or ""),
                str(reply or ""),
            )
        )
    return tuple(sends)


def canary_facts(db: Db, now: datetime) -> tuple[CanaryFacts, ...]:
    """The latest finished run of each enabled canary: one row per canary through its
    ``last_run`` pointer (canaries.Canary, canaries.CanaryRun), never a scan of the runs."""
    try:
        rows = db.rows(
            "SELECT c.name, c.address, c.slow_seconds, c.deadline_minutes, r.state, r.started_at, r.folder, "
            "r.accepted_at, r.arrived_at, r.spf, r.dkim, r.dmarc, r.auth_results, r.detail "
            "FROM canaries_canary c JOIN canaries_canaryrun r ON r.id = c.last_run_id "
            "WHERE c.enabled ORDER BY c.name LIMIT ?",
            [CANARIES],
        )
    except Exception:  # a database from before the canaries' migration has no such table
        return ()
    return tuple(_canary(row, now) for row in rows)


def _canary(row: tuple[Any, ...], now: datetime) -> CanaryFacts:
    (
        name,
        address,
        slow,
        deadline,
        state,
        started,
        folder,
        accepted,
        arrived,
        spf,
        dkim,
        dmarc,
        results,
        detail,
    ) = row
    queued = aware(started) or now
    found = aware(arrived)
    return CanaryFacts(
        name=str(name),
        address=str(address),
        state=str(state),
        queued_at=queued,
        age=max(0.0, (now - queued).total_seconds()),
        folder=str(folder or ""),
        accepted=accepted is not None,
        arrival_seconds=max(0.0, (found - queued).total_seconds()) if found else None,
        slow_seconds=float(slow),
        deadline_minutes=int(deadline),
        spf=str(spf or ""),
        dkim=str(dkim or ""),
        dmarc=str(dmarc or ""),
        auth_results=str(results or ""),
        detail=str(detail or ""),
    )


def stored_templates(db: Db) -> tuple[StoredTemplate, ...]:
    # mailtemplates.Version joined to mailtemplates.Template: each template's newest version
    rows = db.rows(
        "SELECT t.name, v.number, v.subject, v.text, v.html, v.sample_variables "
        "FROM mailtemplates_version v JOIN mailtemplates_template t ON t.id = v.template_id "
        "WHERE v.number = (SELECT MAX(w.number) FROM mailtemplates_version w "
        "WHERE w.template_id = v.template_id) "
        "ORDER BY t.name LIMIT ?",
        [TEMPLATES],
    )
    return tuple(
        StoredTemplate(str(name), int(number), str(subject), text, html, _json_object(sample))
        for name, number, subject, text, html, sample in rows
    )


def _json_object(value: Any) -> dict[str, Any]:
    """A JSON column: text on SQLite, already decoded by psycopg."""
    decoded = json.loads(value) if isinstance(value, str | bytes) else value
    return decoded if isinstance(decoded, dict) else {}


def decide(
    db: Db, address: str, settings: Settings, members: frozenset[str], now: datetime
) -> RecipientPolicy:
    """What outbox.policy.decide answers for one address: core.policy decides, from the
    same facts read with plain SQL."""
    wanted = policy.normalize(address)
    # outbox.Suppression, active ones only
    found = db.rows(
        "SELECT reason, source, expires_at FROM outbox_suppression WHERE address = ? "
        "AND (expires_at IS NULL OR expires_at > ?)",
        [wanted, db.moment(now)],
    )
    suppressed = policy.Suppressed(str(found[0][0]), str(found[0][1]), aware(found[0][2])) if found else None
    state, reason = policy.decide(wanted, settings, member=wanted in members, suppressed=suppressed)
    return RecipientPolicy(state, reason)


def _members(db: Db, addresses: list[str]) -> set[str]:
    # accounts.Member: members are exempt from the approved domains
    marks = ", ".join("?" for _ in addresses)
    rows = db.rows(f"SELECT LOWER(email) FROM accounts_member WHERE LOWER(email) IN ({marks})", addresses)  # noqa: S608
    return {str(r[0]) for r in rows}
