"""Running canaries: :func:`run_due` is one pass, called every few seconds by a periodic
job (``postwarden monitor``) or by ``postwarden canary run``.

A pass never waits for mail. Each canary is a small state machine kept in the database:
a due canary gets a run (look into the mailbox, then queue the canary mail); a waiting
run gets one bounded look when its next poll is due (backoff from a few seconds up to
half a minute) and ends when its mail is found or its deadline passes. So a run in
progress blocks nothing, survives a restart, and is finished by whichever node holds the
canary's lease.

* Exactly one node drives a canary: the lease is a conditional UPDATE of the canary's row
  (``lease_owner``/``lease_until``), which works the same on SQLite and PostgreSQL;
  it is renewed on every pass, and a node that died loses it after :data:`LEASE`.
* Never faster than the schedule: the next run's time is written when a run starts,
  before anything is sent, so a crash or a restart cannot send again early.
* Latency is measured on this host's clock (queued → the look that found it); the
  receiving server's clock is shown, never used.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, Final

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from postwarden.canaries import store
from postwarden.canaries.models import PLACEMENT, Canary, CanaryRun, RunState
from postwarden.canaries.verdicts import TOKEN_HEADER
from postwarden.canaries.watch import Found, Look, find, remove
from postwarden.core.addresses import redact
from postwarden.core.config.model import Settings
from postwarden.core.doctor.testmail import in_instance_language
from postwarden.core.i18n import Number, Text, keep, said
from postwarden.core.imap import ImapError, open_session
from postwarden.core.sealing import UnsealError
from postwarden.outbox import said as outbox_said
from postwarden.outbox.errors import Refused
from postwarden.outbox.models import Recipient
from postwarden.outbox.submission import Outgoing, enqueue

log = logging.getLogger("postwarden.canaries")

#: a node that stopped renewing its lease loses the canary after this
LEASE: Final = timedelta(minutes=2)
#: canaries looked into at once in one pass
PARALLEL: Final = 4
FIRST_POLL: Final = 2.0
POLL_FACTOR: Final = 1.5
MAX_POLL: Final = 30.0
SUBJECT: Final = Text("Postwarden canary")
TAG: Final = "postwarden-canary"
SOURCE: Final = "canary"
#: the canary mail's words, sent in the instance's language (POSTWARDEN_LANGUAGE)
BODY: Final = Text(
    "This is an automatic delivery test sent by Postwarden to a mailbox its operator owns.\n"
    "Postwarden looks for it over IMAP to see whether mail arrives, in which folder, and what\n"
    "the receiving server concluded about it (SPF, DKIM, DMARC). It is deleted once found.\n"
)
#: outbox states in which a recipient will not be sent (without a person's action)
_NEVER_SENT: Final = frozenset({"failed", "dead", "refused", "suppressed", "cancelled"})


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


def run_due(
    *,
    now: datetime | None = None,
    owner: str | None = None,
    only: Sequence[int] | None = None,
    settings: Settings | None = None,
    stop: Callable[[], bool] | None = None,
) -> int:
    """One pass over the canaries: start the due runs, look once for each waiting run whose
    poll is due. Returns how many canaries it moved on. ``only``: these canaries only;
    ``settings``: what the canary mail is composed with (default: the settings in force);
    ``stop``: asked before each canary, True ends the pass early (a shutdown).

    Up to :data:`PARALLEL` canaries are looked into at once: one silent mailbox (each IMAP
    step may take its whole timeout) must not delay the others' looks, which would inflate
    their arrival times into false ``canary.slow`` findings."""
    owner = owner or default_owner()
    ids = _candidates(now or timezone.now(), only)
    if not ids:
        return 0
    with ThreadPoolExecutor(max_workers=min(PARALLEL, len(ids)), thread_name_prefix="canary") as pool:
        return sum(pool.map(lambda canary_id: _one(canary_id, owner, settings, stop), ids))


def _one(canary_id: int, owner: str, settings: Settings | None, stop: Callable[[], bool] | None) -> int:
    """Drive one canary on a pool thread, with the thread's own database connection."""
    try:
        if (stop is not None and stop()) or not _take_lease(canary_id, owner):
            return 0
        try:
            return _advance(canary_id, settings)
        except Exception:  # one canary's defect must not stop the others (logged, retried next pass)
            log.exception("canary %s: the pass failed", canary_id)
            return 0
        finally:
            _release_if_idle(canary_id, owner)
    finally:
        connection.close()


