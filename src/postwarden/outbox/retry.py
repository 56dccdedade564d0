"""Transient or permanent, and when to try again: the one retry policy (docs/style.md §7).

Transports report what happened; this module decides, asking the reply knowledge base
(:func:`postwarden.core.replies.classify.classify`) what a reply means. Rules of its
own, each with a reason:

* A failure on the way to the server (connect, TLS, greeting, EHLO, STARTTLS, AUTH; a
  provider's 401/403) is never permanent for the message: nothing is wrong with the
  message or the recipient, the path is broken, and an operator can mend it (Postal
  retries auth and connection errors the same way). It is retried until the attempts or
  the maximum age run out, so mail is not lost to a mistyped password.
* A message the transport refused before sending anything of it (``refused_before_sending``:
  it cannot be DKIM-signed, the provider's client cannot encode it) is permanent: the same
  bytes are sent on every retry, so no retry can mend it.
* Provider APIs (stage ``api``) answer in HTTP: no answer, 429 and 5xx are transient,
  other 4xx permanent, and a 2xx that refused this recipient is permanent
  (transports/esp.py documents the same reading). A provider that names its error
  (``provider_error``: Mandrill answers every error with 500) is read by the name: an
  error about this message is permanent; a bad key, an unpaid or unknown account, an
  unverified sender or an outage is the path, retried like a 401 or a 5xx.

Backoff is exponential with full jitter in ``[½·d, d]`` and a cap; a server's "try again
in N minutes" wins over the computed wait (Postal adds its N+10 s the same way).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from postwarden.core.config.model import DeliverySettings
from postwarden.core.i18n import Number, Text
from postwarden.core.replies.classify import Explanation, classify
from postwarden.core.smtp.stages import SmtpStage
from postwarden.transports.base import MESSAGE_STAGE, Outcome, RecipientResult

#: stages that describe the path to the server, not this message or recipient
PATH_STAGES: Final = frozenset(
    {
        SmtpStage.RESOLVE,
        SmtpStage.CONNECT,
        SmtpStage.TLS,
        SmtpStage.GREETING,
        SmtpStage.EHLO,
        SmtpStage.STARTTLS,
        SmtpStage.AUTH,
        SmtpStage.NOOP,
        SmtpStage.QUIT,
        "internal",
    }
)
#: provider HTTP statuses that are about the account, not the message
_PATH_HTTP: Final = frozenset({401, 403})
#: provider error names that are about the message itself (Mandrill's list); every other
#: named error is the key, the account or the provider, which an operator or time mends
PROVIDER_MESSAGE_ERRORS: Final = frozenset(
    {
        "ValidationError",
        "Unknown_Template",
        "Invalid_Template",
        "Invalid_Tag_Name",
        "Metadata_FieldLimit",
        "Unknown_MetadataField",
    }
)
#: seconds before the first retry: greylisting servers (450 4.7.1) want a few minutes,
#: and a minute is short enough that a passing network fault costs little
DEFAULT_BASE: Final = 60.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long to wait and when to give up. ``base`` is the first wait in seconds."""

    max_attempts: int = 8
    max_age: float = 2 * 86400
    base: float = DEFAULT_BASE
    factor: float = 2.0
    cap: float = 3600.0

    @classmethod
    def from_settings(cls, delivery: DeliverySettings, *, base: float | None = None) -> RetryPolicy:
        return cls(
            max_attempts=delivery.max_attempts,
            max_age=delivery.max_age_seconds,
            base=DEFAULT_BASE if base is None else base,
        )

    def delay(self, tries: int, retry_after: float | None, rng: random.Random | None = None) -> float:
        """Seconds before the next try after ``tries`` failed ones."""
        draw = (rng or random).uniform
        if retry_after is not None and retry_after > 0:
            return retry_after * draw(1.0, 1.1)
        ceiling = min(self.cap, self.base * self.factor ** max(0, tries - 1))
        return draw(ceiling / 2, ceiling)


@dataclass(frozen=True, slots=True)
class RetryVerdict:
    """What becomes of one recipient after one attempt."""

    #: sent, deferred, failed or dead (also the attempt's outcome)
    state: str
    retry_at: datetime | None = None
    permanent: bool = False
    #: the doctor's finding code, "" when none
    finding: str = ""
    #: the knowledge base's one-line title
    title: str = ""
    #: Recipient.reason: the stage and the server's words, and what happens next
    reason: str = ""
    #: a permanent refusal of this recipient's address at RCPT that says the address does not
    #: exist or takes no mail (the knowledge base's ``address_gone``): suppress it
    address_gone: bool = False


