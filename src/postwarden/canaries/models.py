"""A canary mailbox and its runs.

The schedule (``next_run_at``) and the lease (``lease_owner``, ``lease_until``) live in
the canary's row, so every node agrees on who runs it and a restart never sends early.
A run's state lives in its own row, so a run survives the process that started it: the
next pass, on any node, goes on polling it.
"""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.db.models import Q
from django.utils import timezone

from postwarden.outbox.models import Message


class MailboxSecurity(models.TextChoices):
    NONE = "none"
    SSL = "ssl"
    STARTTLS = "starttls"


class RunState(models.TextChoices):
    """What a run found. These words appear as they are in the API and the console."""

    #: sent (or being sent); the mailbox is being watched
    WAITING = "waiting"
    #: found in the inbox
    ARRIVED = "arrived"
    #: found in the junk folder
    JUNK = "junk"
    #: found in another folder (a rule moved it, or the provider did)
    OTHER = "other"
    #: not found by the deadline (``accepted_at`` says whether the server took it)
    MISSING = "missing"
    #: the canary mailbox could not be read (login refused, server down, TLS): no verdict
    UNREACHABLE = "unreachable"


#: the states a run ends in
FINAL_STATES = (RunState.ARRIVED, RunState.JUNK, RunState.OTHER, RunState.MISSING, RunState.UNREACHABLE)
#: states in which the mail was found, and the placement each means
PLACEMENT = {RunState.ARRIVED: "inbox", RunState.JUNK: "junk", RunState.OTHER: "other"}


class Canary(models.Model):
    #: a short label: the console's list, /metrics' ``canary`` label (never the address)
    name = models.CharField(max_length=64, unique=True)
    address = models.CharField(max_length=320)
    imap_host = models.CharField(max_length=255)
    imap_port = models.PositiveIntegerField()
    imap_security = models.CharField(
        max_length=8, choices=MailboxSecurity.choices, default=MailboxSecurity.SSL
    )
    imap_user = models.CharField(max_length=320)
    #: sealed (core/sealing.py), as the console keeps the SMTP password
    imap_password = models.TextField()
    interval_minutes = models.PositiveIntegerField(default=60)
    #: a canary not found this long after it was queued is missing
    deadline_minutes = models.PositiveIntegerField(default=10)
    #: an arrival later than this is slow (canary.slow)
    slow_seconds = models.PositiveIntegerField(default=300)
    #: delete the canary mail from the mailbox once it is read
    delete_found = models.BooleanField(default=True)
    enabled = models.BooleanField(default=True)
    #: the start of every token of this canary's mails: one IMAP SEARCH finds them all
    #: (late arrivals of earlier runs included) and nothing else in the mailbox
    key = models.CharField(max_length=32, unique=True)
    #: the schedule: the next run starts once this has passed
    next_run_at = models.DateTimeField(default=timezone.now)
    #: "Run now" was asked for; the next pass starts a run whatever the schedule
    run_requested = models.BooleanField(default=False)
    #: the node driving this canary now, until ``lease_until`` (runner.py)
    lease_owner = models.CharField(max_length=100, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    #: the latest finished run: what the doctor and the list read, without a scan
    last_run = models.ForeignKey(
        "canaries.CanaryRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects: ClassVar[models.Manager[Canary]]

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class CanaryRun(models.Model):
    canary = models.ForeignKey(Canary, on_delete=models.CASCADE, related_name="runs")
    #: the X-Postwarden-Canary header's value: the canary's key, a dot, random hex
    token = models.CharField(max_length=80, unique=True)
    #: schedule or manual
    trigger = models.CharField(max_length=16, default="schedule")
    state = models.CharField(max_length=16, choices=RunState.choices, default=RunState.WAITING)
    #: queued in the outbox (our clock); every latency is measured from here
    started_at = models.DateTimeField(default=timezone.now)
    #: the sending server (or provider) accepted it: the recipient's sent_at
    accepted_at = models.DateTimeField(null=True, blank=True)
    #: found in the mailbox, by the poll that found it (our clock, never the server's)
    arrived_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField(null=True, blank=True)
    #: the folder as the server names it, and what it is: inbox, junk, other
    folder = models.CharField(max_length=255, blank=True)
    placement = models.CharField(max_length=8, blank=True)
    #: copies of this run's mail found (a duplicate delivery is counted once)
    copies = models.PositiveSmallIntegerField(default=0)
    #: found after the deadline, by a later look (the run stays missing)
    late_arrived_at = models.DateTimeField(null=True, blank=True)
    late_placement = models.CharField(max_length=8, blank=True)
    #: the receiving side's verdicts, from its Authentication-Results header
    spf = models.CharField(max_length=16, blank=True)
    dkim = models.CharField(max_length=16, blank=True)
    dmarc = models.CharField(max_length=16, blank=True)
    #: the Authentication-Results header(s) the verdicts were read from, verbatim
    auth_results = models.TextField(blank=True)
    #: the headers that matter (Received chain, Authentication-Results, DKIM-Signature …)
    headers = models.TextField(blank=True)
    #: Received headers: the hops the mail took
    hops = models.PositiveSmallIntegerField(null=True, blank=True)
    #: when the receiving server stored it, on ITS clock (INTERNALDATE): shown, never used
    #: for latency (the hosts' clocks may differ)
    server_received_at = models.DateTimeField(null=True, blank=True)
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    message_public_id = models.CharField(max_length=32, blank=True)
    #: why it ended as it did, in words (the outbox's reason, the IMAP server's words)
    detail = models.TextField(blank=True)
    #: the detail as a sentence to say in the reader's language (core/i18n.py keep); NULL
    #: for runs written before it was kept
    words = models.JSONField(null=True, blank=True)
    #: the last IMAP failure while watching (the run goes on until the deadline)
    imap_error = models.TextField(blank=True)
    #: polls made, successful IMAP looks among them, and when the next is due
    polls = models.PositiveIntegerField(default=0)
    looks = models.PositiveIntegerField(default=0)
    next_poll_at = models.DateTimeField(null=True, blank=True)

    objects: ClassVar[models.Manager[CanaryRun]]

    class Meta:
        ordering = ("-started_at", "-id")
        indexes = (
            models.Index(fields=("canary", "started_at"), name="canaryrun_by_canary"),
            models.Index(fields=("next_poll_at",), name="canaryrun_waiting", condition=Q(state="waiting")),
        )

    def __str__(self) -> str:
        return f"{self.canary_id}:{self.token} ({self.state})"

    @property
    def arrival_seconds(self) -> float | None:
        if self.arrived_at is None:
            return None
        return max(0.0, (self.arrived_at - self.started_at).total_seconds())
