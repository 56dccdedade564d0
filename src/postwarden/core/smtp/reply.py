"""An SMTP reply as the server sent it: code, RFC 3463 enhanced status, text."""

from __future__ import annotations

import re
from dataclasses import dataclass

#: RFC 3463 ``class.subject.detail``: class 2/4/5, subject up to 3 digits, detail up to 3.
ENHANCED_RE = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)")


@dataclass(frozen=True, slots=True)
class Reply:
    """One complete (possibly multi-line) SMTP reply.

    ``text`` is the human text with the code and the enhanced status stripped from
    every line, lines joined by a space; ``lines`` keeps the lines exactly as received.
    """

    code: int
    enhanced: str | None = None
    text: str = ""
    lines: tuple[str, ...] = ()

    @property
    def code_class(self) -> int:
        return self.code // 100

    @property
    def is_positive(self) -> bool:
        return 200 <= self.code < 400

    @property
    def is_transient(self) -> bool:
        return 400 <= self.code < 500

    @property
    def is_permanent(self) -> bool:
        return 500 <= self.code < 600

    def __str__(self) -> str:
        """``"535 5.7.8 Username and Password not accepted"``: the evidence form."""
        parts = [str(self.code)]
        if self.enhanced:
            parts.append(self.enhanced)
        if self.text:
            parts.append(self.text)
        return " ".join(parts)

    @classmethod
    def from_lines(cls, code: int, lines: list[str] | tuple[str, ...]) -> Reply:
        """Build a reply from the raw lines of one response (``"250-SIZE 1000"`` …).

        Raw lines may be given with or without their leading ``NNN-``/``NNN `` prefix.
        """
        texts: list[str] = []
        enhanced: str | None = None
        for raw in lines:
            line = raw
            if len(line) >= 3 and line[:3].isdigit() and (len(line) == 3 or line[3] in " -"):
                line = line[4:]
            match = ENHANCED_RE.match(line)
            if match and match.group(1) == str(code)[0]:
                enhanced = enhanced or match.group(0)
                line = line[match.end() :].lstrip()
            texts.append(line.strip())
        text = " ".join(t for t in texts if t)
        return cls(code=code, enhanced=enhanced, text=text, lines=tuple(lines))
