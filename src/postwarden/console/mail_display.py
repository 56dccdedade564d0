"""Showing a stored mail: its headers, text and HTML parts and its raw source, for the
message page and the captured inbox.

Mail is hostile input. The HTML part is never put into a console page: it is served by
:func:`html_response` as its own document with a policy that allows no script, no
network request and no navigation, and the page frames it with ``sandbox=""``.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from email.message import EmailMessage, Message
from html.parser import HTMLParser
from typing import Any, Final
from urllib.parse import urlsplit

from django.http import Http404, HttpResponse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext_lazy as _

from postwarden.core.attachments import Attachment, files_in
from postwarden.outbox.links import link_report

#: the sandboxed document's own policy: no script, nothing fetched (remote images would
#: tell the sender the mail was opened), inline styles allowed so the mail looks right
MAIL_HTML_POLICY: Final = (
    "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'self'"
)
#: a raw source beyond this is cut on the page (the download has it all)
RAW_PREVIEW_BYTES: Final = 256 * 1024
#: the widths the HTML is shown at (CSS pixels), here and in the template editor: (key, its
#: name on the page, width); the key names the frame's class
WIDTHS: Final = (("laptop", _("Laptop"), 1024), ("phone", _("Phone"), 375))
#: the mail page's tabs, Mailpit's order: (key, label, needs the body permission)
TABS: Final = (
    ("html", _("HTML"), True),
    ("source", _("HTML source"), True),
    ("text", _("Text"), True),
    ("headers", _("Headers"), False),
    ("raw", _("Raw"), True),
    ("links", _("Link check"), True),
)


@dataclass(frozen=True, slots=True)
class Part:
    content_type: str
    filename: str
    size: int
    #: its position among the message's files: the download link's number
    index: int = 0
    #: set for an inline part (an image the HTML shows by cid:)
    content_id: str = ""


@dataclass(frozen=True, slots=True)
class DisplayedMail:
    headers: tuple[tuple[str, str], ...]
    subject: str
    text: str | None
    html: str | None
    attachments: tuple[Part, ...]
    raw_preview: str
    raw_size: int


def parse(raw: bytes) -> DisplayedMail:
    """Never raises for malformed mail: what cannot be decoded is shown replaced."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    headers = tuple((name, _header(value)) for name, value in message.items())
    text = html = None
    if isinstance(message, EmailMessage):
        text = _body(message, "plain")
        html = _body(message, "html")
    attachments = tuple(
        Part(f.content_type, f.filename, len(f.data), index, f.content_id or "")
        for index, f in enumerate(_files(message))
    )
    preview = raw[:RAW_PREVIEW_BYTES].decode("utf-8", errors="replace")
    return DisplayedMail(
        headers, _header(message.get("Subject", "")), text, html, attachments, preview, len(raw)
    )


def _files(message: Message) -> tuple[Attachment, ...]:
    try:
        return files_in(message)
    except (LookupError, ValueError):  # a part the parser cannot decode: shown without files
        return ()


def attachment_response(raw: bytes, index: int) -> HttpResponse:
    """File number ``index`` of a stored mail, as a download. Never shown in the console's
    origin as what it claims to be: an HTML or SVG "attachment" would run there."""
    files = _files(email.message_from_bytes(raw, policy=email.policy.default))
    if not 0 <= index < len(files):
        raise Http404("no such attachment")
    found = files[index]
    response = HttpResponse(found.data, content_type="application/octet-stream")
    response.headers["Content-Disposition"] = content_disposition_header(True, found.filename) or "attachment"
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _header(value: object) -> str:
    try:
        return str(value)
    except (ValueError, LookupError):  # an undecodable encoded-word
        return repr(value)


def _body(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    if part is None or part.get_content_subtype() != subtype:
        return None
    return _decoded(part)


def _decoded(part: Message) -> str:
    try:
        content = part.get_content()  # type: ignore[attr-defined]
        return content if isinstance(content, str) else bytes(content).decode("utf-8", "replace")
    except (LookupError, ValueError, KeyError):  # unknown charset or broken encoding
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""


def html_response(html: str | None) -> HttpResponse:
    """The HTML part as a document of its own, for ``<iframe sandbox="">``."""
    response = HttpResponse(
        html or "<p>This message has no HTML part.</p>", content_type="text/html; charset=utf-8"
    )
    response.headers["Content-Security-Policy"] = MAIL_HTML_POLICY
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "private, no-store"
    # framed by our own page only (the console's default is DENY)
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


def raw_response(raw: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(raw, content_type="text/plain; charset=utf-8")
    response.headers["Content-Disposition"] = f'inline; filename="{filename}.eml"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@dataclass(frozen=True, slots=True)
class LinkCheck:
    url: str
    scheme: str
    host: str
    #: why recipients could not follow it; "" when it is fine
    problem: str


def link_checks(mail: DisplayedMail) -> list[LinkCheck]:
    """Every link of the text and HTML parts against ``APP_URL`` (and LINKS_ALLOWED_HOSTS),
    judged as the outbox judges API mail (core/links.py)."""
    checks = []
    for url, problem in link_report(mail.text, mail.html):
        try:
            parts = urlsplit(url)
            scheme, host = parts.scheme.lower(), (parts.hostname or "")
        except ValueError:
            scheme, host = "", ""
        checks.append(LinkCheck(url, scheme, host, problem.problem if problem else ""))
    return checks


_REMOTE: Final = re.compile(r"^\s*(?:https?:)?//", re.I)
_CSS_URL: Final = re.compile(r"""url\(\s*['"]?([^'")\s]+)""", re.I)
#: attributes that make a browser fetch something while it shows the mail
_FETCHING: Final = frozenset({"src", "background", "poster", "srcset", "data"})


class _Fetches(HTMLParser):
    """The addresses an HTML part would fetch: images, backgrounds, style sheets."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if not value:
                continue
            if name == "srcset":
                self.found.extend(item.split()[0] for item in value.split(",") if item.strip())
            elif name in _FETCHING or (tag == "link" and name == "href"):
                self.found.append(value)
            elif name == "style":
                self.found.extend(_CSS_URL.findall(value))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.found.extend(_CSS_URL.findall(data))


def remote_content(html: str | None) -> list[str]:
    """What the HTML would load from the network (each address once): the sandbox's
    policy blocks it all, and the page says so, as a mail client does."""
    if not html:
        return []
    parser = _Fetches()
    parser.feed(html)
    parser.close()
    return list(dict.fromkeys(url.strip() for url in parser.found if _REMOTE.match(url)))


def tabs_context(mail: DisplayedMail, requested: str, may_read_bodies: bool) -> dict[str, Any]:
    """The mail partial's context: which tabs this user gets, which one is open, and for
    a body reader the link check and what the sandbox blocked."""
    shown = [(key, label) for key, label, body in TABS if may_read_bodies or not body]
    keys = [key for key, _ in shown]
    default = (
        "html" if mail.html is not None and may_read_bodies else ("text" if may_read_bodies else "headers")
    )
    tab = requested if requested in keys else default
    context: dict[str, Any] = {
        "tabs": shown,
        "tab": tab,
        "may_read_bodies": may_read_bodies,
        "widths": WIDTHS,
    }
    if may_read_bodies:
        links = link_checks(mail)
        context["links"] = links
        context["link_problems"] = sum(1 for link in links if link.problem)
        context["remote"] = remote_content(mail.html)
    return context
