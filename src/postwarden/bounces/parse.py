"""What a mail that came back says: a bounce (RFC 3464 delivery status notification, or a
non-standard one), a delay, a complaint (RFC 5965 ARF), an auto-reply, or none of these.

Pure: bytes in, a :class:`BounceReport` out; no database, no network. It never raises: a mail
that cannot be read is a :class:`BounceReport` of kind ``unknown`` with the reason in ``note``.

- DSNs are read with the standard library's parser (``message/delivery-status``: one block
  of per-message fields, then one block per recipient); a status block written as
  ``text/plain`` or with stray blank lines is read from its text.
- Non-standard bounces (qmail, old Exchange, Yahoo's, …) are left to ``flufl.bounce``,
  Mailman's maintained detectors, which name the failed addresses, permanent or temporary.
- Auto-replies (RFC 3834 ``Auto-Submitted``, Microsoft's ``X-Auto-Response-Suppress``,
  out-of-office subjects) are recognized so that they are never counted as bounces; a
  bounce itself often carries ``Auto-Submitted: auto-replied`` (Postfix's do), so the
  report parts are looked at first.
- Bounds: at most :data:`MAX_RECIPIENTS` recipient blocks are read, every text is cut at
  :data:`MAX_TEXT` characters, and the caller bounds the size of the mail.
"""

from __future__ import annotations

import email
import email.policy
import enum
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from email.parser import HeaderParser
from typing import Final

from flufl.bounce import all_failures

from postwarden.core.i18n import Text

#: recipient blocks read from one DSN; the rest are counted in ``BounceReport.omitted``
MAX_RECIPIENTS: Final = 1000
#: characters kept of any one text (a diagnostic, a reporter)
MAX_TEXT: Final = 2000
#: MIME parts looked at in one mail (a bomb of nested parts is cut there)
MAX_PARTS: Final = 200

_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_REPLY_CODE = re.compile(r"(?:^|[\s;])([245])\d\d[\s-]")
_ADDRESS = re.compile(r"<?([^\s<>;\"]+@[^\s<>;\"]+)>?")
#: ARF feedback types that are a person's complaint (RFC 5965 7.3; "opt-out" is the
#: older name of an unsubscribe request, kept as a complaint: stop mailing them)
COMPLAINT_TYPES: Final = frozenset({"abuse", "fraud", "virus", "other", "opt-out", "opt-out-list"})
#: subjects of out-of-office and other automatic answers (English, German, French, Dutch, Spanish)
_AUTO_SUBJECT = re.compile(
    r"^\s*(auto(matic|matische)?[ -]?(reply|response|respons|antwort|answer)|out of (the )?office|"
    r"away from|abwesenheit|absence|r[ée]ponse automatique|afwezig|respuesta autom[áa]tica|"
    r"on vacation|vacation reply)",
    re.IGNORECASE,
)


class BounceKind(enum.StrEnum):
    #: failed permanently (a 5.x.x status, or a failure without a status)
    HARD_BOUNCE = "hard_bounce"
    #: failed after the remote side's retries, with a temporary (4.x.x) status
    SOFT_BOUNCE = "soft_bounce"
    #: ``Action: delayed``: still being tried
    DELAYED = "delayed"
    #: the DSN reports success (delivered, relayed, expanded)
    DELIVERED = "delivered"
    COMPLAINT = "complaint"
    AUTO_REPLY = "auto_reply"
    #: none of these, or unreadable (see ``BounceReport.note``)
    UNKNOWN = "unknown"


#: how bad each kind is: a report about several recipients takes the worst
SEVERITY: Final[dict[BounceKind, int]] = {
    BounceKind.UNKNOWN: 0,
    BounceKind.AUTO_REPLY: 0,
    BounceKind.DELIVERED: 1,
    BounceKind.DELAYED: 2,
    BounceKind.SOFT_BOUNCE: 3,
    BounceKind.HARD_BOUNCE: 4,
    BounceKind.COMPLAINT: 5,
}


