"""What a reply or failure means: one classifier for the doctor, the worker and the CLI.

``classify`` asks the tables of :mod:`~postwarden.core.replies.rules` (replies) and
:mod:`~postwarden.core.replies.failures` (no reply) and returns an
:class:`Explanation`. It never raises: unknown input degrades to a fallback by stage
and code class, and at worst to an explanation without a code.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from postwarden.core.codes import CATALOGUE, Code, Severity
from postwarden.core.i18n import Text
from postwarden.core.replies.failures import FAILURES, STAGE_FALLBACKS
from postwarden.core.replies.identity import AddressRole, attribute, role_of, wording
from postwarden.core.replies.oauth import REFUSED_MARK, TOKEN_FAILURES, TOKEN_REFUSALS
from postwarden.core.replies.parse import find_enhanced, redact, retry_after_hint, trailing_enhanced
from postwarden.core.replies.playbook import play
from postwarden.core.replies.providers import HOSTS, PROVIDER_HOSTS
from postwarden.core.replies.rule import Facts, Rule, Specificity
from postwarden.core.replies.rules import RULES
from postwarden.core.smtp.reply import Reply
from postwarden.core.smtp.stages import SmtpStage

#: replies are matched against the reply rules (with host advice); failures first
#: against their own table, then against the reply rules' wordings (a pasted
#: "Relay access denied" without its code), then by stage alone
_REPLY_TABLE: Final = RULES
_FAILURE_TABLE: Final = (*TOKEN_FAILURES, *TOKEN_REFUSALS, *FAILURES, *RULES, *STAGE_FALLBACKS)

#: session stages every message passes before its own envelope
BEFORE_ENVELOPE: Final = frozenset(
    {SmtpStage.CONNECT, SmtpStage.GREETING, SmtpStage.TLS, SmtpStage.EHLO, SmtpStage.STARTTLS, SmtpStage.AUTH}
)

_MAX_EVIDENCE: Final = 4000
_MAX_MATCHED: Final = 4000

#: what people type for a stage (``--stage``) beyond the stage names themselves
_STAGE_ALIASES: Final[dict[str, SmtpStage]] = {
    "dns": SmtpStage.RESOLVE,
    "lookup": SmtpStage.RESOLVE,
    "network": SmtpStage.CONNECT,
    "connection": SmtpStage.CONNECT,
    "banner": SmtpStage.GREETING,
    "helo": SmtpStage.EHLO,
    "ssl": SmtpStage.TLS,
    "login": SmtpStage.AUTH,
    "mail from": SmtpStage.MAIL,
    "from": SmtpStage.MAIL,
    "sender": SmtpStage.MAIL,
    "rcpt to": SmtpStage.RCPT,
    "to": SmtpStage.RCPT,
    "recipient": SmtpStage.RCPT,
    "message": SmtpStage.DATA,
    "content": SmtpStage.DATA,
}


@dataclass(frozen=True, slots=True)
class Explanation:
    """What a reply or failure means and what to do about it.

    ``code`` is a finding code of docs/spec/doctor.md, or ``None`` when nothing is known
    (or the reply is not a failure). ``permanent`` follows the reply class (5xx)
    unless a rule knows better; failures without a reply are not permanent: the
    message itself is fine, the path to the server is not. ``evidence`` is the
    server's reply (``str(reply)``) or the failure text, with anything that looks
    like a credential masked.
    """

    code: Code | None
    severity: Severity
    permanent: bool
    title: str
    explanation: str
    steps: tuple[str, ...]
    provider: str | None
    rule_id: str
    retry_after: float | None
    reply: Reply | None
    evidence: str
    advice: str = ""
    #: the side of the attempt the reply is about, when it names one (sender or recipient)
    identity_role: AddressRole | None = None
    #: the address that names it
    identity: str | None = None
    #: a permanent refusal that says the recipient's address does not exist or takes no
    #: mail (a rule marked ``address_gone``, with no enhanced code that says otherwise):
    #: the worker suppresses the address as for a hard bounce; a policy or content
    #: refusal is never this
    address_gone: bool = False

    @property
    def stage(self) -> str | None:
        """The doctor stage of the code (``"auth"``, ``"envelope"`` …)."""
        return self.code.stage if self.code is not None else None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``postwarden explain --json``)."""
        reply = None
        if self.reply is not None:
            reply = {"code": self.reply.code, "enhanced": self.reply.enhanced, "text": self.reply.text}
        return {
            "code": None if self.code is None else self.code.value,
            "stage": self.stage,
            "severity": self.severity.value,
            "permanent": self.permanent,
            "title": self.title,
            "explanation": self.explanation,
            "steps": list(self.steps),
            "provider": self.provider,
            "advice": self.advice,
            "rule_id": self.rule_id,
            "retry_after": self.retry_after,
            "reply": reply,
            "evidence": self.evidence,
        }


