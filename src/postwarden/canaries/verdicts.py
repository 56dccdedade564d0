"""What a received canary's headers tell: its token, the receiving side's SPF, DKIM and
DMARC verdicts, the hops it took, and the headers worth showing.

The verdicts come from the ``Authentication-Results`` header (RFC 8601) that the receiving
server added, read with the ``authres`` library. Headers are read top-down: the topmost
one that reports a method is the receiving server's own (a header lower down may have
been written by anyone on the way, the sender included). Where one header reports a
method more than once (two DKIM signatures), a ``pass`` among them counts, as DMARC
counts any passing aligned signature.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Final

import authres

TOKEN_HEADER: Final = "X-Postwarden-Canary"  # noqa: S105 - a header name
METHODS: Final = ("spf", "dkim", "dmarc")
#: the headers a person needs to see why a mail landed where it did, in this order
SHOWN: Final = (
    "Authentication-Results",
    "ARC-Authentication-Results",
    "Received-SPF",
    "X-Spam-Flag",
    "X-Spam-Status",
    "X-Spam-Score",
    "X-MS-Exchange-Organization-SCL",
    "X-Forefront-Antispam-Report",
    "DKIM-Signature",
    "Return-Path",
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    TOKEN_HEADER,
    "Received",
)
#: a shown header longer than this is cut (a DKIM b= tag, a long spam report)
_SHOWN_MAX: Final = 2000


@dataclass(frozen=True, slots=True)
class Verdicts:
    token: str
    #: method -> result ("pass", "fail", "softfail", "none" …); "" when not reported
    spf: str = ""
    dkim: str = ""
    dmarc: str = ""
    #: the Authentication-Results header(s) the verdicts came from, one per line
    auth_results: str = ""
    #: Received headers
    hops: int = 0
    #: ``Name: value`` lines of the headers in SHOWN
    shown: str = ""


def read_headers(raw: bytes) -> Verdicts:
    """Read a canary's header block (or whole message). Never raises for what a server
    wrote: a header ``authres`` cannot parse is kept verbatim and gives no verdict."""
    headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
    results: dict[str, str] = {}
    used: list[str] = []
    for value in _all(headers, "Authentication-Results"):
        found = _parse(value)
        fresh = {method: result for method, result in found.items() if method not in results}
        if fresh:
            results.update(fresh)
            used.append(f"Authentication-Results: {value}")
    return Verdicts(
        token=_first(headers, TOKEN_HEADER),
        spf=results.get("spf", ""),
        dkim=results.get("dkim", ""),
        dmarc=results.get("dmarc", ""),
        auth_results="\n".join(used),
        hops=len(_all(headers, "Received")),
        shown=_shown(headers),
    )


def token_of(raw: bytes) -> str:
    return _first(BytesHeaderParser(policy=compat32).parsebytes(raw), TOKEN_HEADER)


def _parse(value: str) -> dict[str, str]:
    """method -> result in one header value; {} when it cannot be parsed."""
    try:
        header = authres.AuthenticationResultsHeader.parse_value(value)
    except (authres.AuthResError, ValueError, IndexError):
        return {}
    found: dict[str, str] = {}
    for result in header.results:
        method, verdict = str(result.method).lower(), str(result.result).lower()
        if method in METHODS and (method not in found or verdict == "pass"):
            found[method] = verdict
    return found


def _all(headers: Message, name: str) -> list[str]:
    return [_unfold(value) for value in headers.get_all(name, [])]


def _first(headers: Message, name: str) -> str:
    values = _all(headers, name)
    return values[0].strip() if values else ""


def _unfold(value: object) -> str:
    text = str(value)
    return " ".join(line.strip() for line in text.splitlines()).strip()


def _shown(headers: Message) -> str:
    lines: list[str] = []
    for name in SHOWN:
        for value in _all(headers, name):
            cut = value if len(value) <= _SHOWN_MAX else value[:_SHOWN_MAX] + " …"
            lines.append(f"{name}: {cut}")
    return "\n".join(lines)
