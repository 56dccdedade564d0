"""What real mail met: the fate of the recipients of the newest messages.

The doctor's own probe proves that a test envelope would be taken now; real mail can
still be refused, at DATA for its content, for its size, for a sender the probe does not
use. When the most recent real sends failed (nothing accepted since), their replies are
classified by the knowledge base - stage, reply code, enhanced code and words, with the
attempt's own sender and recipient - and the cause they name is a finding in its own
stage, with the server's words as evidence. A permanent refusal counts as much as a
temporary one that waits for its retry.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from postwarden.core.addresses import redact
from postwarden.core.codes import rank
from postwarden.core.doctor.model import Code, Finding, Severity, Status
from postwarden.core.doctor.service import SendFacts
from postwarden.core.i18n import Number, Text, join, ntext
from postwarden.core.replies.classify import Explanation, classify
from postwarden.core.replies.parse import parse_reply

if TYPE_CHECKING:
    from postwarden.core.doctor.context import Context, Recorder

CHECK_ID: Final = "queue.recent_sends"
#: causes that belong to one address: one refused address is not a broken path, so they
#: are errors only when several different recipients met them
_ONE_ADDRESS: Final = frozenset(
    {Code.ENVELOPE_RECIPIENT_REJECTED, Code.DNS_RECIPIENT_NO_MX, Code.POLICY_SUPPRESSED}
)


@dataclass(frozen=True, slots=True)
class _JudgedSends:
    send: SendFacts
    explanation: Explanation


async def run_recent_sends(ctx: Context, rec: Recorder) -> None:
    facts = ctx.service
    if facts is None:
        return  # the queue unit already says the database is missing
    sends = facts.recent_sends
    if not sends:
        rec.check(CHECK_ID, Status.PASS, Text("no real mail was sent in the last 24 h"))
        return
    streak = _leading_failures(sends)
    if not streak:
        rec.check(
            CHECK_ID, Status.PASS, Text("the last real send was accepted {ago}", ago=_ago(sends[0].age))
        )
        return
    judged = [_JudgedSends(send, _explain(ctx, send)) for send in streak]
    code, group = _dominant(judged)
    newest = group[0]
    severity = _severity(code, group)
    evidence = _evidence(streak, group, sends)
    steps = list(newest.explanation.steps)
    if newest.explanation.advice:
        steps.insert(0, newest.explanation.advice)
    steps.append(
        Text(
            "The doctor's own probe does not send a message: run `postwarden doctor --send` to send one "
            "through the whole path, and look at a refused message's attempts in the console."
        )
    )
    rec.finding(
        Finding.of(
            code,
            evidence,
            steps,
            severity=severity,
            title=None if code is Code.QUEUE_RECENT_FAILURES else newest.explanation.title or None,
            explanation=Text(
                "Real mail met this, whatever the probe finds now. {explanation}",
                explanation=newest.explanation.explanation,
            ),
        )
    )
    rec.check(CHECK_ID, Status.FAIL if severity is Severity.ERROR else Status.WARN, evidence)


def _leading_failures(sends: tuple[SendFacts, ...]) -> list[SendFacts]:
    """The failures since the last accepted send (the newest first)."""
    streak = []
    for send in sends:
        if not send.failed:
            break
        streak.append(send)
    return streak


def _explain(ctx: Context, send: SendFacts) -> Explanation:
    smtp = ctx.settings.smtp
    return classify(
        stage=send.stage or None,
        reply=parse_reply(send.reply),
        detail=send.reply,
        port=smtp.port if send.stage != "api" else None,
        host=smtp.host if send.stage != "api" else None,
        sender=send.sender,
        recipients=[send.address],
    )


def _dominant(judged: list[_JudgedSends]) -> tuple[Code, list[_JudgedSends]]:
    """The cause most of the failures name (ties: the earlier stage), with its failures."""
    known = [j for j in judged if j.explanation.code is not None]
    if not known:
        return Code.QUEUE_RECENT_FAILURES, judged
    counts = Counter(j.explanation.code for j in known)
    code = min(counts, key=lambda c: (-counts[c], rank(c)))  # type: ignore[arg-type]
    assert code is not None
    return code, [j for j in known if j.explanation.code is code]


def _severity(code: Code, group: list[_JudgedSends]) -> Severity:
    """The gravest the replies say; a recipient given up on (failed, dead) is an error
    whatever the reply's class, one still waiting for its retry no less than a warning."""
    given_up = any(j.send.state != "deferred" for j in group)
    said = [j.explanation.severity for j in group]
    gravest = min([*said, Severity.ERROR if given_up else Severity.WARNING], key=_gravity)
    if code in _ONE_ADDRESS and len({j.send.address.lower() for j in group}) < 2:
        return Severity.WARNING
    return gravest


def _gravity(severity: Severity) -> int:
    return {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}[severity]


def _evidence(streak: list[SendFacts], group: list[_JudgedSends], sends: tuple[SendFacts, ...]) -> Text:
    newest = group[0].send
    states = Counter(j.send.state for j in group)
    # the states are the outbox's own words (deferred, failed, dead), as the console shows them
    counted = ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
    since = (
        Text("none of the last ones was accepted")
        if len(streak) == len(sends)
        else Text("since the last accepted one")
    )
    refused = ntext(
        "{refused} of the last {n} real recipient refused ({counted}; {since})",
        "{refused} of the last {n} real recipients refused ({counted}; {since})",
        len(streak),
        refused=Number(len(group)),
        counted=counted,
        since=since,
    )
    about = {"address": redact(newest.address), "message": newest.message_id, "ago": _ago(newest.age)}
    who = (
        Text(
            "the newest, {address} in message {message} {ago} at {stage}", stage=newest.stage.upper(), **about
        )
        if newest.stage
        else Text("the newest, {address} in message {message} {ago}", **about)
    )
    return join("; ", [refused, join(": ", [who, newest.reply or Text("(no reply stored)")])])


def _ago(seconds: float) -> Text:
    if seconds < 120:
        return Text("{seconds:.0f} s ago", seconds=Number(seconds))
    if seconds < 7200:
        return Text("{minutes:.0f} min ago", minutes=Number(seconds / 60))
    return Text("{hours:.0f} h ago", hours=Number(seconds / 3600))
