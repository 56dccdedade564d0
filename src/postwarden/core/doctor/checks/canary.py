"""Past the first hop: what the canary mailboxes saw (docs/canaries.md). The facts are the
latest finished run of each enabled canary (:class:`~postwarden.core.doctor.service.CanaryFacts`,
read by :mod:`postwarden.doctor`); without the service's database, or with no canary,
the stage is skipped.

:func:`judge` is the one place that decides what a run means: the doctor's findings, the
canaries' status in the console and the API, and the alerts on these codes all read it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from postwarden.core.doctor.model import Code, Finding, Status
from postwarden.core.doctor.service import CanaryFacts
from postwarden.core.i18n import Number, Text, join

if TYPE_CHECKING:
    from postwarden.core.doctor.context import Context, Recorder

#: verdicts that mean the receiving side did not authenticate the mail (RFC 8601 2.7)
FAILING: Final = frozenset({"fail", "softfail", "permerror", "temperror"})
#: canaries named in one finding's evidence at most
_NAMED: Final = 5


@dataclass(frozen=True, slots=True)
class CanaryVerdict:
    """What one run means: a finding code (None: all is well) and the words for it."""

    code: Code | None
    evidence: str


def judge(facts: CanaryFacts) -> list[CanaryVerdict]:
    """Every finding one run gives, in ranking order; ``[]`` when it arrived in the inbox,
    authenticated, in time."""
    where = Text(
        "{name} ({address}), run of {when} UTC",
        name=facts.name,
        address=facts.address,
        when=facts.queued_at.strftime("%Y-%m-%d %H:%M"),
    )
    if facts.state == "unreachable":
        return [CanaryVerdict(Code.CANARY_MAILBOX_UNREACHABLE, join(": ", [where, facts.detail]))]
    if facts.state == "missing":
        return [CanaryVerdict(Code.CANARY_MISSING, join(": ", [where, facts.detail]))]
    found: list[CanaryVerdict] = []
    failing = [
        (m, r) for m, r in (("spf", facts.spf), ("dkim", facts.dkim), ("dmarc", facts.dmarc)) if r in FAILING
    ]
    if failing:
        said = ", ".join(f"{method}={result}" for method, result in failing)
        reported = Text(
            'the receiver reported {verdicts}: "{results}"', verdicts=said, results=facts.auth_results
        )
        found.append(CanaryVerdict(Code.CANARY_AUTH_FAILED, join(": ", [where, reported])))
    if facts.state == "junk":
        junk = Text(
            "found in {folder}, the junk folder ({verdicts})", folder=facts.folder, verdicts=_verdicts(facts)
        )
        found.append(CanaryVerdict(Code.CANARY_JUNK, join(": ", [where, junk])))
    seconds = facts.arrival_seconds
    if seconds is not None and seconds > facts.slow_seconds:
        late = Text(
            "arrived after {seconds:.0f} s (slow after {slow:.0f} s)",
            seconds=Number(seconds),
            slow=Number(facts.slow_seconds),
        )
        found.append(CanaryVerdict(Code.CANARY_SLOW, join(": ", [where, late])))
    return found


def summary(facts: CanaryFacts) -> str:
    """The run in one line, as the console and the API show it: "arrived in inbox in 3 s,
    SPF pass, DKIM pass, DMARC pass"."""
    if facts.state in ("missing", "unreachable"):
        label = Text("missing") if facts.state == "missing" else Text("mailbox unreachable")
        return join(": ", [label, facts.detail])
    placement = {"arrived": Text("inbox"), "junk": Text("junk")}.get(
        facts.state, facts.folder or Text("another folder")
    )
    if facts.arrival_seconds is not None:
        return Text(
            "arrived in {placement} in {seconds:.0f} s, {verdicts}",
            placement=placement,
            seconds=Number(facts.arrival_seconds),
            verdicts=_verdicts(facts),
        )
    return Text("arrived in {placement}, {verdicts}", placement=placement, verdicts=_verdicts(facts))


def _verdicts(facts: CanaryFacts) -> Text:
    return join(
        ", ",
        [
            join(" ", [label, result or Text("not reported")])
            for label, result in (("SPF", facts.spf), ("DKIM", facts.dkim), ("DMARC", facts.dmarc))
        ],
    )


