"""The outbox: the database is the queue (docs/architecture.md).

A :class:`Message` is written once, with its rendered bytes, in the caller's
transaction; each :class:`Recipient` row is the unit the worker claims, retries and
reports on, so a failure of one recipient never re-sends to the others (Metabase #47961).
"""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.db.models import Q
from django.utils import timezone

from postwarden.accounts.models import ApiKey


class State(models.TextChoices):
    """A recipient's state. These words appear as they are in the API and the console."""

    QUEUED = "queued"
    SENDING = "sending"
    #: the server or provider accepted it
    SENT = "sent"
    #: waiting for a retry
    DEFERRED = "deferred"
    #: refused permanently
    FAILED = "failed"
    #: gave up after the last retry
    DEAD = "dead"
    #: kill switch (EMAIL_ENABLED=false); releasable
    HELD = "held"
    #: on the suppression list
    SUPPRESSED = "suppressed"
    #: a policy said no (approved domains …)
    REFUSED = "refused"
    #: from provider events
    DELIVERED = "delivered"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    #: an admin cancelled it
    CANCELLED = "cancelled"


#: sources of mail Postwarden sends itself to test the path (canary runs): sent like any
#: other mail, but never counted as the application's mail in charts and /metrics
NOT_USER_MAIL = ("canary",)

#: states the worker picks up
PENDING_STATES = (State.QUEUED, State.DEFERRED)
#: states that will not change without a person or a provider event
FINAL_STATES = (
    State.SENT,
    State.FAILED,
    State.DEAD,
    State.SUPPRESSED,
    State.REFUSED,
    State.DELIVERED,
    State.BOUNCED,
    State.COMPLAINED,
    State.CANCELLED,
)


class Message(models.Model):
    #: short public id used in URLs, the API and logs ("m_…")
    public_id = models.CharField(max_length=32, unique=True)
    #: the Message-ID header, angle brackets included; fixed at enqueue, kept across retries
    message_id = models.CharField(max_length=255, db_index=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    #: api, batch, relay, console, cli, django
    source = models.CharField(max_length=16, default="api")
    api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.SET_NULL)
    from_address = models.CharField(max_length=320)
    envelope_from = models.CharField(max_length=320)
    subject = models.CharField(max_length=998, blank=True)
    tags = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)
    size = models.PositiveIntegerField(default=0)
    needs_smtputf8 = models.BooleanField(default=False)

    objects: ClassVar[models.Manager[Message]]

    class Meta:
        indexes = (
            # the few messages that are not the application's: found without a scan
            models.Index(fields=("source",), name="message_not_user", condition=Q(source__in=NOT_USER_MAIL)),
        )

    def __str__(self) -> str:
        return self.public_id


class IdempotencyKey(models.Model):
    """``(api key, idempotency key) -> first message`` for 24 hours. A table of its own so
    a unique constraint settles two concurrent requests with the same key; an expired row
    is pointed at the new message instead of being duplicated."""

    api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.CASCADE)
    key = models.CharField(max_length=200)
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    objects: ClassVar[models.Manager[IdempotencyKey]]

    class Meta:
        constraints = (models.UniqueConstraint(fields=("api_key", "key"), name="idem_unique"),)


class MessageTag(models.Model):
    """One row per tag: ``GET /api/v1/messages?tag=…`` is an index lookup on every
    database (JSON containment is not indexable on SQLite)."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="tag_rows")
    tag = models.CharField(max_length=100)

    objects: ClassVar[models.Manager[MessageTag]]

    class Meta:
        indexes = (models.Index(fields=("tag", "message"), name="tag_message"),)


class Content(models.Model):
    """The rendered bytes, stored once: a retry sends the same bytes with the same
    Message-ID. Kept apart so lists and the worker's claim never read blobs."""

    message = models.OneToOneField(
        Message, primary_key=True, on_delete=models.CASCADE, related_name="content"
    )
    raw = models.BinaryField()
    #: the parts provider APIs want (they do not take raw MIME, except SES)
    text = models.TextField(null=True, blank=True)
    html = models.TextField(null=True, blank=True)
    headers = models.JSONField(default=dict, blank=True)
    reply_to = models.JSONField(default=list, blank=True)
    #: the To and Cc header lists as composed (bcc mode hides To); providers rebuild them
    to = models.JSONField(default=list, blank=True)
    cc = models.JSONField(default=list, blank=True)
    from_name = models.CharField(max_length=200, blank=True)

    objects: ClassVar[models.Manager[Content]]