@dataclass(frozen=True, slots=True)
class DsnRecipient:
    """One recipient's block of a DSN (or what a detector found about one address)."""

    #: Final-Recipient's address, lower-cased ("" when the block names none)
    address: str
    kind: BounceKind
    #: Original-Recipient's address, lower-cased
    original: str = ""
    action: str = ""
    #: the enhanced status code ("5.1.1"), when there is one
    status: str = ""
    #: the remote server's words, verbatim (folding undone), e.g. "smtp; 550 5.1.1 … User unknown"
    diagnostic: str = ""
    remote_mta: str = ""


@dataclass(frozen=True, slots=True)
class BounceReport:
    kind: BounceKind
    #: rfc3464, arf, flufl, notice (a mail system's notice read for its status codes),
    #: auto-reply or none
    detector: str
    recipients: tuple[DsnRecipient, ...] = ()
    #: recipient blocks beyond MAX_RECIPIENTS, not read
    omitted: int = 0
    #: the Message-ID of the mail this one is about (from the returned part), angle brackets kept
    original_message_id: str = ""
    #: addresses the returned part was sent from (its Return-Path, ARF's Original-Mail-From):
    #: where a return path token may be found
    original_senders: tuple[str, ...] = ()
    #: Reporting-MTA, or ARF's User-Agent
    reporter: str = ""
    #: ARF's Feedback-Type
    feedback_type: str = ""
    #: why the mail was read as it was (unknown, malformed parts)
    note: str = ""
    subject: str = ""
    #: the mail's own Message-ID
    message_id: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def status_for(self, address: str) -> DsnRecipient | None:
        """The block about ``address`` (Final- or Original-Recipient), else the worst block."""
        wanted = address.strip().lower()
        for status in self.recipients:
            if wanted and wanted in (status.address, status.original):
                return status
        if not self.recipients:
            return None
        return max(self.recipients, key=lambda s: SEVERITY[s.kind])


def read(raw: bytes) -> BounceReport:
    """Read a mail that came back. Never raises."""
    try:
        message = email.message_from_bytes(raw, policy=email.policy.compat32)
        return _read(message)
    except Exception as exc:  # a parser bug on hostile input must not stop the intake
        error = f"{type(exc).__name__}: {_cut(str(exc), 200)}"
        return BounceReport(BounceKind.UNKNOWN, "none", note=Text("unreadable: {error}", error=error))


def _read(message: Message) -> BounceReport:
    parts = list(_parts(message))
    subject = _header(message, "Subject")
    own_id = _header(message, "Message-ID")
    feedback = _first(parts, "message/feedback-report")
    if feedback is not None:
        return _arf(message, parts, feedback, subject, own_id)
    status_part = _first(parts, "message/delivery-status") or _first(parts, "message/global-delivery-status")
    if status_part is not None:
        report = _dsn(parts, status_part, subject, own_id)
        if report.recipients:
            return report
    found = _flufl(message, parts, subject, own_id)
    if found is not None:
        return found
    system = _from_mail_system(message)
    if _is_auto_reply(message) and not system:
        return BounceReport(BounceKind.AUTO_REPLY, "auto-reply", subject=subject, message_id=own_id)
    if system:
        found = _notice(parts, subject, own_id)
        if found is not None:
            return found
    note = Text("a delivery-status part without recipient blocks") if status_part is not None else ""
    return BounceReport(
        BounceKind.UNKNOWN,
        "none",
        note=note or Text("neither a DSN, a complaint report, nor a bounce a detector recognizes"),
        subject=subject,
        message_id=own_id,
        original_message_id=_original_id(parts),
        original_senders=_original_senders(parts),
    )


# -- DSN (RFC 3464) ---------------------------------------------------------------------


