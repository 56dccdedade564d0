"""Find the SMTP reply inside the text people paste, and the hints around it.

What users paste is rarely a clean reply: it is an exception chain from Java, Go, Ruby
or Python ("javax.mail.AuthenticationFailedException: 535-5.7.8 …", "Failed to add to
email address - 554 5.7.1 …", ``(535, b'5.7.8 …')``), a multi-line reply flattened by a
logger, or a transcript. :func:`parse_reply` picks the server's reply out of it;
nothing here raises on any input.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Final

from postwarden.core.smtp.reply import Reply

#: RFC 5321 §4.2: first digit 2-5, second digit 0-5. Ports such as 587 and 465 fail
#: the second-digit test, which removes most false candidates in error chains.
_CODE_AT = re.compile(r"(?<![\w.])([2-5][0-5]\d)(?=[ \t-]|$)", re.MULTILINE)

#: smtplib's exceptions print ``(535, b'5.7.8 …')``; SMTPRecipientsRefused nests them in a dict.
_PY_TUPLE = re.compile(r"\((?P<code>[2-5][0-5]\d),\s*(?P<lit>b?'(?:[^'\\]|\\.)*'|b?\"(?:[^\"\\]|\\.)*\")\)")

#: what precedes a reply code in an error chain: "…: 535", "… - 554", "…, 553", "[details: 504"
_SEPARATORS: Final = frozenset(":;,-([{='\"<>|/\\#")

#: codes worth believing when nothing but a bare "… 550 …" marks them (RFC 5321, 3207, 4954, 7504)
_KNOWN_CODES: Final = frozenset(
    {211, 214, 220, 221, 235, 250, 251, 252, 334, 354}
    | {421, 432, 450, 451, 452, 453, 454, 455, 458}
    | {500, 501, 502, 503, 504, 521, 523, 530, 534, 535, 538, 550, 551, 552, 553, 554, 555, 556}
)

#: "try again in 450 seconds": a number followed by a unit is a quantity, not a reply
_UNIT_AFTER = re.compile(
    r"\s*(?:ms|s|sec|secs|seconds?|m|min|mins|minutes?|h|hours?|days?|bytes?|[kmg]b|messages?|"
    r"recipients?|emails?|mails?|connections?|%)\b",
    re.IGNORECASE,
)

#: RFC 3463 enhanced status of a failure (class 4 or 5), not part of an IP or version number
_ENHANCED_ANYWHERE = re.compile(r"(?<![\d.])([45]\.\d{1,3}\.\d{1,3})(?!\.?\d)")
#: qmail puts the enhanced status at the end: "553 sorry, … (#5.7.1)"
_QMAIL_ENHANCED = re.compile(r"\(#([245]\.\d{1,3}\.\d{1,3})\)")

#: a pasted log beyond this is not read: replies sit in the first screenfuls
_MAX_PARSED: Final = 65536

_UNBALANCED_TAIL = {"]": "[", ")": "(", "}": "{", "'": "'", '"': '"'}


@dataclass(frozen=True, slots=True)
class _Line:
    start: int
    code: int
    sep: str
    strict: bool


def parse_reply(text: str) -> Reply | None:
    """The SMTP reply in ``text``, or ``None`` when there is none.

    Multi-line replies (``535-… / 535 …``) are joined. When the text holds several
    replies (a transcript, a nested exception chain), the last failure (4xx/5xx) is
    the reply: error chains wrap the server's words last, and a transcript ends
    with them. A code counts when it starts a line or follows a separator
    (``": 535"``, ``" - 554"``, ``", 553"``); failing that, a known reply code
    followed by words. Never raises.
    """
    if not text or not text.strip():
        return None
    text = text[:_MAX_PARSED]
    candidates = _python_replies(text)
    lines = _lines(text)
    candidates += _group(text, [ln for ln in lines if ln.strict], lines)
    if not candidates:
        loose = [ln for ln in lines if _plausible_loose(text, ln)]
        candidates = _group(text, loose, lines)
    if not candidates:
        return None
    candidates.sort(key=lambda pair: pair[0])
    failures = [reply for _, reply in candidates if reply.code >= 400]
    return failures[-1] if failures else candidates[-1][1]


def find_enhanced(text: str) -> str | None:
    """The first RFC 3463 enhanced status of class 4 or 5 anywhere in ``text``.

    For text without a reply code: Gmail's "5.7.9 Application-specific password
    required" reaches users without its ``534``.
    """
    match = _ENHANCED_ANYWHERE.search(text or "")
    return match.group(1) if match else None


def trailing_enhanced(reply: Reply) -> str | None:
    """The enhanced status of ``reply``: its own, or qmail's trailing ``(#5.7.1)``."""
    if reply.enhanced:
        return reply.enhanced
    match = _QMAIL_ENHANCED.search(reply.text)
    if match and match.group(1)[0] == str(reply.code)[0]:
        return match.group(1)
    return None


