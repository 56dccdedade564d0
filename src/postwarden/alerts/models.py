"""What the alerts keep: each watched condition's state, and the alerts themselves with
one delivery per destination (an outbox of notifications: nothing is sent that was not
stored first, and nothing stored is dropped without a reason shown)."""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.utils import timezone


class Condition(models.Model):
    """One watched condition, keyed by the doctor finding code that names it
    (``queue.worker_down``, ``canary.missing``) or ``doctor.scheduled``; an alert is
    made only when ``firing`` changes."""

    key = models.CharField(max_length=100, primary_key=True)
    #: which evaluation owns it: "database" (every minute) or "doctor" (scheduled)
    source = models.CharField(max_length=16)
    firing = models.BooleanField(default=False)
    #: when it last changed state
    since = models.DateTimeField(default=timezone.now)
    title = models.CharField(max_length=300, blank=True)
    #: the latest evidence (redacted as the doctor redacts)
    evidence = models.TextField(blank=True)
    #: the console page that shows it (a path)
    page = models.CharField(max_length=200, blank=True)
    #: title and evidence as sentences that can be said again in another language
    #: (core/i18n.py as_data): the columns above stay English for the history and logs,
    #: an alert is sent in the instance's language
    words = models.JSONField(default=dict, blank=True)

    objects: ClassVar[models.Manager[Condition]]

    def __str__(self) -> str:
        return self.key


class Alert(models.Model):
    class Kind(models.TextChoices):
        FIRING = "firing"
        RESOLVED = "resolved"
        TEST = "test"

    class Status(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        #: at least one destination gave up (the reason is on its delivery)
        FAILED = "failed"
        #: over POSTWARDEN_ALERT_MAX_PER_HOUR: kept here, not sent
        HELD = "held"
        #: no alert URL was configured when it was made
        NO_DESTINATION = "no_destination"

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    key = models.CharField(max_length=100)
    title = models.CharField(max_length=300)
    evidence = models.TextField(blank=True)
    #: the whole link to the console page
    link = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    #: why it was held back, or had no destination
    note = models.CharField(max_length=300, blank=True)
    #: title, evidence and note as sentences that can be said again in another language
    #: (core/i18n.py as_data): the columns above stay English for the history and logs,
    #: an alert is sent in the instance's language
    words = models.JSONField(default=dict, blank=True)

    objects: ClassVar[models.Manager[Alert]]

    class Meta:
        ordering: ClassVar[list[str]] = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.key}"


class Delivery(models.Model):
    """An alert to one destination. The destination is named by a keyed digest of its
    URL (the URL itself is a secret and stays in the settings) and a label without the
    token; a URL removed before its delivery is recorded as such."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        FAILED = "failed"

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    destination = models.CharField(max_length=64)
    label = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    #: the latest failure, redacted (no token, no URL path)
    last_error = models.CharField(max_length=500, blank=True)
    #: the failure as a sentence when Postwarden wrote it (core/i18n.py keep); NULL when
    #: it is the endpoint's or the library's words
    words = models.JSONField(null=True, blank=True)

    objects: ClassVar[models.Manager[Delivery]]

    class Meta:
        indexes: ClassVar[list[models.Index]] = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"alert delivery to {self.label}"