def _dsn(parts: list[Message], status_part: Message, subject: str, own_id: str) -> BounceReport:
    blocks = _blocks(status_part)
    per_message, per_recipient = (blocks[0], blocks[1:]) if blocks else ({}, [])
    statuses = []
    for block in per_recipient[:MAX_RECIPIENTS]:
        status = _status(block)
        if status is not None:
            statuses.append(status)
    kind = max((s.kind for s in statuses), key=SEVERITY.__getitem__, default=BounceKind.UNKNOWN)
    return BounceReport(
        kind,
        "rfc3464",
        recipients=tuple(statuses),
        omitted=max(0, len(per_recipient) - MAX_RECIPIENTS),
        original_message_id=_original_id(parts),
        original_senders=_original_senders(parts),
        reporter=_cut(_value(per_message.get("reporting-mta", ""))),
        subject=subject,
        message_id=own_id,
    )


def _blocks(part: Message) -> list[dict[str, str]]:
    """The field blocks of a delivery-status part, as lower-cased name -> unfolded value.
    The parser gives a list of header-only messages; a part that came as text (a wrong
    content type, an encoding) is split at its blank lines."""
    payload = part.get_payload()
    if isinstance(payload, list) and payload and all(isinstance(p, Message) for p in payload):
        blocks = [_fields(p) for p in payload if isinstance(p, Message)]
        return [b for b in blocks if b]
    text = payload if isinstance(payload, str) else ""
    if part.get("Content-Transfer-Encoding", "").lower() in ("base64", "quoted-printable"):
        data = part.get_payload(decode=True)
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else text
    return _text_blocks(text)


def _fields(block: Message) -> dict[str, str]:
    return {k.lower(): _unfold(str(v)) for k, v in block.items()}


def _text_blocks(text: str) -> list[dict[str, str]]:
    out = []
    for chunk in re.split(r"\r?\n\s*\r?\n", text.strip()):
        if not chunk.strip():
            continue
        headers = HeaderParser(policy=email.policy.compat32).parsestr(chunk.strip() + "\n\n")
        block = {k.lower(): _unfold(str(v)) for k, v in headers.items()}
        if block:
            out.append(block)
        if len(out) > MAX_RECIPIENTS:
            break
    return out


def _status(block: dict[str, str]) -> DsnRecipient | None:
    final = _typed_address(block.get("final-recipient", ""))
    original = _typed_address(block.get("original-recipient", ""))
    action = block.get("action", "").strip().lower().split(" ")[0]
    if not (final or original or action):
        return None
    code = _STATUS.search(block.get("status", ""))
    diagnostic = _cut(block.get("diagnostic-code", ""))
    enhanced = code.group(0) if code else ""
    if not enhanced:
        found = _STATUS.search(diagnostic)
        enhanced = found.group(0) if found else ""
    return DsnRecipient(
        address=final or original,
        kind=_kind(action, enhanced, diagnostic),
        original=original,
        action=action,
        status=enhanced,
        diagnostic=diagnostic,
        remote_mta=_cut(_value(block.get("remote-mta", ""))),
    )


def _kind(action: str, enhanced: str, diagnostic: str) -> BounceKind:
    if action == "delayed":
        return BounceKind.DELAYED
    if action in ("delivered", "relayed", "expanded"):
        return BounceKind.DELIVERED
    # "failed", or an action missing or misspelt: the status class says how bad it is
    klass = enhanced[:1]
    if not klass:
        found = _REPLY_CODE.search(diagnostic)
        klass = found.group(1) if found else ""
    if klass == "4":
        return BounceKind.SOFT_BOUNCE
    if klass == "2":
        return BounceKind.DELIVERED
    return BounceKind.HARD_BOUNCE


# -- ARF (RFC 5965) ---------------------------------------------------------------------


