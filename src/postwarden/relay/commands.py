"""Reading SMTP command lines strictly, and the arguments of MAIL and RCPT quickly.

aiosmtpd 1.4.6 ends a command at a bare LF and passes CR and NUL inside it on to the
command, and parses every MAIL/RCPT path with the stdlib's RFC 5322 header parser
(about a third of its CPU per message). Here a command line must end with CRLF and
hold neither CR nor NUL (RFC 5321 2.3.8, 4.1.1), else the session is refused and
closed: two servers that split such a line differently are how commands get smuggled.
Paths take a fast regex; only odd ones (quoted local parts) go to aiosmtpd's parser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

#: RFC 5321 4.5.3.1.4: 512 octets; MAIL and RCPT grow with ESMTP parameters (RFC 1870
#: +26, RFC 6531 +10, RFC 4954 AUTH= +500), AUTH carries a SASL response (RFC 4954 4)
LIMITS: Final = {"MAIL": 2048, "RCPT": 2048, "AUTH": 12288}
DEFAULT_LIMIT: Final = 512

#: RFC 2920 3.1 (and 3207, 4954): the client waits for these replies before it sends more
LAST_IN_GROUP: Final = frozenset({"EHLO", "HELO", "DATA", "STARTTLS"})
#: an HTTP request sent to the SMTP port (a browser tricked into cross-protocol requests)
HTTP_VERBS: Final = frozenset({"GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "CONNECT", "PATCH"})

BARE_LF: Final = "500 5.5.2 Error: bare <LF> received; command lines end with <CR><LF>"
BARE_CR: Final = "500 5.5.2 Error: bare <CR> received in a command line"
NUL: Final = "500 5.5.2 Error: NUL character received in a command line"
TOO_LONG: Final = "500 5.5.2 Error: command line too long"
BAD_SYNTAX: Final = "500 5.5.2 Error: bad syntax"
NOT_SMTP: Final = "554 5.5.0 Error: this is an SMTP server, not a web server"
OUT_OF_STEP: Final = "554 5.5.0 Error: SMTP protocol synchronization: {verb} must wait for its reply"

#: RFC 5321 4.2: reply text is printable US-ASCII
_UNPRINTABLE: Final = re.compile(r"[^\x20-\x7e]")

_PATH: Final = re.compile(r"<([^<>\s\"]*)>(?:\s+(.*))?\Z", re.DOTALL)
_PARAM_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*\Z")


@dataclass(frozen=True, slots=True)
class SmtpCommand:
    verb: str
    arg: str | None


@dataclass(frozen=True, slots=True)
class Framing:
    """A line that breaks the framing: answer ``reply``; close when ``close``."""

    reply: str
    close: bool = True


def parse_line(line: bytes) -> SmtpCommand | Framing:
    """One line as read up to (and including) its LF. Arguments are decoded as UTF-8 with
    surrogate escapes (SMTPUTF8 is offered, RFC 6531), so no byte is lost."""
    if not line.endswith(b"\r\n"):
        return Framing(BARE_LF)
    body = line[:-2]
    if b"\r" in body:
        return Framing(BARE_CR)
    if b"\x00" in body:
        return Framing(NUL)
    verb_bytes, _, arg_bytes = body.partition(b" ")
    try:
        verb = verb_bytes.decode("ascii").upper()
    except UnicodeDecodeError:
        return Framing(BAD_SYNTAX, close=False)
    if not verb:
        return Framing(BAD_SYNTAX, close=False)
    if verb in HTTP_VERBS:
        return Framing(NOT_SMTP)
    if len(line) > LIMITS.get(verb, DEFAULT_LIMIT):
        return Framing(TOO_LONG, close=False)
    arg = arg_bytes.strip().decode("utf-8", "surrogateescape") if arg_bytes.strip() else None
    return SmtpCommand(verb, arg)


def must_wait(command: SmtpCommand) -> bool:
    """Whether the client must have waited for this command's reply before sending more.
    AUTH waits unless it is PLAIN with its initial response (one round trip, RFC 4954 4)."""
    if command.verb == "AUTH":
        words = (command.arg or "").split()
        return not (len(words) == 2 and words[0].upper() == "PLAIN")
    return command.verb in LAST_IN_GROUP


def split_path(text: str) -> tuple[str, str] | None:
    """``"<a@b> SIZE=10"`` -> ``("a@b", "SIZE=10")``; ``"a@b"`` (no brackets, as some old
    clients send) -> ``("a@b", "")``; None when it has to go to the full parser."""
    found = _PATH.match(text)
    if found:
        return found.group(1), (found.group(2) or "").strip()
    if not text.startswith("<") and '"' not in text:
        address, _, rest = text.partition(" ")
        return address, rest.strip()
    return None


def printable(text: str, limit: int) -> str:
    """At most ``limit`` characters of ``text`` (something a client sent) fit to be shown in
    a reply: every character outside printable US-ASCII becomes "?", so no control
    character, terminal escape or undecodable byte travels back (and a surrogate from a
    broken UTF-8 byte cannot make the reply unencodable)."""
    return _UNPRINTABLE.sub("?", text[:limit])


def parse_params(text: str) -> dict[str, str | bool] | None:
    """ESMTP parameters (RFC 5321 4.1.2) keyed by upper-case name; None when malformed."""
    found: dict[str, str | bool] = {}
    for word in text.split():
        name, eq, value = word.partition("=")
        if not _PARAM_NAME.match(name) or (eq and not value):
            return None
        found[name.upper()] = value if eq else True
    return found
