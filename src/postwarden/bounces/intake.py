"""The one intake of mail that came back, whichever way it came (the listener, the bounce
mailbox): check the return path's token, read the mail, and hand the result to the
recipient's timeline (:mod:`postwarden.bounces.effects`).

- A token that does not verify: forged (or made with another secret key). Counted
  (:class:`~postwarden.bounces.models.Tally` ``forged``), logged with the reason, dropped.
- A valid token whose message or recipient the outbox no longer has, a mail without any
  token, or one that cannot be read: kept as a :class:`~postwarden.bounces.models.Bounce`
  row with the mail, for the operator.
- An auto-reply, or a DSN reporting success: kept as ``ignored``; never a bounce.
- The same mail twice (a remote retry, a replay): counted, nothing done twice.
- Per recipient at most :data:`PER_RECIPIENT` bounces are applied; more are kept as
  ``excess`` (a storm of bounces for one address changes nothing more).
- A bounce can come back before the worker has recorded that the server took the mail (a
  local MTA bounces within milliseconds; the worker writes its results in batches): the
  recipient is still ``sending``, and a bounce cannot move it from there. The intake waits
  for the record, at most :data:`SENDING_WAIT` seconds, then raises :class:`NotYet`: the
  listener answers 451 and the mailbox keeps the mail, so it comes again later.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from email.parser import HeaderParser
from email.policy import compat32
from email.utils import getaddresses
from typing import Final

from django.db.models import F

from postwarden.bounces import parse
from postwarden.bounces.effects import Effect, record
from postwarden.bounces.models import Bounce, BounceOutcome, Tally
from postwarden.core.i18n import Number, Text, join, keep
from postwarden.core.replies.classify import classify
from postwarden.core.replies.parse import parse_reply
from postwarden.core.smtp.reply import Reply
from postwarden.core.verp import BadToken, Target, Verp
from postwarden.outbox import sources
from postwarden.outbox.models import Recipient, State
from postwarden.webhooks.events import redact

log = logging.getLogger("postwarden.bounces")

#: bounces applied to one recipient; more are kept, not applied
PER_RECIPIENT: Final = 10
#: seconds the intake waits for the worker to record a recipient it is still sending
SENDING_WAIT: Final = 15.0
#: seconds between looks while it waits
SENDING_POLL: Final = 0.2
#: bytes of a mail kept for the operator when it could not be applied
KEEP_BYTES: Final = 256 * 1024
#: headers where a bounce mailbox's mail names the address it was sent to
_ENVELOPE_HEADERS: Final = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To", "Cc")

_EFFECTS: Final[dict[parse.BounceKind, Effect]] = {
    parse.BounceKind.HARD_BOUNCE: Effect.BOUNCED,
    parse.BounceKind.SOFT_BOUNCE: Effect.DEFERRED,
    parse.BounceKind.DELAYED: Effect.DELAYED,
    parse.BounceKind.COMPLAINT: Effect.COMPLAINED,
}


class NotYet(RuntimeError):
    """The recipient's attempt is not recorded yet; the bounce must come again later."""


@dataclass(frozen=True, slots=True)
class Arrival:
    """One mail as it arrived."""

    raw: bytes
    #: smtp or imap
    source: str
    #: the envelope recipients (listener); empty for a mailbox: the headers are read
    return_paths: tuple[str, ...] = ()
    mail_from: str = ""
    #: the client's IP, or the mailbox
    origin: str = ""


def count(key: str, by: int = 1) -> None:
    """Add to a shared counter (forged, duplicate, busy)."""
    if not Tally.objects.filter(key=key).update(count=F("count") + by):
        Tally.objects.get_or_create(key=key)
        Tally.objects.filter(key=key).update(count=F("count") + by)


def tallies() -> dict[str, int]:
    return dict(Tally.objects.values_list("key", "count"))


def forged(address: str, reason: str, *, source: str, origin: str) -> None:
    """Count and log a return path whose token does not verify."""
    count("forged")
    log.warning(
        "bounce with a forged return path dropped",
        extra={"return_path": redact(address.lower()), "reason": reason, "source": source, "origin": origin},
    )