def as_stage(value: SmtpStage | str | None) -> SmtpStage | None:
    """``value`` as a session stage: a :class:`SmtpStage`, its name or value in any
    case, or a common alias ("MAIL FROM", "rcpt to", "helo"). Unknown → ``None``."""
    if value is None or isinstance(value, SmtpStage):
        return value
    key = " ".join(str(value).strip().lower().replace("_", " ").split())
    try:
        return SmtpStage(key)
    except ValueError:
        return _STAGE_ALIASES.get(key)


def classify(
    *,
    stage: SmtpStage | str | None,
    reply: Reply | None,
    detail: str = "",
    port: int | None = None,
    host: str | None = None,
    sender: str | None = None,
    recipients: Sequence[str] = (),
) -> Explanation:
    """Explain ``reply`` (or, without one, the failure ``detail``) seen at ``stage``.

    ``port`` and ``host`` are the server's, and sharpen the advice (port 25 blocked,
    Gmail app passwords, the SES region). ``sender`` and ``recipients`` are the
    attempt's envelope: a refusal that names one of them is attributed to that side
    (:mod:`~postwarden.core.replies.identity`). Never raises.
    """
    try:
        known = as_stage(stage)
        found = _classify(known, reply, detail or "", port, host)
        return _attributed(found, known, sender, recipients)
    except Exception:  # the contract is "never raises": a bug here must not stop a worker
        return _unknown(reply, detail or "", "error.internal")


def _attributed(
    found: Explanation, stage: SmtpStage | None, sender: str | None, recipients: Sequence[str]
) -> Explanation:
    """``found`` with its code moved to the side of the envelope the reply names."""
    text = found.reply.text if found.reply is not None else found.evidence
    named = role_of(text, sender, recipients, stage)
    if named is None or found.code is None:
        return found
    role, address = named
    by_codes_alone = found.rule_id.startswith(("enhanced.", "code.", "fallback."))
    code = attribute(found.code, role, words_name_cause=not by_codes_alone)
    note = wording(role, address)
    if code is found.code:
        return replace(
            found, explanation=_noted(note, found.explanation), identity_role=role, identity=address
        )
    generic = play(code)
    return replace(
        found,
        code=code,
        title=CATALOGUE[code].title,
        explanation=_noted(note, generic.explanation),
        steps=generic.steps,
        identity_role=role,
        identity=address,
    )


def _classify(
    stage: SmtpStage | None, reply: Reply | None, detail: str, port: int | None, host: str | None
) -> Explanation:
    if reply is not None and detail.startswith(REFUSED_MARK):
        # 535 5.7.3 after XOAUTH2 is not a wrong password: the token's rules read the whole text
        reply = None
    facts = _facts(stage, reply, detail, port, host)
    table = _REPLY_TABLE if reply is not None else _FAILURE_TABLE
    best: tuple[Specificity, int, Rule, dict[str, str]] | None = None
    for index, candidate in enumerate(table):
        matched = candidate.match(facts)
        if matched is None:
            continue
        key = (matched[0], -index)
        if best is None or key > (best[0], best[1]):
            best = (matched[0], -index, candidate, matched[1])
    if best is None:
        return _unknown(reply, detail, "unknown", facts)
    return _explain(best[2], best[3], facts, reply, detail)


def _facts(
    stage: SmtpStage | None, reply: Reply | None, detail: str, port: int | None, host: str | None
) -> Facts:
    if reply is not None:
        enhanced = trailing_enhanced(reply)
        code: int | None = reply.code
        text = _bounded(reply.text)
    else:
        text = _bounded(detail)
        enhanced = find_enhanced(text)
        code = None
    code_class = code // 100 if code is not None else (int(enhanced[0]) if enhanced else None)
    return Facts(stage, code, code_class, enhanced, text, (host or "").strip().lower() or None, port)


def _bounded(text: str) -> str:
    """Long failure texts (stack traces) are read at both ends: the wrapper's words come
    first, Java's root cause ("nested exception is …") last, and matching a hundred rules
    over megabytes of log would stall a worker."""
    if len(text) <= _MAX_MATCHED:
        return text
    half = _MAX_MATCHED // 2
    return text[:half] + "\n…\n" + text[-half:]


def _explain(
    rule: Rule, groups: dict[str, str], facts: Facts, reply: Reply | None, detail: str
) -> Explanation:
    evidence = _evidence(reply, detail)
    advisor = rule if rule.advice else _host_advisor(rule, facts)
    values = _values(groups, facts, evidence)
    generic = play(rule.code)
    catalogued = CATALOGUE[rule.code].title if rule.code is not None else Text("Unknown reply")
    permanent = rule.permanent if rule.permanent is not None else facts.code_class == 5
    return Explanation(
        code=rule.code,
        severity=_severity(rule, facts),
        permanent=permanent,
        title=_fill(rule.title or catalogued, values),
        explanation=_fill(rule.explanation or generic.explanation, values),
        steps=tuple(_fill(step, values) for step in (rule.steps or generic.steps)),
        provider=advisor.provider or _provider_of(facts.host),
        rule_id=rule.id,
        retry_after=retry_after_hint(facts.text),
        reply=reply,
        evidence=evidence,
        advice=_fill(advisor.advice, values),
        address_gone=permanent and rule.address_gone and _gone_status(facts.enhanced),
    )


