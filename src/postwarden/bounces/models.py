"""Every mail that came back to a return path (VERP) and was read: what it was, and what
it did. One row each, so nothing that arrived is lost: a bounce for a message the outbox no
longer knows, or one nobody could read, stays here for the operator (console: Bounces; API:
``GET /api/v1/bounces``). Forged mail (a token that does not verify) is not stored: it is
counted in :class:`Tally` and logged with the reason."""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.utils import timezone

from postwarden.outbox.models import Event, Message, Recipient


class BounceOutcome(models.TextChoices):
    #: put on the recipient's timeline (and its state and suppression changed by the rules)
    APPLIED = "applied", "Applied"
    #: a valid token for a message or recipient the outbox no longer has
    UNKNOWN_MESSAGE = "unknown_message", "Unknown message"
    #: no return path token in it (a mailbox that also gets other mail)
    NO_TOKEN = "no_token", "No return path"
    #: not readable as a bounce, a delay or a complaint
    UNREADABLE = "unreadable", "Unreadable"
    #: an auto-reply (out of office): never counted as a bounce
    IGNORED = "ignored", "Ignored"
    #: the same mail again (a remote retry): nothing done twice
    DUPLICATE = "duplicate", "Duplicate"
    #: more bounces for one recipient than :data:`postwarden.bounces.intake.PER_RECIPIENT`: kept, not applied
    EXCESS = "excess", "Over the bound"


class Bounce(models.Model):
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    #: smtp (the listener) or imap (the bounce mailbox)
    source = models.CharField(max_length=8)
    outcome = models.CharField(max_length=16, choices=BounceOutcome.choices, db_index=True)
    #: what the parser read: hard_bounce, soft_bounce, delayed, delivered, complaint, auto_reply, unknown
    kind = models.CharField(max_length=16)
    #: rfc3464, arf, flufl, notice, auto-reply, none
    detector = models.CharField(max_length=16, blank=True)
    #: the return path it came to (envelope recipient, or the address found in its headers)
    return_path = models.CharField(max_length=320, blank=True)
    #: the envelope sender (usually empty: bounces come from the null sender)
    mail_from = models.CharField(max_length=320, blank=True)
    #: the client's IP (listener) or the mailbox (imap)
    origin = models.CharField(max_length=255, blank=True)
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    recipient = models.ForeignKey(
        Recipient, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    event = models.ForeignKey(Event, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    #: the address the report is about, lower-cased
    address = models.CharField(max_length=320, blank=True)
    status = models.CharField(max_length=16, blank=True)
    #: the remote server's words, verbatim
    diagnostic = models.TextField(blank=True)
    remote_mta = models.CharField(max_length=255, blank=True)
    subject = models.CharField(max_length=998, blank=True)
    original_message_id = models.CharField(max_length=255, blank=True)
    #: why it was read as it was (unknown form, malformed parts, omitted recipient blocks)
    note = models.TextField(blank=True)
    #: the note as a sentence to say in the reader's language (core/i18n.py keep); NULL
    #: when there is none or it was written before it was kept
    words = models.JSONField(null=True, blank=True)
    #: SHA-256 of the mail's bytes: the same mail again is a duplicate
    digest = models.CharField(max_length=64)
    size = models.PositiveIntegerField(default=0)
    #: the mail itself, for what could not be applied (the operator reads it); cut at
    #: :data:`postwarden.bounces.intake.KEEP_BYTES`
    raw = models.BinaryField(null=True, blank=True)

    objects: ClassVar[models.Manager[Bounce]]

    class Meta:
        ordering = ("-received_at", "-id")
        indexes = (models.Index(fields=("digest",), name="bounce_digest"),)

    def __str__(self) -> str:
        return f"{self.kind} to {self.return_path} ({self.outcome})"


class Tally(models.Model):
    """Counters of what was refused before anything was stored (forged tokens, mail over
    the storm bound), shared by every process; /metrics reads them."""

    key = models.CharField(max_length=32, primary_key=True)
    count = models.PositiveBigIntegerField(default=0)

    objects: ClassVar[models.Manager[Tally]]

    def __str__(self) -> str:
        return f"{self.key}={self.count}"