def _candidates(now: datetime, only: Sequence[int] | None) -> list[int]:
    due = Canary.objects.filter(enabled=True).filter(Q(next_run_at__lte=now) | Q(run_requested=True))
    waiting = CanaryRun.objects.filter(state=RunState.WAITING).filter(
        Q(next_poll_at__lte=now) | Q(next_poll_at__isnull=True)
    )
    if only is not None:
        due, waiting = due.filter(pk__in=only), waiting.filter(canary_id__in=only)
    ids = set(due.values_list("pk", flat=True)) | set(waiting.values_list("canary_id", flat=True))
    return sorted(ids)


def _take_lease(canary_id: int, owner: str) -> bool:
    now = timezone.now()
    free = Q(lease_owner=owner) | Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    return (
        Canary.objects.filter(pk=canary_id).filter(free).update(lease_owner=owner, lease_until=now + LEASE)
        == 1
    )


def _release_if_idle(canary_id: int, owner: str) -> None:
    if not CanaryRun.objects.filter(canary_id=canary_id, state=RunState.WAITING).exists():
        Canary.objects.filter(pk=canary_id, lease_owner=owner).update(lease_owner="", lease_until=None)


def _advance(canary_id: int, settings: Settings | None) -> int:
    canary = Canary.objects.get(pk=canary_id)
    now = timezone.now()
    run = canary.runs.filter(state=RunState.WAITING).first()
    if run is not None:
        if run.next_poll_at is None or run.next_poll_at <= now:
            _poll(canary, run, now)
            return 1
        return 0
    if canary.enabled and (canary.run_requested or canary.next_run_at <= now):
        _start(canary, now, settings)
        return 1
    return 0


def _start(canary: Canary, now: datetime, settings: Settings | None) -> None:
    trigger = "manual" if canary.run_requested else "schedule"
    # The schedule moves first, from what this node read (a conditional UPDATE): whatever
    # happens next the next run is an interval away, and of two nodes that read the same
    # due canary only one starts it, lease or no lease.
    moved = Canary.objects.filter(
        pk=canary.pk, next_run_at=canary.next_run_at, run_requested=canary.run_requested
    ).update(next_run_at=now + timedelta(minutes=canary.interval_minutes), run_requested=False)
    if moved != 1:
        return
    token = f"{canary.key}.{secrets.token_hex(8)}"
    # Look first: a mailbox that cannot be read gets no mail it could not report on, and
    # mail of earlier runs that came late is recorded (and removed) before this one goes.
    try:
        endpoint = store.endpoint(canary)
        with open_session(endpoint) as imap:
            look = find(imap, canary.key)
            _record_others(canary, look, "", now)
            if canary.delete_found and look.found:
                remove(imap, look.found)
    except (ImapError, UnsealError) as exc:
        _unreachable_at_start(canary, token, trigger, now, exc)
        return
    _send(canary, token, trigger, now, settings)


def _send(canary: Canary, token: str, trigger: str, now: datetime, settings: Settings | None) -> CanaryRun:
    from postwarden.configstore.runtime import current_settings

    sending = settings or current_settings()
    outgoing = Outgoing(
        to=[canary.address],
        subject=f"{in_instance_language(sending, SUBJECT)} {token.rsplit('.', 1)[-1][:6]}",
        text=in_instance_language(sending, BODY),
        headers={TOKEN_HEADER: token},
        tags=[TAG],
    )
    run = CanaryRun(
        canary=canary,
        token=token,
        trigger=trigger,
        started_at=now,
        deadline_at=now + timedelta(minutes=canary.deadline_minutes),
        next_poll_at=now + timedelta(seconds=FIRST_POLL),
    )
    try:
        with transaction.atomic():
            queued = enqueue(outgoing, settings=settings, source=SOURCE)
            run.message_id, run.message_public_id = queued.pk, queued.public_id
            run.save()
    except Refused as refused:
        run.save()
        detail = Text("never queued: {field}: {error}", field=refused.field, error=refused.message)
        _finish(canary, run, RunState.MISSING, now, detail=detail)
        return run
    log.info(
        "canary %s: run %s queued as %s to %s", canary.name, run.pk, queued.public_id, redact(canary.address)
    )
    return run