#: code -> what to do about it
STEPS: Final[dict[Code, tuple[str, ...]]] = {
    Code.CANARY_MISSING: (
        Text(
            "If it was never accepted upstream, the message's timeline (Deliveries) names the stage that "
            "refused it; the doctor's other findings name the cause."
        ),
        Text(
            "If it was accepted but is missing, the receiving provider dropped or is holding it: look in "
            "its quarantine or spam reports (Google Postmaster Tools, Microsoft SNDS) and check SPF, DKIM "
            "and DMARC (postwarden doctor --only dns)."
        ),
        Text("Check that the canary's address is the mailbox the IMAP login reads."),
    ),
    Code.CANARY_AUTH_FAILED: (
        Text("Read the quoted Authentication-Results: it names the method that failed and often why."),
        Text(
            "dkim=fail: the published key does not match the signing key, or the mail was changed on the "
            "way (postwarden doctor --only dns checks the key); spf=fail: the sending server is not in the "
            "From domain's SPF record; dmarc=fail: neither SPF nor DKIM passed aligned with the From domain."
        ),
    ),
    Code.CANARY_JUNK: (
        Text(
            "Mark the canary as not spam in the mailbox, and check the receiver's verdicts in the run's "
            "headers (a failing SPF, DKIM or DMARC is the usual cause)."
        ),
        Text(
            "Check the sending IP's and domain's reputation with the provider (Google Postmaster Tools, "
            "Microsoft SNDS) and whether mail carries a List-Unsubscribe header and plain text."
        ),
    ),
    Code.CANARY_SLOW: (
        Text(
            "Check the queue (Overview) and the message's timeline: a retry or a rate limit delays the "
            "first hop."
        ),
        Text(
            "If the first hop was quick, the delay is at the receiver (greylisting, filtering): the run's "
            "Received headers show where the time went."
        ),
    ),
    Code.CANARY_MAILBOX_UNREACHABLE: (
        Text(
            "This is the canary's own configuration, not a fault of your mail: check its IMAP host, port, "
            "security, user and password on the Canaries page."
        ),
        Text(
            "Gmail and Outlook.com need an app password (or OAuth2) for IMAP, and IMAP enabled in the "
            "mailbox's settings."
        ),
    ),
}


async def run_canaries(ctx: Context, rec: Recorder) -> None:
    facts = ctx.service
    if facts is None:
        rec.check(
            "canary.runs", Status.SKIP, Text("needs the service's database (none configured or reachable)")
        )
        return
    if not facts.canaries:
        rec.check("canary.runs", Status.SKIP, Text("no canary mailbox has finished a run (Canaries page)"))
        return
    for finding in findings(facts.canaries):
        rec.finding(finding)
    verdicts = {c.name: judge(c) for c in facts.canaries}
    bad = sorted(name for name, found in verdicts.items() if found)
    if not bad:
        rec.check("canary.runs", Status.PASS, "; ".join(f"{c.name}: {summary(c)}" for c in facts.canaries))
        return
    failing = any(
        v.code in (Code.CANARY_MISSING, Code.CANARY_AUTH_FAILED) for f in verdicts.values() for v in f
    )
    rec.check(
        "canary.runs",
        Status.FAIL if failing else Status.WARN,
        Text("findings for {names}", names=", ".join(bad)),
    )


def findings(canaries: Sequence[CanaryFacts]) -> list[Finding]:
    """One finding per code for all canaries (the report lists each code once)."""
    by_code: dict[Code, list[str]] = {}
    for facts in canaries:
        for verdict in judge(facts):
            if verdict.code is not None:
                by_code.setdefault(verdict.code, []).append(verdict.evidence)
    return [Finding.of(code, _joined(evidence), STEPS[code]) for code, evidence in _ranked(by_code.items())]


def _joined(evidence: Sequence[str]) -> str:
    named = join("; ", evidence[:_NAMED])
    if len(evidence) > _NAMED:
        return Text("{named} (and {more} more)", named=named, more=Number(len(evidence) - _NAMED))
    return named


def _ranked(items: Iterable[tuple[Code, list[str]]]) -> list[tuple[Code, list[str]]]:
    order = list(STEPS)
    return sorted(items, key=lambda item: order.index(item[0]))
