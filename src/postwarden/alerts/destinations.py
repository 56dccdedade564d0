"""Where alerts go: the apprise URLs of POSTWARDEN_ALERT_URLS (or saved in the console),
each sent to on its own so that one endpoint down never holds up another.

A URL carries its service's token (in the path, the user part or the query), so it is a
secret: it is registered with the log redactor, stored only in the settings (sealed when
saved in the console), and everywhere else named by a keyed digest and a label that
keeps the scheme and host only. What apprise says about a failure is read from its log
at WARNING (which names no token) and redacted once more.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

import apprise
from django.conf import settings as django_settings

from postwarden.core.config.model import Settings
from postwarden.core.i18n import Text
from postwarden.core.replies.parse import redact as redact_credentials
from postwarden.core.secrets import MASK, Secret
from postwarden.logs import redact, register_secret

#: seconds apprise waits to connect and for the answer (its cto= and rto= URL options)
TIMEOUT: Final = 10
#: path segments at least this long and with a digit are taken for tokens
_TOKEN_LEN: Final = 8
#: a URL's user part and everything after its host
_URL_TAIL: Final = re.compile(r"(\b[a-z][\w+.-]*://)(?:[^/\s@]*@)?([^/\s?#@]*)[^\s]*", re.I)

# apprise logs each request's URL at DEBUG; nothing below WARNING is wanted from it
logging.getLogger("apprise").setLevel(logging.WARNING)


@dataclass(frozen=True)
class Destination:
    url: Secret
    #: keyed digest of the URL: names it in the database
    key: str
    #: scheme and host only, for the console and the history
    label: str


class InvalidUrl(ValueError):
    """Not a URL apprise can send to; the message names the scheme only."""


def digest(url: str) -> str:
    return hmac.new(django_settings.SECRET_KEY.encode(), url.encode(), hashlib.sha256).hexdigest()[:32]


def label(url: str) -> str:
    """``mmost: chat.example.com:8065 ••••`` - never the token (nor the URL's first
    characters as written, "scheme://…": the scheme and host are named). The host is shown only
    when it is a host name or an address: several services put a token where the host
    goes (Telegram's bot token, Slack's first token, ntfy's topic)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        host, port = "", ""
    if not _is_host(host):
        host, port = "", ""
    scheme = url.partition("://")[0].lower()[:20] or "?"
    return f"{scheme}: {host}{port} {MASK}" if host else f"{scheme}: {MASK}"


def _is_host(host: str) -> bool:
    return host == "localhost" or "." in host or ":" in host


def check(url: str) -> None:
    """Raise :class:`InvalidUrl` unless apprise knows how to send to ``url``."""
    scheme = url.partition("://")[0].lower()
    if not apprise.Apprise().add(url):
        raise InvalidUrl(
            Text(
                "apprise does not accept this {scheme} URL (see its list of services)", scheme=scheme + "://"
            )
            if scheme
            else Text("apprise does not accept this value (see its list of services)")
        )


def configured(settings: Settings) -> list[Destination]:
    found = []
    for url in settings.alerts.urls:
        value = url.reveal()
        _register(value)
        found.append(Destination(url, digest(value), label(value)))
    return found


def _register(url: str) -> None:
    """The URL and its token-bearing parts, for the log redactor: the user part, the
    query, the path, and each path segment that looks like a token (long, with a digit;
    plain words such as "hooks" would mask ordinary log text)."""
    register_secret(url)
    try:
        parts = urlsplit(url)
    except ValueError:
        return
    # hostname is lower-cased; a token in its place is registered as written
    token_host = None if _is_host(parts.hostname or "") else parts.netloc.rpartition("@")[2].split(":")[0]
    for piece in (parts.password, parts.username, token_host, parts.path.strip("/"), parts.query):
        if piece:
            register_secret(piece)
    for piece in parts.path.split("/"):
        if len(piece) >= _TOKEN_LEN and any(c.isdigit() for c in piece):
            register_secret(piece)


def clean(text: str) -> str:
    """Failure text as it may be shown: URLs cut to their host, credentials and every
    registered secret masked."""
    return redact(_URL_TAIL.sub(r"\1\2/…", redact_credentials(text))).strip()[:500]


def send(destination: Destination, title: str, body: str) -> str | None:
    """Send one notification; None when the endpoint took it, else why not (redacted)."""
    url = destination.url.reveal()
    joiner = "&" if "?" in url else "?"
    notifier = apprise.Apprise()
    if not notifier.add(f"{url}{joiner}cto={TIMEOUT}&rto={TIMEOUT}") and not notifier.add(url):
        return Text("apprise does not accept this URL any more")
    with apprise.LogCapture(level=logging.WARNING) as captured:  # type: ignore[no-untyped-call]
        try:
            ok = bool(notifier.notify(title=title, body=body))
        except Exception as exc:  # a plugin's bug must not stop the other alerts
            return clean(f"{type(exc).__name__}: {exc}")
        said = captured.getvalue() if hasattr(captured, "getvalue") else ""
    if ok:
        return None
    lines = [line.split(" - ", 2)[-1] for line in str(said).splitlines() if line.strip()]
    if lines:
        return clean("; ".join(lines[-2:]))
    return Text("the endpoint did not take the notification")