def take(arrival: Arrival, verp: Verp) -> list[Bounce]:
    """Read one mail and apply it; the rows written (none for a forged or duplicate mail).
    Raises only for database errors (the caller answers "try again later": nothing lost)."""
    digest = hashlib.sha256(arrival.raw).hexdigest()
    report = parse.read(arrival.raw)
    paths = list(arrival.return_paths) or _addresses_in(arrival.raw, report)
    ours = [a for a in dict.fromkeys(p.lower() for p in paths) if verp.is_ours(a)]
    if not ours:
        return [_keep(arrival, report, digest, BounceOutcome.NO_TOKEN, return_path=paths[0] if paths else "")]
    rows = []
    for address in ours:
        try:
            target = verp.check(address)
        except BadToken as exc:
            forged(address, str(exc), source=arrival.source, origin=arrival.origin)
            continue
        if Bounce.objects.filter(digest=digest, return_path=address).exists():
            count("duplicate")
            log.info("the same bounce again; nothing done twice", extra={"return_path": redact(address)})
            continue
        rows.append(_apply(arrival, report, digest, address, target))
    return rows


def _apply(arrival: Arrival, report: parse.BounceReport, digest: str, address: str, target: Target) -> Bounce:
    recipient = (
        Recipient.objects.select_related("message")
        .filter(pk=target.recipient_pk, message_id=target.message_pk)
        .first()
    )
    if recipient is None:
        log.info(
            "bounce for a message the outbox does not know; kept for the operator",
            extra={"return_path": redact(address), "kind": report.kind.value},
        )
        return _keep(arrival, report, digest, BounceOutcome.UNKNOWN_MESSAGE, return_path=address)
    _settle(recipient)
    status = report.status_for(recipient.address)
    kind = status.kind if status is not None else report.kind
    effect = _EFFECTS.get(kind)
    if effect is None:
        outcome = (
            BounceOutcome.IGNORED
            if kind in (parse.BounceKind.AUTO_REPLY, parse.BounceKind.DELIVERED)
            else BounceOutcome.UNREADABLE
        )
        return _keep(
            arrival, report, digest, outcome, return_path=address, recipient=recipient, status=status
        )
    applied = Bounce.objects.filter(recipient=recipient, outcome=BounceOutcome.APPLIED).count()
    if applied >= PER_RECIPIENT:
        count("excess")
        return _keep(
            arrival,
            report,
            digest,
            BounceOutcome.EXCESS,
            return_path=address,
            recipient=recipient,
            status=status,
        )
    diagnostic = _diagnostic(report, status)
    explanation, finding = _explain(status)
    # the remote words, then what they mean: a sentence of ours around them
    detail = (
        Text("{diagnostic} — {explanation}", diagnostic=diagnostic, explanation=explanation)
        if explanation
        else diagnostic
    )
    event = record(
        effect,
        recipient,
        detail=detail,
        source=sources.bounce(report.message_id or digest[:16]),
        event_id=f"sha256:{digest}/{recipient.pk}",
        raw={
            "detector": report.detector,
            "kind": kind.value,
            "status": status.status if status else "",
            "action": status.action if status else "",
            "diagnostic": diagnostic,
            "remote_mta": status.remote_mta if status else "",
            "reporter": report.reporter,
            "feedback_type": report.feedback_type,
            "explanation": explanation,
            "finding": finding,
            "source": arrival.source,
        },
    )
    log.info(
        "bounce applied",
        extra={
            "public_id": recipient.message.public_id,
            "recipient": redact(recipient.address),
            "effect": effect.value,
            "status": status.status if status else "",
        },
    )
    return _row(
        arrival,
        report,
        digest,
        BounceOutcome.APPLIED if event is not None else BounceOutcome.DUPLICATE,
        return_path=address,
        recipient=recipient,
        status=status,
        event_pk=event.pk if event is not None else None,
    )


def _settle(recipient: Recipient) -> None:
    """Wait (bounded) until the worker has recorded ``recipient``'s attempt. Raises :class:`NotYet`."""
    deadline = time.monotonic() + SENDING_WAIT
    while recipient.state == State.SENDING:
        if time.monotonic() >= deadline:
            raise NotYet(f"the worker has not recorded {recipient.message.public_id} for this recipient yet")
        time.sleep(SENDING_POLL)
        recipient.refresh_from_db(fields=["state"])


