"""The relay's way to the database: everything runs on the writer thread of the outbox's
group commit (:mod:`postwarden.outbox.groupcommit`), which the API's requests use too.

Sessions ask three things: is this API key good (AUTH), what is this recipient's policy
(RCPT), and store this message (end of DATA). Policy answers are kept for a few seconds
because apps send the same recipients over and over and a round trip to the database
thread per RCPT would halve the throughput; the outbox decides again when it stores the
message, so a recipient suppressed in between is recorded as suppressed, not sent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from django.db import DatabaseError, close_old_connections

from postwarden.core.config.model import Settings
from postwarden.outbox.groupcommit import Activity, GroupCommitter
from postwarden.outbox.policy import recipient_policy
from postwarden.relay.auth import Identity, verify_key
from postwarden.relay.store import NOT_STORED, Stored, Submission, store_batch

#: seconds a recipient's policy answer is reused at RCPT
POLICY_TTL = 2.0
#: seconds between re-reads of the settings (the console may change them)
SETTINGS_TTL = 2.0
#: seconds a batch waits for the sessions that are still sending their message (a
#: commit saved is worth far more than this latency; email is not interactive)
LINGER = 0.004
_MAX_CACHED = 10_000


@dataclass
class Gateway:
    """Owns the database thread. ``settings`` are the ones in force at start;
    ``settings_source`` is called on the database thread every few seconds."""

    settings: Settings
    settings_source: Callable[[], Settings]
    clock: Callable[[], float] = time.monotonic
    _policies: dict[str, tuple[float, str, str]] = field(default_factory=dict)
    _settings_at: float = 0.0

    def __post_init__(self) -> None:
        self._settings_at = self.clock()
        #: sessions in a mail transaction (the protocol counts them, the batch waits for them)
        self.activity = Activity()
        self.committer: GroupCommitter[Submission, Stored] = GroupCommitter(
            self._write,
            # a session counts from MAIL to its reply: a batch waits briefly for those
            expected=self.activity,
            linger=LINGER,
            # the relay's batch has no savepoint per message: any database error may be
            # one message's (a value the database will not take), so the others are
            # written again without it
            alone_on=(DatabaseError,),
            idle=self._refresh,
            name="relay-db",
        )

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.committer.start(loop)

    def stop(self, timeout: float = 30.0) -> None:
        self.committer.stop(timeout)

    async def verify(self, password: str) -> Identity | None:
        return await self.committer.call(lambda: verify_key(password))

    async def policy(self, address: str) -> tuple[str, str]:
        """``(state, reason)`` as the outbox would record it now (cached briefly)."""
        key = address.lower()
        cached = self._policies.get(key)
        if cached is not None and cached[0] > self.clock():
            return cached[1], cached[2]
        state, reason = await self.committer.call(lambda: recipient_policy(address, self.settings))
        if len(self._policies) >= _MAX_CACHED:
            self._policies.clear()
        self._policies[key] = (self.clock() + POLICY_TTL, state, reason)
        return state, reason

    async def store(self, submission: Submission) -> Stored:
        """The reply to the message: 250 once it is committed, a temporary failure when
        it could not be (the committer logged why; the application retries)."""
        try:
            return await self.committer.commit(submission)
        except Exception:
            return Stored(NOT_STORED)

    def _write(self, items: Sequence[Submission]) -> list[Stored]:
        self._refresh()
        return store_batch(items, self.settings)

    def _refresh(self) -> None:
        now = self.clock()
        if now - self._settings_at >= SETTINGS_TTL:
            # a connection that broke (a database restart) is replaced, as Django does
            # between requests
            close_old_connections()
            self.settings = self.settings_source()
            self._settings_at = now