def _unreachable_at_start(canary: Canary, token: str, trigger: str, now: datetime, exc: Exception) -> None:
    run = CanaryRun.objects.create(canary=canary, token=token, trigger=trigger, started_at=now)
    detail = (
        Text("nothing was sent: {error}", error=said(exc))
        if isinstance(exc, ImapError)
        else Text(
            "nothing was sent: the stored IMAP password cannot be unsealed (was POSTWARDEN_SECRET_KEY "
            "changed?); enter the password again"
        )
    )
    _finish(canary, run, RunState.UNREACHABLE, now, detail=detail, imap_error=str(exc)[:2000])
    log.warning("canary %s: mailbox unreachable: %s", canary.name, detail)


def _poll(canary: Canary, run: CanaryRun, now: datetime) -> None:
    recipient = Recipient.objects.filter(message_id=run.message_id).first() if run.message_id else None
    if recipient is not None and recipient.sent_at is not None and run.accepted_at is None:
        run.accepted_at = recipient.sent_at
    if recipient is not None and recipient.sent_at is None and recipient.state in _NEVER_SENT:
        why = outbox_said.reason(recipient.reason) or recipient.last_reply
        state = outbox_said.state(recipient.state)
        detail = (
            Text("never accepted upstream: the outbox says {state}: {why}", state=state, why=why)
            if why
            else Text("never accepted upstream: the outbox says {state}:", state=state)
        )
        _finish(canary, run, RunState.MISSING, now, detail=detail)
        return
    run.polls += 1
    try:
        endpoint = store.endpoint(canary)
        with open_session(endpoint) as imap:
            look = find(imap, canary.key)
            run.looks += 1
            run.imap_error = ""
            finished = _judge(canary, run, look, recipient, now)
            doomed = [f for f in look.found if finished or f.verdicts.token != run.token]
            if canary.delete_found and doomed:
                remove(imap, doomed)
    except (ImapError, UnsealError) as exc:
        _poll_failed(canary, run, now, exc)


def _judge(canary: Canary, run: CanaryRun, look: Look, recipient: Recipient | None, now: datetime) -> bool:
    """Record what this look found. True when the run ended (its mail may be removed)."""
    _record_others(canary, look, run.token, now)
    mine = look.of(run.token)
    if mine:
        _arrived(canary, run, mine, now)
        return True
    if run.deadline_at is not None and now >= run.deadline_at:
        _finish(canary, run, RunState.MISSING, now, detail=_missing_detail(canary, run, recipient, look))
        return True
    _next_poll(run, now)
    return False


def _arrived(canary: Canary, run: CanaryRun, mine: list[Found], now: datetime) -> None:
    first = mine[0]
    state = {"inbox": RunState.ARRIVED, "junk": RunState.JUNK}.get(first.placement, RunState.OTHER)
    verdicts = first.verdicts
    _finish(
        canary,
        run,
        state,
        now,
        arrived_at=now,
        folder=first.folder,
        placement=first.placement,
        copies=len(mine),
        spf=verdicts.spf,
        dkim=verdicts.dkim,
        dmarc=verdicts.dmarc,
        auth_results=verdicts.auth_results,
        headers=verdicts.shown,
        hops=verdicts.hops,
        server_received_at=first.server_received_at,
    )
    log.info(
        "canary %s: run %s %s in %s after %.1f s (spf=%s dkim=%s dmarc=%s)",
        canary.name,
        run.pk,
        state,
        first.folder,
        (now - run.started_at).total_seconds(),
        verdicts.spf or "-",
        verdicts.dkim or "-",
        verdicts.dmarc or "-",
    )


def _missing_detail(canary: Canary, run: CanaryRun, recipient: Recipient | None, look: Look) -> str:
    minutes = Number(canary.deadline_minutes)
    where = (
        Text("the inbox and {folder}", folder=look.junk_folder)
        if look.junk_folder
        else Text("the inbox (the mailbox has no junk folder)")
    )
    if run.accepted_at is not None:
        at = f"{run.accepted_at:%H:%M:%S}"
        if recipient is not None and recipient.last_reply:
            return Text(
                "accepted upstream at {at} UTC ({reply}), but not in {where} or any other folder "
                "{minutes} min after it was queued",
                at=at,
                reply=recipient.last_reply,
                where=where,
                minutes=minutes,
            )
        return Text(
            "accepted upstream at {at} UTC, but not in {where} or any other folder {minutes} min "
            "after it was queued",
            at=at,
            where=where,
            minutes=minutes,
        )
    if recipient is None:
        return Text("never accepted upstream within {minutes} min (its outbox row is gone)", minutes=minutes)
    state = outbox_said.state(recipient.state)
    if recipient.reason:
        return Text(
            "never accepted upstream within {minutes} min (the outbox says {state}: {reason})",
            minutes=minutes,
            state=state,
            reason=outbox_said.reason(recipient.reason),
        )
    return Text(
        "never accepted upstream within {minutes} min (the outbox says {state})", minutes=minutes, state=state
    )


