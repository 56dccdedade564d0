"""A canary's status as the console and the API show it, decided by the doctor's own
judgement of its latest finished run (core/doctor/checks/canary.py), so the list, the
doctor and the alerts on its codes can never disagree."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone
from django.utils.translation import gettext

from postwarden.canaries.models import Canary, CanaryRun
from postwarden.core.codes import Code
from postwarden.core.doctor.checks.canary import judge, summary
from postwarden.core.doctor.service import CanaryFacts
from postwarden.core.i18n import kept

#: finding code -> status word
_STATUS = {
    Code.CANARY_MISSING: "missing",
    Code.CANARY_AUTH_FAILED: "auth_failed",
    Code.CANARY_JUNK: "junk",
    Code.CANARY_SLOW: "slow",
    Code.CANARY_MAILBOX_UNREACHABLE: "unreachable",
}


@dataclass(frozen=True, slots=True)
class CanaryStatus:
    #: ok, missing, auth_failed, junk, slow, unreachable, never_run, disabled
    code: str
    summary: str
    #: the finding codes the latest run gives (the doctor's)
    findings: tuple[str, ...] = ()


def facts_of(canary: Canary, run: CanaryRun, now: datetime | None = None) -> CanaryFacts:
    """The doctor's facts for a finished run (what doctor/db_reads.py reads with plain SQL)."""
    now = now or timezone.now()
    return CanaryFacts(
        name=canary.name,
        address=canary.address,
        state=run.state,
        queued_at=run.started_at,
        age=max(0.0, (now - run.started_at).total_seconds()),
        folder=run.folder,
        accepted=run.accepted_at is not None,
        arrival_seconds=run.arrival_seconds,
        slow_seconds=float(canary.slow_seconds),
        deadline_minutes=canary.deadline_minutes,
        spf=run.spf,
        dkim=run.dkim,
        dmarc=run.dmarc,
        auth_results=run.auth_results,
        # English for the doctor's JSON and the API, the kept sentence for a page
        detail=kept(run.words, "detail", run.detail),
    )


def status_of(canary: Canary) -> CanaryStatus:
    if not canary.enabled:
        return CanaryStatus("disabled", gettext("disabled: no run starts"))
    run = canary.last_run
    if run is None:
        return CanaryStatus("never_run", gettext("no run has finished yet"))
    facts = facts_of(canary, run)
    verdicts = judge(facts)
    codes = tuple(v.code.value for v in verdicts if v.code is not None)
    first = verdicts[0].code if verdicts else None
    return CanaryStatus(_STATUS[first] if first is not None else "ok", summary(facts), codes)