def _lines(text: str) -> list[_Line]:
    found = []
    for match in _CODE_AT.finditer(text):
        sep = text[match.end() : match.end() + 1]
        found.append(_Line(match.start(), int(match.group(1)), sep, _is_strict(text, match.start())))
    return found


def _is_strict(text: str, start: int) -> bool:
    """True when only blanks, or blanks after a separator, precede the code on its line."""
    i = start - 1
    while i >= 0 and text[i] in " \t":
        i -= 1
    return i < 0 or text[i] in "\r\n" or text[i] in _SEPARATORS


def _plausible_loose(text: str, line: _Line) -> bool:
    if line.code not in _KNOWN_CODES or line.sep != " ":
        return False
    after = text[line.start + 3 :]
    return not _UNIT_AFTER.match(after) and bool(re.match(r" +[\w<\[#(\"']", after))


def _group(text: str, starts: list[_Line], every: list[_Line]) -> list[tuple[int, Reply]]:
    """Each start line plus its continuation lines (same code, ``-`` until a space)."""
    replies: list[tuple[int, Reply]] = []
    consumed: set[int] = set()
    position = {line.start: i for i, line in enumerate(every)}
    for first in starts:
        if first.start in consumed:
            continue
        group = [first, *_continuations(first, every[position[first.start] + 1 :])]
        consumed.update(line.start for line in group)
        ends: list[_Line | None] = [*group[1:], None]
        raw = [_line_text(text, line, end) for line, end in zip(group, ends, strict=True)]
        replies.append((first.start, Reply.from_lines(first.code, raw)))
    return replies


def _continuations(first: _Line, after: list[_Line]) -> list[_Line]:
    found: list[_Line] = []
    if first.sep != "-":
        return found
    for line in after:
        if line.code != first.code:
            if line.strict:
                break  # another reply began: this one was cut short
            continue
        found.append(line)
        if line.sep != "-":
            break
    return found


def _line_text(text: str, line: _Line, nxt: _Line | None) -> str:
    end = text.find("\n", line.start)
    end = len(text) if end < 0 else end
    if nxt is not None and nxt.start < end:
        end = nxt.start
    return _tidy(text[line.start : end])


def _tidy(raw: str) -> str:
    """Strip what the wrapping error added after the reply: ``]``, ``;``, quotes."""
    out = raw.strip().rstrip(";,").rstrip()
    while out and out[-1] in _UNBALANCED_TAIL and _UNBALANCED_TAIL[out[-1]] not in out[:-1]:
        out = out[:-1].rstrip().rstrip(";,").rstrip()
    if out.endswith("'") and out.count("'") % 2:
        out = out[:-1].rstrip()
    return out


def _python_replies(text: str) -> list[tuple[int, Reply]]:
    found = []
    for match in _PY_TUPLE.finditer(text):
        try:
            value = ast.literal_eval(match.group("lit"))
        except (ValueError, SyntaxError):
            continue
        body = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        code = match.group("code")
        parts = body.splitlines() or [""]
        raw = [f"{code}{'-' if i < len(parts) - 1 else ' '}{part}" for i, part in enumerate(parts)]
        found.append((match.start(), Reply.from_lines(int(code), raw)))
    return found


# -- hints around the reply -------------------------------------------------------

_RETRY_HINT = re.compile(
    r"(?:try(?:\s+it)?\s+again|retry|wait|resend|deferred|delayed|greylisted|blocked|come\s+back)"
    r"[^.;\n\d]{0,24}?(?:in|after|for|within)\s+(?:about\s+|at\s+least\s+)?"
    r"(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?)\b",
    re.IGNORECASE,
)
_UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def retry_after_hint(text: str) -> float | None:
    """Seconds the server asks to wait ("try again in 5 minutes", "retry after 30
    seconds"), or ``None`` when it names no time ("Please try again later")."""
    match = _RETRY_HINT.search(text or "")
    if not match:
        return None
    return float(match.group("n")) * _UNIT_SECONDS[match.group("unit")[0].lower()]


_REDACTIONS: Final = (
    # a pasted transcript carries the AUTH exchange: the base64 after the mechanism is the password
    (
        re.compile(r"(\bAUTH\s+(?:PLAIN|LOGIN|XOAUTH2|OAUTHBEARER|CRAM-MD5|DIGEST-MD5|NTLM)\s+)\S+", re.I),
        r"\1••••",
    ),
    # smtp://user:password@host
    (re.compile(r"(\b[a-z][\w+.-]*://[^/\s:@]+:)[^@\s/]+@", re.I), r"\1••••@"),
    (
        re.compile(
            r"(\b(?:password|passwd|pwd|secret|api[_-]?key|token)\b[\"']?\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|\S+)",
            re.I,
        ),
        r"\1••••",
    ),
)


def redact(text: str) -> str:
    """``text`` with what looks like a credential masked, for evidence and display."""
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text
