"""The shape of one rule of the reply knowledge base, and how specific a match is.

A rule matches on any combination of:

- ``stages``: the session stage the reply or failure came at (``None`` in the set means
  "also when the stage is unknown");
- ``reply``: reply codes, exact (``"535"``) or by class (``"5xx"``);
- ``enhanced``: RFC 3463 codes, exact (``"5.7.8"``), for either class (``"X.7.1"``), by
  prefix (``"5.7."``, ``"X.7."``), or ``None`` for "no enhanced code given";
- ``text``: a case-insensitive pattern searched in the reply text (or failure detail);
- ``host`` / ``ports``: the server connected to.

Every criterion given must hold. Among the rules that match, the most specific wins,
compared as the tuple ``(text, host or port, enhanced, code, stage)``:

====================  =====================================================
text                  2 when the rule's pattern matched, 1 for a ``weak`` pattern (it names
                      the side of the envelope, not the cause), else 0
host or port          1 when a host pattern or port set matched, else 0
enhanced              3 exact or ``X.s.d``; 2 ``c.s.``/``X.s.``; 1 ``c.``; 0 none/absent
code                  2 exact code; 1 code class; 0 none
stage                 2 one stage; 1 a set of stages; 0 none, or unknown stage allowed
====================  =====================================================

Text comes first because where the server's words name the cause, they decide the
code (docs/spec/doctor.md: Postfix answers greylisting and its rate limit both with
``450 4.7.1``). Ties go to the rule earlier in the table, so the table lists
specific wordings before generic ones.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from postwarden.core.codes import Code, Severity
from postwarden.core.smtp.stages import SmtpStage

Specificity = tuple[int, int, int, int, int]

#: a reply at connect time is the greeting
GREETING = frozenset({SmtpStage.CONNECT, SmtpStage.GREETING})
SESSION = frozenset(
    {SmtpStage.CONNECT, SmtpStage.GREETING, SmtpStage.EHLO, SmtpStage.NOOP, SmtpStage.QUIT, SmtpStage.RSET}
)
#: ``None`` in a stage set: also when the stage is unknown (a pasted reply)
ENVELOPE_OR_UNKNOWN = frozenset({SmtpStage.MAIL, SmtpStage.RCPT, SmtpStage.DATA, SmtpStage.RSET, None})
NOT_AT_RCPT = frozenset({SmtpStage.MAIL, SmtpStage.DATA, None})


class LazyPattern:
    """A case-insensitive pattern compiled on its first search, not at import: the
    knowledge base has some 170 patterns, and compiling them all cost a third of the
    doctor's start-up while most runs search none or a few (a match tries the cheap
    criteria first, so only rules whose code, stage and enhanced code fit compile)."""

    __slots__ = ("_compiled", "flags", "pattern")

    def __init__(self, pattern: str, flags: int = re.IGNORECASE) -> None:
        self.pattern = pattern
        self.flags = flags
        self._compiled: re.Pattern[str] | None = None

    @property
    def compiled(self) -> re.Pattern[str]:
        """The compiled pattern (compiled now if it was not yet). Raises re.error."""
        if self._compiled is None:
            self._compiled = re.compile(self.pattern, self.flags)
        return self._compiled

    @property
    def groupindex(self) -> Mapping[str, int]:
        return self.compiled.groupindex

    def search(self, text: str) -> re.Match[str] | None:
        return self.compiled.search(text)

    def __repr__(self) -> str:
        return f"LazyPattern({self.pattern!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LazyPattern):
            return NotImplemented
        return (self.pattern, self.flags) == (other.pattern, other.flags)

    def __hash__(self) -> int:
        return hash((self.pattern, self.flags))


@dataclass(frozen=True, slots=True)
class Facts:
    """What is known about one failure, normalized for matching."""

    stage: SmtpStage | None
    code: int | None
    code_class: int | None
    enhanced: str | None
    text: str
    host: str | None = None
    port: int | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of the knowledge base. Empty texts fall back to the playbook."""

    id: str
    code: Code | None
    stages: frozenset[SmtpStage | None] | None = None
    reply: tuple[str, ...] = ()
    enhanced: tuple[str | None, ...] = ()
    text: LazyPattern | None = None
    host: LazyPattern | None = None
    ports: frozenset[int] = field(default_factory=frozenset)
    title: str = ""
    explanation: str = ""
    steps: tuple[str, ...] = ()
    provider: str | None = None
    advice: str = ""
    severity: Severity | None = None
    permanent: bool | None = None
    #: the text names which side was refused, not why: any rule whose words name a cause wins
    weak: bool = False
    #: a permanent refusal this rule knows says the address does not exist or takes no mail
    #: (user unknown, mailbox disabled, no such domain): the same fact as a hard bounce
    address_gone: bool = False

    def match(self, facts: Facts) -> tuple[Specificity, dict[str, str]] | None:
        """The specificity of this rule for ``facts`` and the text's named groups, or ``None``.
        Every criterion must hold; the cheap ones are tried first, so a pattern is compiled
        and searched only when the rest fits."""
        stage = self._stage(facts)
        code = self._code(facts) if stage is not None else None
        enhanced = self._enhanced(facts) if code is not None else None
        place = self._place(facts) if enhanced is not None else None
        if place is None or enhanced is None or code is None or stage is None:
            return None
        groups: dict[str, str] = {}
        text_score = 0
        if self.text is not None:
            found = self.text.search(facts.text)
            if found is None:
                return None
            groups = {k: v for k, v in found.groupdict().items() if v}
            text_score = 1 if self.weak else 2
        return (text_score, place, enhanced, code, stage), groups

    def _place(self, facts: Facts) -> int | None:
        if self.host is not None and not (facts.host and self.host.search(facts.host)):
            return None
        if self.ports and facts.port not in self.ports:
            return None
        return 1 if (self.host is not None or self.ports) else 0

    def _enhanced(self, facts: Facts) -> int | None:
        if not self.enhanced:
            return 0
        scores = [_enhanced_score(item, facts.enhanced) for item in self.enhanced]
        hits = [s for s in scores if s is not None]
        return max(hits) if hits else None

    def _code(self, facts: Facts) -> int | None:
        if not self.reply:
            return 0
        best: int | None = None
        for item in self.reply:
            if item.endswith("xx"):
                if facts.code_class is not None and str(facts.code_class) == item[0]:
                    best = max(best or 0, 1)
            elif facts.code is not None and int(item) == facts.code:
                best = 2
        return best

    def _stage(self, facts: Facts) -> int | None:
        if self.stages is None:
            return 0
        if facts.stage not in self.stages:
            return None
        if facts.stage is None:
            return 0
        return 2 if len(self.stages - {None}) == 1 else 1