def _arf(
    message: Message, parts: list[Message], feedback: Message, subject: str, own_id: str
) -> BounceReport:
    blocks = _blocks(feedback)
    fields: dict[str, str] = {}
    rcpts: list[str] = []
    for block in blocks:
        fields.update(block)
    # Original-Rcpt-To may repeat (one per recipient); the parser's mapping keeps one
    payload = feedback.get_payload()
    if isinstance(payload, list):
        for item in payload:
            if isinstance(item, Message):
                rcpts += [_bare(str(v)) for v in item.get_all("Original-Rcpt-To", [])]
    if not rcpts and fields.get("original-rcpt-to"):
        rcpts = [_bare(fields["original-rcpt-to"])]
    feedback_type = fields.get("feedback-type", "").strip().lower()
    kind = (
        BounceKind.COMPLAINT if feedback_type in COMPLAINT_TYPES or not feedback_type else BounceKind.UNKNOWN
    )
    senders = list(_original_senders(parts))
    mail_from = _bare(fields.get("original-mail-from", ""))
    if mail_from:
        senders.insert(0, mail_from)
    statuses = tuple(
        DsnRecipient(
            address=a, kind=kind, action="complained", diagnostic=_cut(f"feedback-type: {feedback_type}")
        )
        for a in rcpts[:MAX_RECIPIENTS]
        if a
    )
    return BounceReport(
        kind,
        "arf",
        recipients=statuses,
        omitted=max(0, len(rcpts) - MAX_RECIPIENTS),
        original_message_id=_original_id(parts),
        original_senders=tuple(dict.fromkeys(senders)),
        reporter=_cut(fields.get("user-agent", "") or fields.get("reporting-mta", "")),
        feedback_type=feedback_type,
        note=""
        if kind is BounceKind.COMPLAINT
        else Text("feedback type {type} is not a complaint", type=repr(feedback_type)),
        subject=subject,
        message_id=own_id,
    )


# -- auto-replies (RFC 3834) -------------------------------------------------------------