#: RFC 3463 subject.detail pairs that agree with "the address is gone": other or undefined
#: (X.0.0), bad mailbox, system or mailbox address (X.1.1, X.1.2, X.1.3, X.1.6 moved,
#: X.1.10 null MX), mailbox disabled (X.2.1); a policy status (X.7.x) or a full
#: mailbox (X.2.2) with the same words is not
_GONE_STATUS: Final = frozenset({"0.0", "1.1", "1.2", "1.3", "1.6", "1.10", "2.1"})


def _gone_status(enhanced: str | None) -> bool:
    return enhanced is None or enhanced.split(".", 1)[-1] in _GONE_STATUS


def _host_advisor(rule: Rule, facts: Facts) -> Rule:
    """A host rule for the same code whose provider advice fits, else ``rule`` itself:
    "535 Authentication failed" from smtp.gmail.com deserves the App Password advice."""
    for candidate in HOSTS:
        if candidate.code == rule.code and candidate.match(facts) is not None:
            return candidate
    return rule


def _severity(rule: Rule, facts: Facts) -> Severity:
    """The rule's, else by class: 4xx is a warning (the mail goes later), 5xx an error.

    A temporary refusal before the envelope (at the greeting, STARTTLS or AUTH) is an
    error all the same: no message gets past it while it lasts, however often it is
    retried. That holds for throttling too (its code stays ``envelope.rate_limited``):
    a server that throttles the whole session takes no mail at all until it stops."""
    if rule.severity is not None:
        return rule.severity
    if facts.code_class == 4:
        return Severity.ERROR if facts.stage in BEFORE_ENVELOPE else Severity.WARNING
    if facts.code_class == 5:
        return Severity.ERROR
    return CATALOGUE[rule.code].severity if rule.code is not None else Severity.WARNING


def _unknown(reply: Reply | None, detail: str, rule_id: str, facts: Facts | None = None) -> Explanation:
    code_class = reply.code // 100 if reply is not None else (facts.code_class if facts else None)
    evidence = _evidence(reply, detail)
    return Explanation(
        code=None,
        severity=Severity.ERROR if code_class == 5 else Severity.WARNING,
        permanent=code_class == 5,
        title=Text("Postwarden does not know this reply")
        if reply is not None
        else Text("Postwarden does not know this error"),
        explanation=Text(
            "Nothing in the knowledge base matches it, and the stage it came from is not "
            "known. The server's or library's words are the evidence: {evidence}",
            evidence=evidence or Text("(empty)"),
        ),
        steps=(
            Text("Run `postwarden doctor`: it walks every stage and names the one that fails."),
            Text(
                "Run `postwarden explain` again with --stage (connect, greeting, ehlo, starttls, auth, mail, "
                "rcpt, data)."
            ),
        ),
        provider=_provider_of(facts.host if facts else None),
        rule_id=rule_id,
        retry_after=retry_after_hint(reply.text if reply is not None else detail),
        reply=reply,
        evidence=evidence,
    )


def _evidence(reply: Reply | None, detail: str) -> str:
    raw = str(reply) if reply is not None else " ".join(_bounded(detail).split())
    return redact(raw[: _MAX_EVIDENCE + 200])[:_MAX_EVIDENCE]


def _values(groups: dict[str, str], facts: Facts, evidence: str) -> dict[str, str]:
    """What a rule's ``{placeholders}`` stand for: the facts, the server's words (never
    translated), and for what is not known a phrase a reader can follow (translated)."""
    values: dict[str, str] = {
        "host": facts.host or Text("the SMTP server"),
        "port": str(facts.port) if facts.port is not None else Text("the port"),
        "code": str(facts.code or ""),
        "evidence": evidence,
        "region": _ses_region(facts.host) or Text("your SES region"),
        "identity": Text("(none)"),
        "identities": Text("the addresses it lists"),
        "resource": Text("the identity you send from"),
    }
    values.update(groups)
    if "region" in groups:
        values["region"] = groups["region"].lower()
    return values


def _fill(template: str, values: dict[str, str]) -> str:
    """``template`` with what is known put in; it stays a :class:`Text` so that a reader
    gets it in their language while the English (JSON, stored rows) reads as before."""
    if not isinstance(template, Text) or "{" not in template.msgid:
        return template
    try:
        return template.filled(values)
    except (ValueError, IndexError, AttributeError, KeyError):
        return template


def _noted(note: str, explanation: str) -> Text:
    """Which side of the envelope the reply is about, then what it means."""
    return Text("{note} {explanation}", note=note, explanation=explanation)


_SES_HOST = re.compile(r"email-smtp(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com$", re.IGNORECASE)
_PROVIDER_HOSTS = tuple((re.compile(pattern, re.IGNORECASE), name) for pattern, name in PROVIDER_HOSTS)


def _ses_region(host: str | None) -> str | None:
    found = _SES_HOST.search(host or "")
    return found.group(1).lower() if found else None


def _provider_of(host: str | None) -> str | None:
    for pattern, name in _PROVIDER_HOSTS:
        if host and pattern.search(host):
            return name
    return None
