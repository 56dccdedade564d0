"""What the service's database tells: the queue and its workers, process drift, and
whether the test recipient is suppressed. The facts come from :mod:`postwarden.doctor`
(:class:`~postwarden.core.doctor.service.ServiceFacts`); without them every check here
is skipped, as docs/spec/doctor.md asks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from postwarden.core.doctor.model import Code, Finding, Status
from postwarden.core.doctor.service import BACKLOG_SECONDS, WORKER_STALE_SECONDS, ServiceFacts, WorkerFacts

if TYPE_CHECKING:
    from postwarden.core.doctor.context import Context, Recorder

NO_DATABASE = "needs the service's database (none configured or reachable)"
#: accepted recipients from which a bounce rate is judged (two bounces of three say little)
BOUNCE_RATE_SAMPLE = 20


def _alive(workers: tuple[WorkerFacts, ...]) -> list[WorkerFacts]:
    return [w for w in workers if w.status == "running" and w.age <= WORKER_STALE_SECONDS]


async def run_queue(ctx: Context, rec: Recorder) -> None:
    facts = ctx.service
    if facts is None:
        for check_id in (
            "queue.worker",
            "queue.backlog",
            "queue.retrying",
            "queue.dead_letters",
            "queue.bounce_rate",
        ):
            rec.check(check_id, Status.SKIP, NO_DATABASE)
        return
    _worker(rec, facts)
    _backlog(rec, facts)
    _retrying(rec, facts)
    _dead(rec, facts)
    _bounce_rate(rec, facts, ctx.settings.alerts.bounce_rate_percent)


def _worker(rec: Recorder, facts: ServiceFacts) -> None:
    alive = _alive(facts.workers)
    if alive:
        rec.check(
            "queue.worker",
            Status.PASS,
            f"{len(alive)} worker(s) running, last seen {min(w.age for w in alive):.0f} s ago",
        )
        return
    newest = min(facts.workers, key=lambda w: w.age, default=None)
    seen = (
        f"last heartbeat {newest.age:.0f} s ago ({newest.worker_id}, {newest.status})"
        if newest
        else "no worker has ever reported"
    )
    if facts.queue.waiting == 0:
        rec.check("queue.worker", Status.WARN, f"no worker running; nothing waits ({seen})")
        return
    claimed = f" ({facts.queue.claimed} claimed by a worker that is gone)" if facts.queue.claimed else ""
    evidence = f"{facts.queue.waiting} recipient(s) waiting{claimed}; {seen}"
    rec.finding(
        Finding.of(
            Code.QUEUE_WORKER_DOWN,
            evidence,
            (
                "Start a worker: `postwarden worker` (or `postwarden serve`, which runs one).",
                "Under systemd or Docker, check the worker's service and its logs for why it stopped.",
            ),
        )
    )
    rec.check("queue.worker", Status.FAIL, evidence)


def _backlog(rec: Recorder, facts: ServiceFacts) -> None:
    age = facts.queue.oldest_age
    if age is None or age <= BACKLOG_SECONDS:
        rec.check(
            "queue.backlog", Status.PASS, "nothing waits" if age is None else f"oldest waits {age:.0f} s"
        )
        return
    claimed = facts.queue.claimed
    held = f", {claimed} of them claimed by a worker but not sent yet" if claimed else ""
    evidence = f"the oldest of {facts.queue.waiting} waiting recipient(s) has waited {age / 60:.0f} min{held}"
    rec.finding(
        Finding.of(
            Code.QUEUE_BACKLOG,
            evidence,
            (
                "Check that workers are running and not failing (queue.worker, the worker's log).",
                "If the rate limit (POSTWARDEN_SEND_RATE) or the provider's quota holds mail back, raise it.",
            ),
        )
    )
    rec.check("queue.backlog", Status.WARN, evidence)


def _retrying(rec: Recorder, facts: ServiceFacts) -> None:
    queue = facts.queue
    _counted(
        rec,
        "queue.retrying",
        Code.QUEUE_RETRYING,
        Status.WARN,
        queue.retrying,
        queue.dominant_error,
        "waiting for a retry",
        "no recipient is waiting for a retry",
        (
            "Run `postwarden explain` on the quoted reply to see what it means.",
            "Temporary refusals clear by themselves; if they persist, fix what the reply names.",
        ),
    )


def _dead(rec: Recorder, facts: ServiceFacts) -> None:
    queue = facts.queue
    window = f"in the last {queue.dead_window_hours} h"
    # recipients refused for good are counted beside: the doctor must not say "none" while
    # they sit there; their cause is queue.recent_sends' to name (a refused address or
    # message is not a broken path once later mail got through), so they raise no finding
    failed = ""
    if queue.failed:
        quoted = (
            f"; most often: {queue.failed_error[0]} ({queue.failed_error[1]}x)" if queue.failed_error else ""
        )
        failed = f"; {queue.failed} recipient(s) refused for good {window}{quoted}"
    if not queue.dead and failed:
        rec.check("queue.dead_letters", Status.WARN, f"none gave up after retries {window}{failed}")
        return
    _counted(
        rec,
        "queue.dead_letters",
        Code.QUEUE_DEAD_LETTERS,
        Status.FAIL,
        queue.dead,
        queue.dead_error,
        f"gave up {window}",
        f"none {window}",
        (
            'Fix the cause the reply names (`postwarden explain "<reply>"`).',
            "Then re-queue them in the console (Held and dead) or through the API.",
        ),
        more=failed,
    )


def _bounce_rate(rec: Recorder, facts: ServiceFacts, threshold: float) -> None:
    queue = facts.queue
    accepted, returned = queue.window_accepted, queue.window_bounced + queue.window_complained
    window = f"of the {accepted} recipient(s) accepted in the last {queue.bounce_window_hours} h"
    if accepted < BOUNCE_RATE_SAMPLE:
        rec.check(
            "queue.bounce_rate",
            Status.PASS,
            f"too few to judge: {accepted} accepted (from {BOUNCE_RATE_SAMPLE} on)",
        )
        return
    rate = 100.0 * returned / accepted
    counted = f"{rate:.1f} % {window} bounced or complained"
    if rate <= threshold:
        rec.check("queue.bounce_rate", Status.PASS, f"{counted} (threshold {threshold:g} %)")
        return
    evidence = (
        f"{queue.window_bounced} bounced and {queue.window_complained} complained: {counted}, "
        f"above the threshold of {threshold:g} % (POSTWARDEN_BOUNCE_RATE_THRESHOLD)"
    )
    rec.finding(
        Finding.of(
            Code.QUEUE_BOUNCE_RATE,
            evidence,
            (
                "Look at the bounced recipients (console > Deliveries, state bounced) for the reason: "
                "old or mistyped addresses, a list never confirmed.",
                "Keep bounced and complaining addresses suppressed; providers pause accounts whose "
                "bounce or complaint rate stays high.",
            ),
        )
    )
    rec.check("queue.bounce_rate", Status.WARN, evidence)


def _counted(
    rec: Recorder,
    check_id: str,
    code: Code,
    status: Status,
    count: int,
    error: tuple[str, int] | None,
    what: str,
    none: str,
    steps: tuple[str, ...],
    *,
    more: str = "",
) -> None:
    """``count`` recipients that ``what``, quoting the most common reply among them;
    ``more`` is added to the evidence (or to the line that says there are none)."""
    if not count:
        rec.check(check_id, Status.PASS, none + more)
        return
    quoted = f"; most often: {error[0]} ({error[1]}x)" if error else ""
    evidence = f"{count} recipient(s) {what}{quoted}{more}"
    rec.finding(Finding.of(code, evidence, steps))
    rec.check(check_id, status, evidence)


async def run_drift(ctx: Context, rec: Recorder) -> None:
    facts = ctx.service
    if facts is None:
        rec.check("config.process_drift", Status.SKIP, NO_DATABASE)
        return
    alive = _alive(facts.workers)
    drifting = [w for w in alive if w.fingerprint and w.fingerprint != facts.fingerprint]
    if not alive:
        rec.check("config.process_drift", Status.SKIP, "no running worker to compare with")
        return
    if not drifting:
        rec.check("config.process_drift", Status.PASS, f"{len(alive)} worker(s) run with these settings")
        return
    names = ", ".join(f"{w.worker_id} on {w.host} ({w.fingerprint})" for w in drifting)
    evidence = f"these settings have fingerprint {facts.fingerprint}; running with others: {names}"
    rec.finding(
        Finding.of(
            Code.CONFIG_PROCESS_DRIFT,
            evidence,
            (
                "Restart the worker(s) so that they read the current environment (a deploy changed "
                "it after they "
                "started), or",
                "set the same environment for the web process and the workers (the same .env, the "
                "same secrets).",
            ),
        )
    )
    rec.check("config.process_drift", Status.FAIL, evidence)


async def run_suppressed(ctx: Context, rec: Recorder) -> None:
    facts = ctx.service
    if facts is None:
        rec.check("policy.suppressed", Status.SKIP, NO_DATABASE)
        return
    if ctx.recipient is None:
        rec.check("policy.suppressed", Status.SKIP, "no recipient (--to, TEST_EMAIL or MAIL_FROM)")
        return
    decision = facts.recipient
    if decision is None or decision.state != "suppressed":
        rec.check("policy.suppressed", Status.PASS, f"{ctx.recipient} is not on the suppression list")
        return
    evidence = f"{ctx.recipient}: {decision.reason}"
    rec.finding(
        Finding.of(
            Code.POLICY_SUPPRESSED,
            evidence,
            (
                "If the address works again, remove it from the suppression list (console > Suppressions, or "
                "DELETE /api/v1/suppressions/<address>).",
                "A complaint or unsubscribe means the person asked for no mail: do not remove those "
                "without asking.",
            ),
        )
    )
    rec.check("policy.suppressed", Status.FAIL, evidence)