#: the verdict on every accepted recipient (one object: the hot path allocates none)
SENT: Final = RetryVerdict("sent")


def judge(
    result: RecipientResult,
    *,
    tries: int,
    queued_at: datetime,
    now: datetime,
    policy: RetryPolicy,
    port: int | None = None,
    host: str | None = None,
) -> RetryVerdict:
    """The verdict on ``result`` after ``tries`` attempts since the recipient was (re)queued."""
    if result.outcome is Outcome.SENT:
        return SENT
    explanation = explain(result, port=port, host=host)
    evidence = explanation.evidence or result.detail or _NO_REPLY
    finding = explanation.code.value if explanation.code is not None else ""
    if permanent(result, explanation):
        # only a refusal at RCPT names this one address; a DATA reply answers the whole
        # transaction, and a provider's error may be about the request
        gone = explanation.address_gone and result.stage == SmtpStage.RCPT
        return RetryVerdict(
            "failed", None, True, finding, explanation.title, f"failed at {result.stage}: {evidence}", gone
        )
    age = (now - queued_at).total_seconds()
    if tries >= policy.max_attempts or age >= policy.max_age:
        why = f"{tries} attempts" if tries >= policy.max_attempts else f"{age / 3600:.1f} hours"
        return RetryVerdict(
            "dead",
            None,
            False,
            finding,
            explanation.title,
            f"dead after {why}; last at {result.stage}: {evidence}",
        )
    wait = policy.delay(tries, explanation.retry_after)
    retry_at = min(now + timedelta(seconds=wait), queued_at + timedelta(seconds=policy.max_age))
    return RetryVerdict(
        "deferred", retry_at, False, finding, explanation.title, f"deferred at {result.stage}: {evidence}"
    )


#: the shapes of the reasons :func:`judge` writes (a stage is one word)
_ENDED: Final = re.compile(r"(deferred|failed) at (\S+?): (.*)", re.S)
_DEAD: Final = re.compile(r"dead after (?:(\d+) attempts|(\d+\.\d) hours); last at (\S+?): (.*)", re.S)


def said_reason(reason: str) -> str:
    """A reason :func:`judge` wrote, as a sentence to say in the reader's language (the
    stage and the server's words stay its parameters); any other text as it is.

    The worker stores its reasons by batched SQL in English, and the hot path makes no
    sentence objects: a page reads the sentence back from the English it wrote.
    """
    ended, dead = _ENDED.fullmatch(reason), _DEAD.fullmatch(reason)
    if ended is not None:
        state, stage, evidence = ended.groups()
        said: Text = (
            Text("deferred at {stage}: {evidence}", stage=stage, evidence=_evidence(evidence))
            if state == "deferred"
            else Text("failed at {stage}: {evidence}", stage=stage, evidence=_evidence(evidence))
        )
    elif dead is not None:
        tries, hours, stage, evidence = dead.groups()
        why = (
            Text("{n} attempts", n=Number(int(tries)))
            if tries is not None
            else Text("{hours:.1f} hours", hours=Number(float(hours)))
        )
        said = Text(
            "dead after {why}; last at {stage}: {evidence}",
            why=why,
            stage=stage,
            evidence=_evidence(evidence),
        )
    else:
        return reason
    # the shapes are the writer's: a reason that only looks like one stays as it is
    return said if said == reason else reason


def _evidence(words: str) -> str:
    return Text("no reply") if words == _NO_REPLY else words


_NO_REPLY: Final = "no reply"


def explain(result: RecipientResult, *, port: int | None = None, host: str | None = None) -> Explanation:
    """The knowledge base's reading of a failed result."""
    stage = None if result.stage in ("api", "internal", MESSAGE_STAGE) else result.stage
    return classify(stage=stage, reply=result.reply, detail=result.detail, port=port, host=host)


def permanent(result: RecipientResult, explanation: Explanation) -> bool:
    """Whether retrying cannot help (see the module docstring for the rules)."""
    if result.refused_before_sending:
        return True
    if result.stage == "api":
        status = result.http_status
        if result.provider_error and (status is None or status >= 500):
            # a named error behind a blanket 500 (Mandrill's way): the name tells more
            return result.provider_error in PROVIDER_MESSAGE_ERRORS
        return status is not None and not (status == 429 or status >= 500 or status in _PATH_HTTP)
    if result.stage in PATH_STAGES:
        return False
    return explanation.permanent