class Recipient(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="recipients")
    #: the addr-spec as composed (domain lower-case IDNA; the local part keeps its case,
    #: RFC 5321 2.4); policies and suppressions compare it lower-cased
    address = models.CharField(max_length=320)  # indexed as rcpt_address (Meta)
    #: to, cc or bcc
    kind = models.CharField(max_length=3, default="to")
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    #: why it is in its state: a policy decision or the last failure, in words
    reason = models.TextField(blank=True)
    #: attempts ever made; numbers the Attempt rows, never reset
    attempts = models.PositiveIntegerField(default=0)
    #: ``attempts`` when it was last queued by a person (re-queue): the retry budget and
    #: the maximum age count from there
    attempts_base = models.PositiveIntegerField(default=0)
    queued_at = models.DateTimeField(default=timezone.now)
    #: when the worker may take it; set at enqueue so the claim is one range scan of the
    #: partial index below
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=100, blank=True)
    transport = models.CharField(max_length=16, blank=True)
    provider_message_id = models.CharField(max_length=255, blank=True)  # rcpt_provider (Meta)
    last_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_enhanced = models.CharField(max_length=16, blank=True)
    last_reply = models.TextField(blank=True)
    #: the doctor's finding code for the last failure ("auth.failed" …)
    finding = models.CharField(max_length=64, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    objects: ClassVar[models.Manager[Recipient]]

    class Meta:
        indexes = (
            # the worker's claim: a partial index on the pending rows only (hc Flip.Meta)
            models.Index(
                fields=("next_attempt_at",),
                name="rcpt_pending",
                condition=Q(state__in=("queued", "deferred")),
            ),
            models.Index(fields=("lease_until",), name="rcpt_leased", condition=Q(state="sending")),
            # lists by state (newest message first) and the per-state gauges of /metrics
            models.Index(fields=("state", "message"), name="rcpt_state"),
            # Declared here rather than as db_index, which on PostgreSQL adds a second,
            # varchar_pattern_ops index for LIKE that no query uses; each is one more
            # write at every change of a recipient's row (a PostgreSQL UPDATE that changes
            # its state writes every index). The provider's id only where there is one:
            # mail sent over SMTP has none (webhooks/events.py asks with the same condition).
            models.Index(fields=("address",), name="rcpt_address"),
            models.Index(
                fields=("provider_message_id",), name="rcpt_provider", condition=~Q(provider_message_id="")
            ),
            # the doctor's recent permanent failures (doctor/db_reads.py): only the rows that
            # ended badly, so its count follows them and not the history's size
            models.Index(
                fields=("state", "updated_at"),
                name="rcpt_ended",
                condition=Q(state__in=("dead", "failed")),
            ),
        )

    def __str__(self) -> str:
        return f"{self.address} ({self.state})"


class Attempt(models.Model):
    """One try at one recipient. Saved as "sending" before the network call and completed
    after (docs/style.md §4), so a crash leaves evidence."""

    # no index of its own: the unique (recipient, number) constraint below serves every
    # lookup by recipient, and each index is one more write per attempt
    recipient = models.ForeignKey(
        Recipient, on_delete=models.CASCADE, related_name="attempts_log", db_index=False
    )
    number = models.PositiveIntegerField(default=1)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    transport = models.CharField(max_length=16)
    worker = models.CharField(max_length=100, blank=True)
    #: sending, sent, deferred, failed, dead; lost (the worker died holding the lease: the
    #: server may or may not have it), released (shut down before it was sent)
    outcome = models.CharField(max_length=16, default="sending")
    #: the SMTP stage or "api"
    stage = models.CharField(max_length=16, blank=True)
    code = models.PositiveSmallIntegerField(null=True, blank=True)
    enhanced = models.CharField(max_length=16, blank=True)
    #: the server's or provider's words, verbatim
    reply = models.TextField(blank=True)
    finding = models.CharField(max_length=64, blank=True)
    #: the knowledge base's one-line explanation of the reply
    explanation = models.TextField(blank=True)
    permanent = models.BooleanField(default=False)
    queue_id = models.CharField(max_length=255, blank=True)
    provider_message_id = models.CharField(max_length=255, blank=True)
    #: when the next try is due, if one is
    retry_at = models.DateTimeField(null=True, blank=True)

    objects: ClassVar[models.Manager[Attempt]]

    class Meta:
        ordering = ("started_at", "id")
        constraints = (
            # the worker completes an attempt by (recipient, number) in a batched UPDATE,
            # without reading back the ids of the rows it inserted at claim time
            models.UniqueConstraint(fields=("recipient", "number"), name="attempt_number"),
        )


class Event(models.Model):
    """A timeline entry that is not an attempt: enqueued-with-policy decisions, holds and
    releases, admin actions, provider webhook events (raw payload kept, docs/style.md §10)."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="events")
    recipient = models.ForeignKey(
        Recipient, null=True, blank=True, on_delete=models.CASCADE, related_name="events"
    )
    at = models.DateTimeField(default=timezone.now)
    #: policy, held, released, requeued, cancelled, delivered, bounced, complained, deferred, opened …
    kind = models.CharField(max_length=32)
    #: in English, as the API, the logs and the CLI read it
    detail = models.TextField(blank=True)
    #: Postwarden's own sentences of ``detail`` and of the recipient's ``reason`` it set,
    #: kept to say them again in the reader's language (core/i18n.py keep); empty when
    #: the detail is a server's or a provider's words, or written before the words were
    #: kept (NULL: a writer that does not name the column leaves it so)
    words = models.JSONField(null=True, blank=True)
    #: for provider events: "sendgrid" …, and the provider's event id (de-duplication)
    provider = models.CharField(max_length=16, blank=True)
    event_id = models.CharField(max_length=255, null=True, blank=True)
    raw = models.JSONField(null=True, blank=True)

    objects: ClassVar[models.Manager[Event]]

    class Meta:
        ordering = ("at", "id")
        constraints = (
            models.UniqueConstraint(
                fields=("provider", "event_id"),
                name="event_unique_provider_id",
                condition=Q(event_id__isnull=False),
            ),
        )


class Suppression(models.Model):
    """An address mail is not sent to: hard bounce, complaint, unsubscribe or manual."""

    address = models.CharField(max_length=320, unique=True)
    #: hard_bounce, complaint, unsubscribe, manual, failures
    reason = models.CharField(max_length=32)
    #: the remote side's words, a person's note, or a sentence of ours (then kept in ``words``)
    detail = models.TextField(blank=True)
    #: the detail as a sentence when Postwarden wrote it (core/i18n.py keep), else NULL
    words = models.JSONField(null=True, blank=True)
    #: where it came from: "sendgrid event <id>", "console: ops@example.com", "api key …"
    source = models.CharField(max_length=255, blank=True)
    event = models.ForeignKey(Event, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)
    #: None = never expires (complaints)
    expires_at = models.DateTimeField(null=True, blank=True)

    objects: ClassVar[models.Manager[Suppression]]

    class Meta:
        ordering = ("-created_at",)
        indexes = (models.Index(fields=("reason",), name="suppression_reason"),)

    def __str__(self) -> str:
        return self.address


class WorkerHeartbeat(models.Model):
    """Written by every worker every few seconds (docs/style.md §13): the doctor's
    queue.worker_down and config.process_drift read it."""

    worker_id = models.CharField(max_length=100, unique=True)
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    #: the kernel boot id and pid namespace the pid belongs to, and the process's start
    #: time: a worker on the same machine can tell that this process is gone
    #: (outbox/worker/liveness.py); empty where /proc cannot tell
    space = models.CharField(max_length=100, blank=True)
    pid_start = models.CharField(max_length=32, blank=True)
    version = models.CharField(max_length=32)
    started_at = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now, db_index=True)
    #: running, misconfigured, stopped; dead: its process was found gone (its recipients
    #: were taken back)
    status = models.CharField(max_length=16, default="running")
    #: keyed digest of the sending settings the worker runs with
    fingerprint = models.CharField(max_length=64, blank=True)
    transport = models.CharField(max_length=16, blank=True)
    counters = models.JSONField(default=dict, blank=True)

    objects: ClassVar[models.Manager[WorkerHeartbeat]]

    def __str__(self) -> str:
        return self.worker_id


class RateSlot(models.Model):
    """The shared pace of one transport (POSTWARDEN_SEND_RATE): the time, in seconds since
    the epoch, from which the next message may go. Workers reserve slots with one
    conditional UPDATE, so the limit holds across every worker on every machine and on
    SQLite as well as PostgreSQL (outbox/ratelimit.py)."""

    key = models.CharField(max_length=32, primary_key=True)
    next_at = models.FloatField(default=0.0)

    objects: ClassVar[models.Manager[RateSlot]]
