"""What only the running service knows, handed to the doctor as plain data.

The core never reads the database (docs/architecture.md: "The Django side hands the doctor
what only it knows … as plain data"). :mod:`postwarden.doctor` fills :class:`ServiceFacts`
from the outbox, the heartbeats and the policy; the queue, suppression and drift units
here judge them. Without a database there are no facts, and those checks are skipped.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from postwarden.core.doctor.context import Context, Recorder

#: a heartbeat older than this means the worker is gone (workers write every few seconds)
WORKER_STALE_SECONDS: Final = 60.0
#: the oldest due message waiting longer than this is a backlog
BACKLOG_SECONDS: Final = 300.0


@dataclass(frozen=True, slots=True)
class WorkerFacts:
    worker_id: str
    host: str
    #: seconds since its last heartbeat
    age: float
    status: str
    fingerprint: str
    transport: str = ""


@dataclass(frozen=True, slots=True)
class QueueFacts:
    #: recipients not yet sent that a worker should be sending now: queued, deferred with
    #: their retry time passed, and claimed under a lease (``sending``) but not sent yet
    waiting: int = 0
    #: seconds the oldest due recipient has waited, None when none waits
    oldest_age: float | None = None
    #: recipients waiting for a retry
    retrying: int = 0
    #: (reply, count) most common among them
    dominant_error: tuple[str, int] | None = None
    #: recipients that gave up after their last retry, within ``dead_window_hours``
    dead: int = 0
    dead_error: tuple[str, int] | None = None
    dead_window_hours: int = 24
    #: recipients refused for good (a permanent failure, no retry) in the same window, and
    #: the most common reply among them
    failed: int = 0
    failed_error: tuple[str, int] | None = None
    #: of ``waiting``, those claimed by a worker (state ``sending``)
    claimed: int = 0
    #: recipients of the messages made in the bounce window that were accepted (sent,
    #: delivered, bounced or complained), and of them those that bounced or complained
    window_accepted: int = 0
    window_bounced: int = 0
    window_complained: int = 0
    bounce_window_hours: int = 24


@dataclass(frozen=True, slots=True)
class SendFacts:
    """What became of one recipient of a recent real message (its latest attempt)."""

    address: str
    #: the message's envelope sender (MAIL FROM)
    sender: str
    #: sent, delivered (accepted), deferred (a retry is due), failed (refused for good), dead
    state: str
    #: seconds since the recipient last changed
    age: float
    message_id: str
    #: the session stage of the latest attempt ("rcpt", "data", "api" …), "" when unknown
    stage: str = ""
    #: the server's or provider's words, as stored
    reply: str = ""

    @property
    def failed(self) -> bool:
        return self.state in FAILED_STATES


#: states of a recipient the last attempt did not get through
FAILED_STATES: Final = frozenset({"deferred", "failed", "dead"})
#: states in which the server or provider took the message
ACCEPTED_STATES: Final = frozenset({"sent", "delivered"})


@dataclass(frozen=True, slots=True)
class CanaryFacts:
    """The latest finished run of one enabled canary mailbox (postwarden.canaries)."""

    name: str
    address: str
    #: arrived (inbox), junk, other, missing, unreachable
    state: str
    #: when the run's mail was queued, and seconds since
    queued_at: datetime
    age: float
    #: the folder it was found in, as the server names it
    folder: str = ""
    #: the sending server (or provider) accepted it
    accepted: bool = False
    #: queued → found, on the service's clock
    arrival_seconds: float | None = None
    slow_seconds: float = 300.0
    deadline_minutes: int = 10
    spf: str = ""
    dkim: str = ""
    dmarc: str = ""
    #: the receiving server's Authentication-Results header(s), verbatim
    auth_results: str = ""
    #: why the run ended so (the outbox's reason, the IMAP server's words)
    detail: str = ""


@dataclass(frozen=True, slots=True)
class StoredTemplate:
    """The newest version of a stored mail template, for the links stage to render with
    its sample variables."""

    name: str
    version: int
    subject: str
    text: str | None
    html: str | None
    sample_variables: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RecipientPolicy:
    """The outbox's own decision for the test recipient (outbox/policy.py)."""

    state: str
    reason: str


@dataclass(frozen=True, slots=True)
class ServiceFacts:
    queue: QueueFacts = field(default_factory=QueueFacts)
    workers: tuple[WorkerFacts, ...] = ()
    #: the web process's fingerprint of the settings the doctor resolved
    fingerprint: str = ""
    recipient: RecipientPolicy | None = None
    #: addresses of members (exempt from the approved domains), lower-case
    members: frozenset[str] = frozenset()
    #: (message id, text) of recent messages, for the links stage
    recent_messages: tuple[tuple[str, str], ...] = ()
    #: (message id, size in bytes) of recent messages, the newest first: what the
    #: server's SIZE limit must take
    recent_sizes: tuple[tuple[str, int], ...] = ()
    #: what became of the recipients of recent messages, the most recently changed first
    recent_sends: tuple[SendFacts, ...] = ()
    #: the newest version of each stored template, for the links stage
    templates: tuple[StoredTemplate, ...] = ()
    #: the latest finished run of each enabled canary mailbox
    canaries: tuple[CanaryFacts, ...] = ()
    #: sends a provider test mail through the worker's transport (``--send``)
    provider_send: Callable[[Context, Recorder], Awaitable[None]] | None = None
