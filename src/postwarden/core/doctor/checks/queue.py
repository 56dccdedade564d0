"""What the service's database tells: the queue and its workers, process drift, and
whether the test recipient is suppressed. The facts come from :mod:`postwarden.doctor`
(:class:`~postwarden.core.doctor.service.ServiceFacts`); without them every check here
is skipped, as docs/spec/doctor.md asks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from postwarden.core.doctor.model import Code, Finding, Status
from postwarden.core.doctor.service import BACKLOG_SECONDS, WORKER_STALE_SECONDS, ServiceFacts, WorkerFacts
from postwarden.core.i18n import Number, Text, join, ntext

if TYPE_CHECKING:
    from postwarden.core.doctor.context import Context, Recorder

NO_DATABASE = Text("needs the service's database (none configured or reachable)")
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
        said = ntext(
            "{n} worker running, last seen {age:.0f} s ago",
            "{n} workers running, last seen {age:.0f} s ago",
            len(alive),
            age=Number(min(w.age for w in alive)),
        )
        rec.check("queue.worker", Status.PASS, said)
        return
    newest = min(facts.workers, key=lambda w: w.age, default=None)
    seen = (
        Text(
            "last heartbeat {age:.0f} s ago ({worker}, {status})",
            age=Number(newest.age),
            worker=newest.worker_id,
            status=newest.status,
        )
        if newest
        else Text("no worker has ever reported")
    )
    if facts.queue.waiting == 0:
        rec.check("queue.worker", Status.WARN, Text("no worker running; nothing waits ({seen})", seen=seen))
        return
    waiting = facts.queue.waiting
    evidence = (
        ntext(
            "{n} recipient waiting ({claimed} claimed by a worker that is gone); {seen}",
            "{n} recipients waiting ({claimed} claimed by a worker that is gone); {seen}",
            waiting,
            claimed=Number(facts.queue.claimed),
            seen=seen,
        )
        if facts.queue.claimed
        else ntext("{n} recipient waiting; {seen}", "{n} recipients waiting; {seen}", waiting, seen=seen)
    )
    rec.finding(
        Finding.of(
            Code.QUEUE_WORKER_DOWN,
            evidence,
            (
                Text("Start a worker: `postwarden worker` (or `postwarden serve`, which runs one)."),
                Text("Under systemd or Docker, check the worker's service and its logs for why it stopped."),
            ),
        )
    )
    rec.check("queue.worker", Status.FAIL, evidence)


def _backlog(rec: Recorder, facts: ServiceFacts) -> None:
    age = facts.queue.oldest_age
    if age is None or age <= BACKLOG_SECONDS:
        said = Text("nothing waits") if age is None else Text("oldest waits {age:.0f} s", age=Number(age))
        rec.check("queue.backlog", Status.PASS, said)
        return
    claimed = facts.queue.claimed
    waiting, minutes = facts.queue.waiting, Number(age / 60)
    evidence = (
        ntext(
            "the {n} waiting recipient has waited {minutes:.0f} min, claimed by a worker but not sent yet",
            "the oldest of {n} waiting recipients has waited {minutes:.0f} min, {claimed} of them "
            "claimed by a worker but not sent yet",
            waiting,
            claimed=Number(claimed),
            minutes=minutes,
        )
        if claimed
        else ntext(
            "the {n} waiting recipient has waited {minutes:.0f} min",
            "the oldest of {n} waiting recipients has waited {minutes:.0f} min",
            waiting,
            minutes=minutes,
        )
    )
    rec.finding(
        Finding.of(
            Code.QUEUE_BACKLOG,
            evidence,
            (
                Text("Check that workers are running and not failing (queue.worker, the worker's log)."),
                Text(
                    "If the rate limit (POSTWARDEN_SEND_RATE) or the provider's quota holds mail back, "
                    "raise it."
                ),
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
        ntext("{n} recipient waiting for a retry", "{n} recipients waiting for a retry", queue.retrying),
        Text("no recipient is waiting for a retry"),
        (
            Text("Run `postwarden explain` on the quoted reply to see what it means."),
            Text("Temporary refusals clear by themselves; if they persist, fix what the reply names."),
        ),
    )


def _dead(rec: Recorder, facts: ServiceFacts) -> None:
    queue = facts.queue
    hours = Number(queue.dead_window_hours)
    # recipients refused for good are counted beside: the doctor must not say "none" while
    # they sit there; their cause is queue.recent_sends' to name (a refused address or
    # message is not a broken path once later mail got through), so they raise no finding
    failed: Text | None = None
    if queue.failed:
        failed = ntext(
            "{n} recipient refused for good in the last {hours} h",
            "{n} recipients refused for good in the last {hours} h",
            queue.failed,
            hours=hours,
        )
        if queue.failed_error:
            failed = join("; ", [failed, _most_often(queue.failed_error)])
    if not queue.dead and failed:
        none = Text("none gave up after retries in the last {hours} h", hours=hours)
        rec.check("queue.dead_letters", Status.WARN, join("; ", [none, failed]))
        return
    _counted(
        rec,
        "queue.dead_letters",
        Code.QUEUE_DEAD_LETTERS,
        Status.FAIL,
        queue.dead,
        queue.dead_error,
        ntext(
            "{n} recipient gave up in the last {hours} h",
            "{n} recipients gave up in the last {hours} h",
            queue.dead,
            hours=hours,
        ),
        Text("none in the last {hours} h", hours=hours),
        (
            Text('Fix the cause the reply names (`postwarden explain "<reply>"`).'),
            Text("Then re-queue them in the console (Held and dead) or through the API."),
        ),
        more=failed,
    )


def _bounce_rate(rec: Recorder, facts: ServiceFacts, threshold: float) -> None:
    queue = facts.queue
    accepted, returned = queue.window_accepted, queue.window_bounced + queue.window_complained
    if accepted < BOUNCE_RATE_SAMPLE:
        said = Text(
            "too few to judge: {accepted} accepted (from {sample} on)",
            accepted=Number(accepted),
            sample=Number(BOUNCE_RATE_SAMPLE),
        )
        rec.check("queue.bounce_rate", Status.PASS, said)
        return
    rate = 100.0 * returned / accepted
    counted = ntext(
        "{rate:.1f} % of the {n} recipient accepted in the last {hours} h bounced or complained",
        "{rate:.1f} % of the {n} recipients accepted in the last {hours} h bounced or complained",
        accepted,
        rate=Number(rate),
        hours=Number(queue.bounce_window_hours),
    )
    if rate <= threshold:
        said = Text("{counted} (threshold {threshold:g} %)", counted=counted, threshold=Number(threshold))
        rec.check("queue.bounce_rate", Status.PASS, said)
        return
    evidence = Text(
        "{bounced} bounced and {complained} complained: {counted}, above the threshold of {threshold:g} % "
        "(POSTWARDEN_BOUNCE_RATE_THRESHOLD)",
        bounced=Number(queue.window_bounced),
        complained=Number(queue.window_complained),
        counted=counted,
        threshold=Number(threshold),
    )
    rec.finding(
        Finding.of(
            Code.QUEUE_BOUNCE_RATE,
            evidence,
            (
                Text(
                    "Look at the bounced recipients (console > Deliveries, state bounced) for the reason: "
                    "old or mistyped addresses, a list never confirmed."
                ),
                Text(
                    "Keep bounced and complaining addresses suppressed; providers pause accounts whose "
                    "bounce or complaint rate stays high."
                ),
            ),
        )
    )
    rec.check("queue.bounce_rate", Status.WARN, evidence)


def _most_often(error: tuple[str, int]) -> Text:
    """``most often: 451 4.7.1 … (3x)``: the reply quoted as stored."""
    return Text("most often: {reply} ({count}x)", reply=error[0], count=Number(error[1]))


def _counted(
    rec: Recorder,
    check_id: str,
    code: Code,
    status: Status,
    count: int,
    error: tuple[str, int] | None,
    counted: Text,
    none: Text,
    steps: tuple[str, ...],
    *,
    more: Text | None = None,
) -> None:
    """``count`` recipients (``counted`` says so), quoting the most common reply among
    them; ``more`` is added to the evidence (or to the line that says there are none)."""
    if not count:
        rec.check(check_id, Status.PASS, join("; ", [none, more]) if more else none)
        return
    evidence = join("; ", [counted, *([_most_often(error)] if error else []), *([more] if more else [])])
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
        rec.check("config.process_drift", Status.SKIP, Text("no running worker to compare with"))
        return
    if not drifting:
        said = ntext("{n} worker runs with these settings", "{n} workers run with these settings", len(alive))
        rec.check("config.process_drift", Status.PASS, said)
        return
    names = join(
        ", ",
        [
            Text(
                "{worker} on {host} ({fingerprint})",
                worker=w.worker_id,
                host=w.host,
                fingerprint=w.fingerprint,
            )
            for w in drifting
        ],
    )
    evidence = Text(
        "these settings have fingerprint {fingerprint}; running with others: {names}",
        fingerprint=facts.fingerprint,
        names=names,
    )
    rec.finding(
        Finding.of(
            Code.CONFIG_PROCESS_DRIFT,
            evidence,
            (
                Text(
                    "Restart the worker(s) so that they read the current environment (a deploy changed it "
                    "after they started), or"
                ),
                Text(
                    "set the same environment for the web process and the workers (the same .env, the same "
                    "secrets)."
                ),
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
        rec.check("policy.suppressed", Status.SKIP, Text("no recipient (--to, TEST_EMAIL or MAIL_FROM)"))
        return
    decision = facts.recipient
    if decision is None or decision.state != "suppressed":
        said = Text("{recipient} is not on the suppression list", recipient=ctx.recipient)
        rec.check("policy.suppressed", Status.PASS, said)
        return
    evidence = join(": ", [ctx.recipient, decision.reason])
    rec.finding(
        Finding.of(
            Code.POLICY_SUPPRESSED,
            evidence,
            (
                Text(
                    "If the address works again, remove it from the suppression list (console > "
                    "Suppressions, "
                    "or DELETE /api/v1/suppressions/<address>)."
                ),
                Text(
                    "A complaint or unsubscribe means the person asked for no mail: do not remove those "
                    "without asking."
                ),
            ),
        )
    )
    rec.check("policy.suppressed", Status.FAIL, evidence)
