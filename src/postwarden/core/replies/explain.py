"""``postwarden explain``: from text a user pasted to what it means and what to do.

:func:`explain_text` finds the reply in the text, guesses the session stage from the
words around it ("Failed to add to email address" → RCPT, "AuthenticationFailedException"
→ AUTH) and asks :func:`~postwarden.core.replies.classify.classify`. :func:`render`
prints the answer for a terminal.
"""

from __future__ import annotations

import re
import textwrap
from typing import Final

from postwarden.core.codes import Severity
from postwarden.core.i18n import Text, format_number, gettext, localize
from postwarden.core.replies.classify import Explanation, as_stage, classify
from postwarden.core.replies.parse import parse_reply
from postwarden.core.smtp.stages import SmtpStage as S

#: words around a reply that say which command it answered; the hint nearest the reply wins
STAGE_HINTS: Final[tuple[tuple[re.Pattern[str], S], ...]] = tuple(
    (re.compile(pattern, re.IGNORECASE), stage)
    for pattern, stage in (
        (
            r"\bRCPT\b|(?:add|set) (?:the )?to (?:email )?address|\bto address|\brecipients?\b"
            r"|SMTPRecipientsRefused"
            r"|SMTPAddressFailedException|AnymailRecipientsRefused",
            S.RCPT,
        ),
        (r"MAIL FROM|\bfrom address|\bsender\b|SMTPSenderRefused|SMTPSenderFailedException", S.MAIL),
        (r"\bAUTH\b|authenticat|\blog ?in\b|SMTPAuthenticationError", S.AUTH),
        (
            r"\bDATA\b|close (?:the )?connection|message data|write the email|SMTPDataError|end of data"
            r"|SMTPSendFailedException",
            S.DATA,
        ),
        (r"STARTTLS", S.STARTTLS),
        (r"\bTLS\b|\bSSL\b|handshake|certificate|x509", S.TLS),
        (r"\bHELO\b|\bEHLO\b|hello message|SMTPHeloError", S.EHLO),
        (r"greeting|banner|SMTPConnectError|short response", S.GREETING),
        (
            r"dial tcp|\bconnect to\b|connect:|open (?:a )?connection|Could(?: not|n't) connect"
            r"|ConnectException"
            r"|unable to connect",
            S.CONNECT,
        ),
        (r"\blookup\b|resolve|getaddrinfo|UnknownHost", S.RESOLVE),
    )
)

_PORT = re.compile(r"\bport\b\W{0,3}(\d{2,5})\b|(?:\b[\w-]+\.[\w.-]*[\w-]|\])\:(\d{2,5})\b", re.IGNORECASE)
_HOST = re.compile(
    r"(?:\bhost\b\W{0,3}|\blookup\s+|dial tcp:?\s+lookup\s+)([a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,})\b",
    re.IGNORECASE,
)


def explain_text(
    text: str, *, stage: str | None = None, port: int | None = None, host: str | None = None
) -> Explanation:
    """Explain whatever SMTP reply or error ``text`` holds. Never raises.

    ``stage`` (a session stage name such as ``"rcpt"`` or an alias such as
    ``"MAIL FROM"``) wins over the guess from the text; so do ``port`` and ``host``.
    """
    text = (text or "")[:_MAX_TEXT]
    reply = parse_reply(text)
    context = text
    if reply is not None:
        for line in reply.lines:
            context = context.replace(line, " ")
    chosen = as_stage(stage) if stage else guess_stage(context)
    return classify(
        stage=chosen,
        reply=reply,
        detail=text.strip(),
        port=port if port is not None else guess_port(text),
        host=host or guess_host(text),
    )


def guess_stage(context: str) -> S | None:
    """The stage named by the words in ``context``, the last-mentioned one winning."""
    best: tuple[int, S] | None = None
    for pattern, stage in STAGE_HINTS:
        for found in pattern.finditer(context):
            if best is None or found.end() > best[0]:
                best = (found.end(), stage)
    return best[1] if best else None


def guess_port(text: str) -> int | None:
    """A port named in the text ("port: 587", "dial tcp 1.2.3.4:587"), if any."""
    found = _PORT.search(text)
    if not found:
        return None
    port = int(found.group(1) or found.group(2))
    return port if 0 < port < 65536 else None


def guess_host(text: str) -> str | None:
    """A host name named in the text ("SMTP host: smtp.office365.com", "lookup smtp.google.com")."""
    found = _HOST.search(text)
    return found.group(1).lower() if found else None


#: what is read of a pasted text: a screenful of log, not a whole log file
_MAX_TEXT: Final = 65536

_COLORS: Final = {Severity.ERROR: "31", Severity.WARNING: "33", Severity.INFO: "36"}
_WIDTH: Final = 88


def render(expl: Explanation, color: bool) -> str:
    """The explanation as terminal text, in the active language: code and severity, the
    server's words (verbatim), what it means, provider advice, numbered steps. ANSI
    colours only when ``color``."""

    def paint(text: str, sgr: str) -> str:
        return f"\x1b[{sgr}m{text}\x1b[0m" if color else text

    kind = gettext("permanent") if expl.permanent else gettext("temporary")
    code = expl.code.value if expl.code else gettext("unknown")
    head = f"{code}  {expl.severity.word()} · {kind}"
    lines = [paint(head, "1;" + _COLORS[expl.severity]), paint(localize(expl.title), "1"), ""]
    if expl.evidence:
        label = gettext("Server said:") if expl.reply is not None else gettext("Error:")
        lines += [paint(label, "1"), *_wrap(expl.evidence), ""]
    if expl.explanation:
        lines += [paint(gettext("What it means:"), "1"), *_wrap(localize(expl.explanation)), ""]
    if expl.advice:
        advisor = Text("{provider}:", provider=expl.provider) if expl.provider else Text("Advice:")
        lines += [paint(localize(advisor), "1"), *_wrap(localize(expl.advice)), ""]
    if expl.steps:
        lines.append(paint(gettext("What to do:"), "1"))
        for number, step in enumerate(expl.steps, start=1):
            lines += _wrap(localize(step), first=f"  {format_number(number)}. ", rest="     ")
        lines.append("")
    if expl.retry_after is not None:
        wait = Text(
            "The server asks to wait {seconds} seconds before retrying.",
            seconds=format(expl.retry_after, "g"),
        )
        lines += [localize(wait), ""]
    lines.append(paint(localize(Text("rule: {rule}", rule=expl.rule_id)), "2"))
    return "\n".join(lines)


def _wrap(text: str, first: str = "  ", rest: str = "  ") -> list[str]:
    return textwrap.wrap(
        text, _WIDTH, initial_indent=first, subsequent_indent=rest, break_on_hyphens=False
    ) or [first.rstrip()]