def _poll_failed(canary: Canary, run: CanaryRun, now: datetime, exc: Exception) -> None:
    run.imap_error = str(exc)[:2000]
    if run.deadline_at is not None and now >= run.deadline_at:
        state = RunState.UNREACHABLE if run.looks == 0 else RunState.MISSING
        detail = Text("the mailbox could not be read at the deadline: {error}", error=said(exc))
        _finish(canary, run, state, now, detail=detail, imap_error=run.imap_error)
        return
    _next_poll(run, now)
    log.warning("canary %s: run %s: the look failed, retrying: %s", canary.name, run.pk, exc)


def _next_poll(run: CanaryRun, now: datetime) -> None:
    wait = min(MAX_POLL, FIRST_POLL * POLL_FACTOR ** max(0, run.polls - 1))
    at = now + timedelta(seconds=wait)
    if run.deadline_at is not None:
        at = min(at, max(run.deadline_at, now))
    CanaryRun.objects.filter(pk=run.pk, state=RunState.WAITING).update(
        next_poll_at=at,
        polls=run.polls,
        looks=run.looks,
        imap_error=run.imap_error,
        accepted_at=run.accepted_at,
    )


def _finish(canary: Canary, run: CanaryRun, state: str, now: datetime, **fields: Any) -> bool:
    """End a run exactly once (a conditional UPDATE on its state), and make it the
    canary's latest. False when it had ended already."""
    values: dict[str, Any] = {
        "state": state,
        "finished_at": now,
        "next_poll_at": None,
        "polls": run.polls,
        "looks": run.looks,
        "accepted_at": run.accepted_at,
        "imap_error": run.imap_error,
        **fields,
    }
    if "detail" in values:
        # English for the API and the logs, the sentence for the console's page
        values["words"] = keep(detail=values["detail"]) or None
        values["detail"] = str(values["detail"])
    with transaction.atomic():
        if CanaryRun.objects.filter(pk=run.pk, state=RunState.WAITING).update(**values) != 1:
            return False
        Canary.objects.filter(pk=canary.pk).update(last_run=run.pk)
    for name, value in values.items():
        setattr(run, name, value)
    return True


def _record_others(canary: Canary, look: Look, own: str, now: datetime) -> None:
    """Mails of earlier runs: a run that ended missing gets its late arrival recorded
    (once; its state and counts stay as the deadline left them); a copy of a run that
    was found already is a duplicate delivery, counted in its ``copies``."""
    tokens = {f.verdicts.token for f in look.found if f.verdicts.token != own}
    if not tokens:
        return
    runs = {r.token: r for r in CanaryRun.objects.filter(canary=canary, token__in=tokens)}
    for token in tokens:
        earlier = runs.get(token)
        if earlier is None or earlier.state == RunState.WAITING:
            continue
        copies = look.of(token)
        if earlier.state in PLACEMENT:
            if canary.delete_found:  # a kept mail would be seen again at every look
                CanaryRun.objects.filter(pk=earlier.pk).update(copies=earlier.copies + len(copies))
        elif earlier.late_arrived_at is None:
            CanaryRun.objects.filter(pk=earlier.pk, late_arrived_at__isnull=True).update(
                late_arrived_at=now, late_placement=copies[0].placement
            )
            log.info("canary %s: run %s arrived late, in %s", canary.name, earlier.pk, copies[0].folder)


def drive(
    canary_ids: Sequence[int],
    *,
    owner: str | None = None,
    pause: float = 1.0,
    limit: float = 3600.0,
    settings: Settings | None = None,
    wait: Callable[[float], None] = time.sleep,
) -> None:
    """Request a run of each canary now and drive the passes until they ended
    (``postwarden canary run``): bounded by ``limit`` seconds; ``wait(pause)`` between
    passes."""
    owner = owner or default_owner()
    for canary in Canary.objects.filter(pk__in=canary_ids):
        store.request_run(canary)
    started = time.monotonic()
    run_due(owner=owner, only=canary_ids, settings=settings)
    while CanaryRun.objects.filter(canary_id__in=canary_ids, state=RunState.WAITING).exists():
        if time.monotonic() - started > limit:
            break
        wait(pause)
        run_due(owner=owner, only=canary_ids, settings=settings)