def _is_auto_reply(message: Message) -> bool:
    submitted = _header(message, "Auto-Submitted").lower()
    if submitted and submitted != "no":
        return True
    if any(message.get(h) for h in ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Vacation")):
        return True
    if _header(message, "Precedence").lower() == "auto_reply":
        return True
    return bool(_AUTO_SUBJECT.match(_header(message, "Subject")))


# -- non-standard bounces ----------------------------------------------------------------


def _flufl(message: Message, parts: list[Message], subject: str, own_id: str) -> BounceReport | None:
    temporary, permanent = all_failures(message)
    if not temporary and not permanent:
        return None
    statuses = [
        DsnRecipient(address=_decode(a), kind=BounceKind.HARD_BOUNCE, action="failed")
        for a in sorted(permanent)
    ] + [
        DsnRecipient(address=_decode(a), kind=BounceKind.SOFT_BOUNCE, action="failed")
        for a in sorted(temporary - permanent)
    ]
    statuses = [s for s in statuses if s.address]
    if not statuses:
        return None
    kind = max((s.kind for s in statuses), key=SEVERITY.__getitem__)
    diagnostic = _body_excerpt(parts)
    statuses = [
        DsnRecipient(address=s.address, kind=s.kind, action=s.action, diagnostic=diagnostic)
        for s in statuses[:MAX_RECIPIENTS]
    ]
    return BounceReport(
        kind,
        "flufl",
        recipients=tuple(statuses),
        omitted=max(0, len(statuses) - MAX_RECIPIENTS),
        original_message_id=_original_id(parts),
        original_senders=_original_senders(parts),
        subject=subject,
        message_id=own_id,
    )


#: local parts of the senders of non-delivery notices
_SYSTEM_SENDERS: Final = frozenset({"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon", "mdaemon"})


def _from_mail_system(message: Message) -> bool:
    """Whether the mail comes from a mail system rather than a person: its From is a
    MAILER-DAEMON or postmaster (a person's out-of-office never is)."""
    sender = _bare(_header(message, "From")) or _header(message, "From").strip("<> ").lower()
    return sender.partition("@")[0] in _SYSTEM_SENDERS


def _notice(parts: list[Message], subject: str, own_id: str) -> BounceReport | None:
    """A notice from a mail system in a form no detector knows: the status codes in its
    own text (not in the returned mail) say whether it failed for good or for now. One
    without any code is left unknown: it may be a warning, not a failure."""
    text = _body_excerpt(parts)
    codes = [m.group(0) for m in _STATUS.finditer(text)] + [m.group(1) for m in _REPLY_CODE.finditer(text)]
    classes = {c[:1] for c in codes}
    if "5" in classes:
        kind = BounceKind.HARD_BOUNCE
    elif "4" in classes:
        kind = BounceKind.SOFT_BOUNCE
    else:
        return None
    enhanced = next((c for c in codes if "." in c and c[:1] in "45"), "")
    status = DsnRecipient(address="", kind=kind, action="failed", status=enhanced, diagnostic=text)
    return BounceReport(
        kind,
        "notice",
        recipients=(status,),
        original_message_id=_original_id(parts),
        original_senders=_original_senders(parts),
        subject=subject,
        message_id=own_id,
    )


def _body_excerpt(parts: list[Message]) -> str:
    """The first text part's words: a non-standard bounce's only diagnostic."""
    for part in parts:
        if part.get_content_type() == "text/plain":
            data = part.get_payload(decode=True)
            if isinstance(data, bytes):
                text = data.decode(part.get_content_charset() or "utf-8", "replace")
                return _cut(" ".join(text.split()), 600)
    return ""


# -- helpers ------------------------------------------------------------------------------


def _parts(message: Message) -> Iterator[Message]:
    """Every part, depth first, including the parts of returned messages; at most MAX_PARTS."""
    for count, part in enumerate(message.walk(), start=1):
        if count > MAX_PARTS:
            return
        yield part


def _first(parts: list[Message], content_type: str) -> Message | None:
    return next((p for p in parts if p.get_content_type() == content_type), None)


def _returned_headers(parts: list[Message]) -> Iterator[Message]:
    """The headers of the mail a report returns: a message/rfc822 part's message, or a
    text/rfc822-headers part parsed."""
    for part in parts:
        kind = part.get_content_type()
        if kind in ("message/rfc822", "message/global"):
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                yield payload[0]
        elif kind in ("text/rfc822-headers", "text/global-headers"):
            data = part.get_payload(decode=True)
            if isinstance(data, bytes):
                yield HeaderParser(policy=email.policy.compat32).parsestr(data.decode("utf-8", "replace"))


def _original_id(parts: list[Message]) -> str:
    for headers in _returned_headers(parts):
        found = _header(headers, "Message-ID")
        if found:
            return _cut(found, 255)
    return ""


def _original_senders(parts: list[Message]) -> tuple[str, ...]:
    found: list[str] = []
    for headers in _returned_headers(parts):
        for name in ("Return-Path", "X-Envelope-From", "Sender"):
            value = _bare(_header(headers, name))
            if value and value not in found:
                found.append(value)
    return tuple(found[:10])


def _header(message: Message, name: str) -> str:
    value = message.get(name)
    return _cut(_unfold(str(value))) if value is not None else ""


def _unfold(value: str) -> str:
    return " ".join(value.split())


def _value(field_value: str) -> str:
    """``dns; mx.example.com`` -> ``mx.example.com`` (the type of an RFC 3464 field)."""
    _, sep, rest = field_value.partition(";")
    return rest.strip() if sep else field_value.strip()


def _typed_address(field_value: str) -> str:
    return _bare(_value(field_value))


def _bare(text: str) -> str:
    found = _ADDRESS.search(text or "")
    return found.group(1).strip().lower()[:320] if found else ""


def _decode(address: bytes | str) -> str:
    text = address.decode("utf-8", "replace") if isinstance(address, bytes) else address
    return _bare(text)


def _cut(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