def _enhanced_score(item: str | None, enhanced: str | None) -> int | None:
    if item is None:
        return 0 if enhanced is None else None
    if enhanced is None:
        return None
    have = enhanced.split(".")
    want = item.rstrip(".").split(".")
    for i, part in enumerate(want):
        if part.upper() != "X" and (i >= len(have) or have[i] != part):
            return None
    if item.endswith("."):
        return len(want)  # "5." → 1, "5.7." / "X.7." → 2
    return 3 if len(want) == len(have) else None


def rule(
    id: str,
    code: Code | None,
    *,
    on: SmtpStage | Iterable[SmtpStage | None] | None = None,
    reply: str | tuple[str, ...] = (),
    enhanced: str | tuple[str | None, ...] = (),
    text: str | None = None,
    host: str | None = None,
    ports: Iterable[int] = (),
    title: str = "",
    explanation: str = "",
    steps: tuple[str, ...] = (),
    provider: str | None = None,
    advice: str = "",
    severity: Severity | None = None,
    permanent: bool | None = None,
    weak: bool = False,
    address_gone: bool = False,
) -> Rule:
    """Build a :class:`Rule` from the compact notation the tables use."""
    stages = frozenset([on]) if isinstance(on, SmtpStage) else (frozenset(on) if on is not None else None)
    return Rule(
        id=id,
        code=code,
        stages=stages,
        reply=(reply,) if isinstance(reply, str) else reply,
        enhanced=(enhanced,) if isinstance(enhanced, str) else enhanced,
        text=LazyPattern(text, re.IGNORECASE | re.DOTALL) if text else None,
        host=LazyPattern(host) if host else None,
        ports=frozenset(ports),
        title=title,
        explanation=explanation,
        steps=steps,
        provider=provider,
        advice=advice,
        severity=severity,
        permanent=permanent,
        weak=weak,
        address_gone=address_gone,
    )
