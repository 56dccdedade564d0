"""The delivery worker: one asyncio process (docs/style.md §3) that claims, sends and records
(in-process sending: docs/decisions/0004-in-process-sending.md).

* The database is called between awaits, in short batched statements on the loop's own
  thread (:meth:`Worker.db`): a few milliseconds per batch of hundreds of recipients.
  A database thread cost more than it saved: every row's statement released and took
  back the GIL the sending loop needed, and each hand-over was a context switch.
* Claimed deliveries go into a queue drained by as many sender tasks as the transport
  asks for (its connections); each task takes a fair share of what waits (a few deliveries) and sends them
  on one connection, one round trip each where the transport can.
* Results are collected and written in batches (every ``flush_interval`` seconds or
  ``flush_rows`` results, or with the next claim), one transaction each.
* Each step (:meth:`Worker.claim_step`, :meth:`Worker.flush_step`,
  :meth:`Worker.heartbeat_step`, :meth:`Worker.settings_step`) returns whether it found
  work and can be called alone in tests, as healthchecks' sendalerts does.
* SIGTERM/SIGINT: stop claiming, finish what is being sent, give back what was claimed
  but not started, write the last results, exit 0.
* A crash (SIGKILL, power loss) leaves recipients "sending". A claim is a lease of
  ``POSTWARDEN_WORKER_TIMEOUT`` seconds that the heartbeat renews every few seconds, so
  what a silent worker held falls back to the queue that long after its last heartbeat,
  and what a worker on this machine held whose process is gone is taken back at once
  (at start and every few seconds: :meth:`Worker.recover_step`, worker/liveness.py).
  A worker sends only while its claim is surely still its own (renewed less than
  two thirds of a lease ago; else it renews first and drops what was taken back), and
  it claims only what it can send soon (:meth:`Worker.claim_room`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.db import connection
from django.utils import timezone

from postwarden import stopping
from postwarden.configstore.runtime import current_settings
from postwarden.core.config.model import DeliverySettings, Settings
from postwarden.core.doctor.redact import Redactor
from postwarden.core.verp import Verp
from postwarden.outbox import heartbeat, retention, retrynow
from postwarden.outbox.models import State
from postwarden.outbox.ratelimit import RateLimiter, reserve
from postwarden.outbox.retry import RetryPolicy
from postwarden.outbox.returnpaths import return_paths
from postwarden.outbox.worker import attempts, claim, leases, record
from postwarden.outbox.worker.claim import Claimed, Job
from postwarden.outbox.worker.loop_aside import call_with_loop_aside
from postwarden.outbox.worker.options import WorkerOptions, in_db, new_worker_id, prepare_process
from postwarden.outbox.worker.record import Done
from postwarden.outbox.worker.stats import Stats
from postwarden.transports.base import Outcome, RecipientResult, Transport
from postwarden.transports.registry import build_transport

log = logging.getLogger("postwarden.worker")
T = TypeVar("T")


#: seconds between looks for expired leases and dead workers (at most; a third of the
#: lease when shorter)
REAP_EVERY = 5.0
#: seconds between retention passes (outbox/retention.py); each pass is bounded in time
PRUNE_EVERY = 300.0
#: a worker claims what it can send within this many seconds at its recent pace (and
#: at least enough to keep every sender busy): what it holds is not waiting for others
SOON = 2.0
#: the stages of a session that concern one message (a failure there says nothing about
#: the way out)
MESSAGE_STAGES = frozenset({"mail", "rcpt", "data", "rset"})


class Worker:
    """Delivers the outbox. ``settings_source`` is called like the database work (:meth:`db`)."""

    def __init__(
        self,
        options: WorkerOptions | None = None,
        *,
        settings_source: Callable[[], Settings] | None = None,
        transport_factory: Callable[[Settings], Transport] = build_transport,
    ) -> None:
        self.options = options or WorkerOptions()
        self.worker_id = self.options.worker_id or new_worker_id()
        self._settings_source = settings_source or current_settings
        self._factory = transport_factory
        self.stats = Stats()
        self.jobs: asyncio.Queue[Job | None] = asyncio.Queue()
        self.done: list[Done] = []
        self.started_at = timezone.now()
        self.settings: Settings | None = None
        self.transport: Transport | None = None
        self.limiter: RateLimiter | None = None
        self.policy = RetryPolicy()
        #: what every stored reply passes through (the doctor's, for these settings)
        self.redactor = Redactor(())
        #: per-recipient return paths (BOUNCE_DOMAIN), for the SMTP transport
        self.verp: Verp | None = None
        #: why nothing can be sent (the transport could not be built), or None
        self.problem: str | None = None
        self.stopping = asyncio.Event()
        self._inflight: dict[int, int] = {}
        #: deliveries taken but not sent while stopping, their claims unconfirmed (released at shutdown)
        self._returned: list[Job] = []
        self._senders: list[asyncio.Task[None]] = []
        self._flush_now = asyncio.Event()
        self._last_settings_check = 0.0
        #: whether the way out (connection, TLS, sign-in, API) may have failed since the
        #: last message that went out: unknown at start, so yes
        self._way_out_failed = True
        self._last_reap = float("-inf")
        #: recipients claimed and not yet judged, by pk; and those found taken back
        self._outstanding: set[int] = set()
        self._lost: set[int] = set()
        #: until when (monotonic) every claim this worker holds is surely still its own
        self._valid_until = float("-inf")
        self._renew_lock = asyncio.Lock()
        #: recipients judged, and the pace they were judged at (recipients a second)
        self._finished = 0
        self._pace = 0.0
        self._pace_mark = (time.monotonic(), 0)

    # -- the database -------------------------------------------------------------------

    async def db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` (synchronous database work) now, on this thread, while the loop
        waits: blocking for a batch is the design here, and nothing else runs meanwhile
        (worker/loop_aside.py says why the loop is hidden from Django's guard for it)."""

        def work() -> T:
            return in_db(fn, *args, **kwargs)

        return call_with_loop_aside(work)

    # -- steps ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Resolve the settings and build the transport."""
        if self.settings is None:
            self._apply(await self.db(self._settings_source))

    async def claim_step(self, *, message_pk: int | None = None, limit: int | None = None) -> bool:
        """Claim due recipients (only ``message_pk``'s, when given; at most ``limit``, or
        a batch) and queue their deliveries, writing the results gathered so far in the
        same transaction. True if any were due."""
        await self.start()
        if self.transport is None:
            return False  # misconfigured (see self.problem): nothing can go until the settings change
        settings, transport = self._current()
        if not settings.sending.enabled:
            return False  # the kill switch: queued mail waits until sending is on again
        cap = transport.max_recipients
        if settings.delivery.max_recipients_per_message:
            cap = min(cap, settings.delivery.max_recipients_per_message)
        now, started = timezone.now(), time.monotonic()
        lease = self.lease()
        results, self.done = self.done, []
        try:
            jobs = await self.db(
                claim.claim,
                self.worker_id,
                transport.name,
                limit=limit or self.options.batch_size,
                lease=timedelta(seconds=lease),
                cap=cap,
                with_parts=transport.needs_parts,
                now=now,
                redact=self.redactor.text,
                message_pk=message_pk,
                done=results,
                reap=self._reap_due(),
                verp=self.verp if transport.takes_return_paths else None,
            )
        except Exception:
            self.done = results + self.done  # not written: the next flush or claim tries again
            raise
        if jobs and await self._settings_changed():
            # the settings changed since the last look (an admin fixed the password, and a
            # message came right after): what was claimed goes back and is claimed again
            # for the new transport, so no attempt is made with what was just replaced
            self.stats.released += await self.db(leases.release, jobs, self.worker_id, timezone.now())
            return True
        if jobs and not self._outstanding:  # else older claims expire first
            self._valid_until = started + lease * 2 / 3
        for job in jobs:
            self.stats.claimed += len(job.recipients)
            self._outstanding.update(c.pk for c in job.recipients)
            self.jobs.put_nowait(job)
        return bool(jobs)

    def claim_room(self) -> int:
        """How many recipients to claim now: up to what this worker can send within
        :data:`SOON` seconds at its recent pace, less what it holds unsent; at least two
        shares for every sender (one sending, one waiting), at most two batches. 0 while
        less than half a batch (or half the bound) is free, so claims stay batched."""
        now = time.monotonic()
        mark, finished = self._pace_mark
        if now - mark >= 0.5:
            recent = (self._finished - finished) / (now - mark)
            self._pace = (self._pace + recent) / 2
            self._pace_mark = (now, self._finished)
        share = max(1, len(self._senders)) * self.options.deliveries_per_send
        bound = max(2 * share, min(2 * self.options.batch_size, int(self._pace * SOON)))
        room = min(self.options.batch_size, bound - len(self._outstanding))
        return room if room >= max(1, min(self.options.batch_size, bound) // 2) else 0

    async def recover_step(self) -> int:
        """Take back at once what workers of this machine held whose process is gone
        (their heartbeat names the process: worker/liveness.py). The number taken back."""
        dead, count = await self.db(leases.take_back_from_dead, timezone.now())
        if dead:
            log.warning(
                "took back what dead workers held",
                extra={"worker": self.worker_id, "dead": dead, "recipients": count},
            )
        return count

    async def prune_step(self) -> retention.Pruned:
        """One retention pass, on a thread of its own with its own database connection, so
        the batches' deletes never hold up the loop's sending."""
        settings, _ = self._current()
        pruned = await asyncio.to_thread(_prune_on_thread, settings.delivery)
        if pruned.bodies or pruned.messages:
            log.info(
                "retention",
                extra={"worker": self.worker_id, "bodies": pruned.bodies, "messages": pruned.messages,
                       "pages": pruned.pages, "more": pruned.more},
            )  # fmt: skip
        return pruned

    async def renew_step(self) -> None:
        """Renew the lease of everything this worker holds; forget what was taken back
        meanwhile (it was silent longer than a lease), so that it is never sent twice
        from here."""
        async with self._renew_lock:
            now, started, lease = timezone.now(), time.monotonic(), self.lease()
            held = await self.db(leases.renew, self.worker_id, now + timedelta(seconds=lease))
            self._valid_until = started + lease * 2 / 3
            lost = self._outstanding - held
            if lost:
                self._outstanding -= lost
                self._lost |= lost
                self.stats.lost += len(lost)
                log.warning(
                    "claims taken back while this worker was silent; it will not send them",
                    extra={"worker": self.worker_id, "recipients": len(lost)},
                )

    def lease(self) -> float:
        """Seconds a claim lasts unrenewed: ``--lease``, else POSTWARDEN_WORKER_TIMEOUT."""
        if self.options.lease is not None:
            return self.options.lease
        return self.settings.delivery.worker_timeout if self.settings else DeliverySettings().worker_timeout

    async def flush_step(self) -> bool:
        """Write the finished attempts. True if there were any."""
        batch, self.done = self.done, []
        if not batch:
            return False
        try:
            await self.db(record.record, batch, self.worker_id, redact=self.redactor.text)
        except Exception:
            self.done = batch + self.done  # keep them: the next flush tries again
            raise
        await self._after_recovery(batch)
        return True

    async def _after_recovery(self, batch: list[Done]) -> None:
        """The way out works again (a message went out after the connection, TLS, sign-in
        or the API failed, or for the first time since start, when a worker before this
        one may have left such failures): the recipients those failures deferred are
        retried now, not after their backoff. Only a failure before any message was
        handed over counts as the way out failing, so one message that fails at DATA
        while others go never makes the others' successes retry it again and again."""
        for done in batch:
            finding = done.verdict.finding
            if finding:
                if (
                    done.result.stage not in MESSAGE_STAGES
                    and finding.partition(".")[0] in retrynow.TRANSPORT
                ):
                    self._way_out_failed = True
            elif self._way_out_failed and done.verdict.state == State.SENT:
                self._way_out_failed = False
                await self.db(retrynow.retry_deferred, retrynow.TRANSPORT, why=retrynow.TRANSPORT_WORKS)

    async def heartbeat_step(self, status: str = "running") -> None:
        """Write the heartbeat row and renew the leases of what is held (:meth:`renew_step`)."""
        await self.start()
        assert self.settings is not None  # set by start()
        now = timezone.now()
        if status == "running" and self.problem:
            status = "misconfigured"
        counters = (
            {**self.stats.snapshot(), "problem": self.problem} if self.problem else self.stats.snapshot()
        )
        await self.db(
            heartbeat.beat,
            self.worker_id,
            settings=self.settings,
            transport=self.transport.name if self.transport else self.settings.sending.provider.value,
            status=status,
            counters=counters,
            started_at=self.started_at,
            now=now,
        )
        if status in ("running", "misconfigured"):
            await self.renew_step()

    async def settings_step(self) -> bool:
        """Re-resolve the settings; rebuild the transport if they changed, and make due
        now the deferred recipients the change can help (outbox/retrynow.py). True if so.
        Cheap when nothing changed: the settings source answers with the object it gave
        before (configstore/runtime.py's cache)."""
        fresh = await self.db(self._settings_source)
        old = self.settings
        if fresh is old or fresh == old:
            return False
        self._apply(fresh)
        if old is not None:
            await self.db(
                retrynow.retry_deferred, retrynow.helped_by(old, fresh), why=retrynow.SETTINGS_CHANGED
            )
        log.info(
            "settings changed; transport rebuilt",
            extra={"worker": self.worker_id, "transport": fresh.sending.provider.value},
        )
        return True

    async def _settings_changed(self) -> bool:
        """:meth:`settings_step` before sending what was claimed; settings that cannot be
        read now (a stored value the resolver refuses) leave the ones in force, as the
        periodic look does."""
        try:
            return await self.settings_step()
        except Exception:
            log.exception(
                "reading the settings failed; sending with those in force", extra={"worker": self.worker_id}
            )
            return False

    async def deliver_step(self, *, message_pk: int | None = None) -> bool:
        """Claim, send everything claimed and write the results, in this task: one round of
        the worker's work without its loops (``send-test``, tests). True if any were due."""
        found = await self.claim_step(message_pk=message_pk)
        while not self.jobs.empty():
            jobs = [
                self.jobs.get_nowait()
                for _ in range(min(self.jobs.qsize(), self.options.deliveries_per_send))
            ]
            await self.send_jobs([job for job in jobs if job is not None])
        await self.flush_step()
        return found

    async def send_job(self, job: Job) -> None:
        """Send one delivery and queue its results for the next flush."""
        await self.send_jobs([job])

    async def send_jobs(self, jobs: list[Job]) -> None:
        """Send deliveries, several on one connection when the transport batches (one round
        trip a message), else one by one; queue the results for the next flush."""
        _, transport = self._current()
        if len(jobs) > 1 and transport.batches:
            await self._send(transport, jobs)
        else:
            for job in jobs:
                await self._send(transport, [job])

    async def _send(self, transport: Transport, jobs: list[Job]) -> None:
        jobs = await self._still_held(jobs)
        if not jobs:
            return
        if self.limiter is not None:
            await self.limiter.acquire(sum(len(job.recipients) for job in jobs))
        key = id(transport)
        self._inflight[key] = self._inflight.get(key, 0) + 1
        started = time.perf_counter()
        try:
            answers = await transport.send_many([job.delivery for job in jobs])
        except Exception as exc:  # a poison message or a transport bug: never a crash loop
            if len(jobs) == 1:
                for job in jobs:
                    await self._poisoned(job, transport, exc, time.perf_counter() - started)
            else:  # send_many refuses a batch before sending (an unusable address): find the one
                for job in jobs:
                    await self._send(transport, [job])
            return
        finally:
            self._inflight[key] -= 1
        seconds = time.perf_counter() - started
        lines: list[attempts.LogEntry] = []
        now = timezone.now()
        for job, results in zip(jobs, answers, strict=True):
            self._finish(job, transport, results, seconds, now, lines)
        attempts.log_attempts(lines)

    async def _still_held(self, jobs: list[Job]) -> list[Job]:
        """``jobs`` without the recipients this worker no longer holds. When its claims may
        have run out (no renewal for two thirds of a lease: a stalled loop, an unreachable
        database) it renews first, and waits while it cannot."""
        while time.monotonic() >= self._valid_until:
            try:
                await self.renew_step()
            except Exception:
                log.exception(
                    "renewing claims failed; not sending until it works", extra={"worker": self.worker_id}
                )
                if self.stopping.is_set():
                    self._returned.extend(jobs)  # released at shutdown, if the database lets it
                    return []
                await self._pause(1.0)
        if not self._lost:
            return jobs
        kept = []
        for job in jobs:
            mine = tuple(c for c in job.recipients if c.pk not in self._lost)
            self._lost.difference_update(c.pk for c in job.recipients)
            if len(mine) == len(job.recipients):
                kept.append(job)
            elif mine:
                addresses = tuple(c.address for c in mine)
                kept.append(Job(replace(job.delivery, recipients=addresses), mine))
        return kept

    # -- running ---------------------------------------------------------------------------

    async def run(self) -> int:
        """Run until SIGTERM/SIGINT (or :meth:`stop`); returns the exit status."""
        stopping.on_stop(self.stop)
        await self.start()
        await self.recover_step()  # before the first heartbeat, which may overwrite a dead one's row
        await self.heartbeat_step()
        log.info("worker started", extra={"worker": self.worker_id, "transport": self._transport_name()})
        background = [asyncio.create_task(self._flush_loop()), asyncio.create_task(self._beat_loop())]
        self._resize_senders()
        try:
            await self._claim_loop()
        finally:
            await self._shutdown(background)
        return 0

    async def close(self) -> None:
        """Close the transport (for one-off use: send-test)."""
        if self.transport is not None:
            await self.transport.close()

    def stop(self) -> None:
        if not self.stopping.is_set():
            log.info("worker stopping: finishing what is in flight", extra={"worker": self.worker_id})
        self.stopping.set()

    async def _claim_loop(self) -> None:
        failures = 0
        while not self.stopping.is_set():
            room = self.claim_room()
            if not room:
                await self._pause(0.005)
                continue
            try:
                found = await self.claim_step(limit=room)
                failures = 0
            except Exception:
                failures += 1
                log.exception("claim failed; retrying", extra={"worker": self.worker_id})
                await self._pause(min(30.0, 0.5 * 2**failures))
                continue
            if not found:
                await self._pause(self.options.idle_sleep)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)

    async def _sender(self, index: int) -> None:
        while True:
            job = await self.jobs.get()
            if job is None:
                return
            jobs = [job]
            # a fair share of what is waiting, so every connection gets some, and few enough
            # that a graceful stop (which lets taken deliveries finish) comes soon
            share = min(self.options.deliveries_per_send, 1 + self.jobs.qsize() // max(1, len(self._senders)))
            while len(jobs) < share and not self.jobs.empty():
                more = self.jobs.get_nowait()
                if more is None:  # shutting down: send what was taken, then stop
                    self.jobs.put_nowait(None)
                    break
                jobs.append(more)
            try:
                await self.send_jobs(jobs)
            except Exception:  # a bug after the send: the lease expires and the reaper re-queues
                self.stats.errors += 1
                log.exception(
                    "recording deliveries failed",
                    extra={"worker": self.worker_id, "public_id": jobs[0].delivery.public_id},
                )

    def _resize_senders(self) -> None:
        want = self.transport.concurrency if self.transport is not None else 1
        self._senders = [t for t in self._senders if not t.done()]
        for index in range(len(self._senders), want):
            self._senders.append(asyncio.create_task(self._sender(index)))

    async def _flush_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._flush_now.wait(), self.options.flush_interval)
            self._flush_now.clear()
            try:
                await self.flush_step()
            except Exception:
                log.exception("writing results failed; retrying", extra={"worker": self.worker_id})
                await asyncio.sleep(1.0)

    async def _beat_loop(self) -> None:
        # the heartbeat also renews the leases of what is being sent, so it comes at least
        # three times per lease: a live worker's rows must never look abandoned
        last_beat = last_recovery = time.monotonic()
        # the first retention pass comes a full interval after start: a pass soon after start
        # ran beside every short-lived worker (tests on SQLite's shared in-memory database
        # saw "database table is locked" from its second connection)
        last_prune = last_beat
        while True:
            beat_every = min(self.options.heartbeat_interval, self.lease() / 3)
            await asyncio.sleep(min(beat_every, self.options.settings_interval))
            try:
                now = time.monotonic()
                if now - self._last_settings_check >= self.options.settings_interval:
                    self._last_settings_check = now
                    if await self.settings_step():
                        self._resize_senders()
                if now - last_beat >= beat_every:
                    last_beat = now
                    await self.heartbeat_step()
                if now - last_prune >= PRUNE_EVERY:
                    last_prune = now
                    await self.prune_step()
            except Exception:
                log.exception("heartbeat failed", extra={"worker": self.worker_id})
            if now - last_recovery >= min(REAP_EVERY, self.lease() / 3):
                last_recovery = now
                try:  # apart: a failure here must never cost this worker its own renewals
                    await self.recover_step()
                except Exception:
                    log.exception("looking for dead workers failed", extra={"worker": self.worker_id})

    async def _shutdown(self, background: list[asyncio.Task[None]]) -> None:
        unstarted: list[Job] = []
        while not self.jobs.empty():
            job = self.jobs.get_nowait()
            if job is not None:
                unstarted.append(job)
        for _ in self._senders:
            self.jobs.put_nowait(None)
        await asyncio.gather(*self._senders, return_exceptions=True)
        unstarted += self._returned
        self._returned = []
        if unstarted:
            self.stats.released += await self.db(leases.release, unstarted, self.worker_id, timezone.now())
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await self.flush_step()
        if self.transport is not None:
            await self.transport.close()
        await self.heartbeat_step(status="stopped")
        log.info(
            "worker stopped",
            extra={
                "worker": self.worker_id,
                "released": self.stats.released,
                **{k: v for k, v in self.stats.snapshot().items() if k == "attempts"},
            },
        )

    # -- helpers ---------------------------------------------------------------------------

    def _apply(self, settings: Settings) -> None:
        old = self.transport
        self.settings = settings
        self.policy = RetryPolicy.from_settings(settings.delivery, base=self.options.retry_base)
        self.redactor = Redactor.for_settings(settings)
        self.verp = return_paths(settings)
        try:
            self.transport, self.problem = self._factory(settings), None
        except Exception as exc:  # SMTP_HOST unset, an unusable DKIM key, a missing extra …
            self.transport, self.problem = None, f"{type(exc).__name__}: {exc}"
            log.error(
                "cannot send with these settings; waiting for them to change",
                extra={"worker": self.worker_id, "problem": self.problem},
            )
        rate = settings.delivery.rate_per_second
        name = settings.sending.provider.value
        self.limiter = RateLimiter(name, rate, self._reserve) if rate > 0 else None
        if old is not None:
            asyncio.get_running_loop().create_task(self._retire(old))

    async def _reserve(self, key: str, count: int, rate: float) -> float:
        return await self.db(reserve, key, count, rate)

    async def _retire(self, transport: Transport) -> None:
        while self._inflight.get(id(transport)):
            await asyncio.sleep(0.05)
        self._inflight.pop(id(transport), None)
        await transport.close()

    def _reap_due(self) -> bool:
        """Expired leases are looked for every few seconds (a lease lasts minutes)."""
        now = time.monotonic()
        if now - self._last_reap < min(REAP_EVERY, self.lease() / 3):
            return False
        self._last_reap = now
        return True

    def _current(self) -> tuple[Settings, Transport]:
        if self.settings is None or self.transport is None:
            raise RuntimeError("the worker has not started: await start() first")
        return self.settings, self.transport

    def _transport_name(self) -> str:
        return self.transport.name if self.transport is not None else ""

    def _finish(
        self,
        job: Job,
        transport: Transport,
        results: Sequence[RecipientResult],
        seconds: float,
        now: datetime,
        lines: list[attempts.LogEntry],
    ) -> None:
        """Judge each recipient's result, queue it for the next write and its log line."""
        by_address = {r.address: r for r in results}
        for claimed in job.recipients:
            result = by_address.get(claimed.address) or attempts.missing(claimed.address, transport.name)
            lines.append(self._judge(job, claimed, result, transport, now, seconds))
        if len(self.done) >= self.options.flush_rows:
            self._flush_now.set()

    def _judge(
        self,
        job: Job,
        claimed: Claimed,
        result: RecipientResult,
        transport: Transport,
        now: datetime,
        seconds: float,
    ) -> attempts.LogEntry:
        done = attempts.conclude(
            claimed,
            result,
            server=transport.server,
            policy=self.policy,
            now=now,
            seconds=seconds,
        )
        self.done.append(done)
        self._outstanding.discard(claimed.pk)
        self._lost.discard(claimed.pk)
        self._finished += 1
        self.stats.attempt(transport.name, done.verdict.state, seconds)
        return attempts.log_line(done, job.delivery, transport.name)

    async def _poisoned(self, job: Job, transport: Transport, exc: Exception, seconds: float) -> None:
        self.stats.errors += 1
        now = timezone.now()
        detail = f"{type(exc).__name__}: {exc}"
        lines = []
        for claimed in job.recipients:
            failure = RecipientResult(claimed.address, Outcome.FAILED, stage="internal", detail=detail)
            lines.append(self._judge(job, claimed, failure, transport, now, seconds))
        attempts.log_attempts(lines)
        # the next attempt is pushed back (written) before anything else can go wrong
        await self.flush_step()
        log.error(
            "the transport raised; the delivery is deferred",
            exc_info=exc,
            extra={
                "worker": self.worker_id,
                "public_id": job.delivery.public_id,
                "transport": transport.name,
            },
        )


def _prune_on_thread(settings: DeliverySettings) -> retention.Pruned:
    try:
        return retention.prune(settings)
    finally:
        connection.close()  # this thread's own connection, opened by the pass


def run_worker(options: WorkerOptions | None = None) -> int:
    """Run a worker until it is told to stop (``postwarden worker``)."""
    prepare_process()
    return run_loop(stopping.until_stopped(Worker(options or WorkerOptions()).run()))


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` to completion on a new event loop. asyncio's: uvloop was measured and
    did not pay for the worker (docs/performance.md), and it would need core/smtp's reader
    to accept transports that are not asyncio.Transport."""
    return asyncio.run(main)


__all__ = ["Worker", "WorkerOptions", "prepare_process", "run_loop", "run_worker"]