def _diagnostic(report: parse.BounceReport, status: parse.DsnRecipient | None) -> str:
    """The remote server's words verbatim, else what the report says in its place."""
    if status is not None and status.diagnostic:
        return status.diagnostic
    if report.kind is parse.BounceKind.COMPLAINT:
        kind = report.feedback_type or Text("feedback report")
        reporter = report.reporter or Text("a mailbox provider")
        return Text("complaint ({kind}) from {reporter}", kind=kind, reporter=reporter)
    parts = [
        Text("status {status}", status=status.status) if status and status.status else "",
        report.subject,
    ]
    said = [p for p in parts if p]
    if said:
        return join("; ", said) if len(said) > 1 else said[0]
    return Text("{kind} ({detector})", kind=report.kind.value, detector=report.detector)


def _explain(status: parse.DsnRecipient | None) -> tuple[str, str]:
    """The knowledge base's one-line explanation of the remote reply, and its finding code."""
    if status is None or not (status.diagnostic or status.status):
        return "", ""
    text = status.diagnostic.partition(";")[2].strip() if ";" in status.diagnostic[:20] else status.diagnostic
    reply = parse_reply(text) if text else None
    if reply is None and status.status[:1] in ("4", "5"):
        code = 550 if status.status[0] == "5" else 450
        reply = Reply(code, status.status, text, (f"{code} {status.status} {text}".strip(),))
    found = classify(stage="rcpt", reply=reply, detail=text)
    return found.explanation, found.code.value if found.code is not None else ""


def _addresses_in(raw: bytes, report: parse.BounceReport) -> list[str]:
    """Where a mailbox's mail was sent to (its envelope is gone): the delivery headers,
    then the returned mail's own return path (an ARF report's Original-Mail-From)."""
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0][:65536].decode("utf-8", "replace")
    headers = HeaderParser(policy=compat32).parsestr(head + "\n\n")
    found: list[str] = []
    for name in _ENVELOPE_HEADERS:
        values = [str(v) for v in headers.get_all(name, [])]
        found += [a for _, a in getaddresses(values) if "@" in a]
    found += list(report.original_senders)
    return found[:50]


def _keep(
    arrival: Arrival,
    report: parse.BounceReport,
    digest: str,
    outcome: BounceOutcome,
    *,
    return_path: str,
    recipient: Recipient | None = None,
    status: parse.DsnRecipient | None = None,
) -> Bounce:
    # mail that could not be applied is kept whole (up to a bound) so that a person can
    # read it; an ignored auto-reply or an excess bounce keeps only its facts
    return _row(
        arrival,
        report,
        digest,
        outcome,
        return_path=return_path,
        recipient=recipient,
        status=status,
        keep_raw=outcome in (BounceOutcome.UNKNOWN_MESSAGE, BounceOutcome.NO_TOKEN, BounceOutcome.UNREADABLE),
    )


def _row(
    arrival: Arrival,
    report: parse.BounceReport,
    digest: str,
    outcome: BounceOutcome,
    *,
    return_path: str,
    recipient: Recipient | None = None,
    status: parse.DsnRecipient | None = None,
    event_pk: int | None = None,
    keep_raw: bool = False,
) -> Bounce:
    status = status or report.status_for("")
    note = report.note
    if report.omitted:
        more = Text("{n} more recipient blocks not read", n=Number(report.omitted))
        note = join("; ", [note, more]) if note else more
    return Bounce.objects.create(
        source=arrival.source,
        outcome=outcome,
        kind=(status.kind if status else report.kind).value,
        detector=report.detector,
        return_path=return_path[:320],
        mail_from=arrival.mail_from[:320],
        origin=arrival.origin[:255],
        message_id=recipient.message_id if recipient else None,
        recipient=recipient,
        event_id=event_pk,
        address=(recipient.address if recipient else (status.address if status else ""))[:320],
        status=(status.status if status else "")[:16],
        diagnostic=status.diagnostic if status else "",
        remote_mta=(status.remote_mta if status else "")[:255],
        subject=report.subject[:998],
        original_message_id=report.original_message_id[:255],
        note=str(note),
        # English for the API, the sentence for the console's page
        words=keep(note=note) or None,
        digest=digest,
        size=len(arrival.raw),
        raw=arrival.raw[:KEEP_BYTES] if keep_raw else None,
    )
