"""Would the links in a mail work for the people who receive it?

One judgement for the outbox (API mail and templates, checked before they leave) and the
doctor's links stage. A link is questioned when it points at:

- ``localhost`` or a loopback, private, link-local or unspecified address: never reachable
  by a recipient (Metabase sent reset links to ``http://172.31.39.136/…`` and, behind a
  proxy, to ``localhost``: docs/reference/mission-anchors.md L1, L2);
- ``http:`` while ``APP_URL`` is ``https:``;
- a host other than ``APP_URL``'s and not in the allow-list (``LINKS_ALLOWED_HOSTS``; an
  entry ``.example.com`` allows its subdomains): the link was built from the request's
  host or a fixed address instead of ``APP_URL``.

Without ``APP_URL`` only the first rule can be applied.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from postwarden.core.i18n import Text

#: absolute http(s) URLs in text or HTML; template placeholders end the match
_URL: Final = re.compile(r"""https?://[^\s"'<>(){}\[\]]+""", re.I)
_LOCAL_NAMES: Final = ("localhost", "localhost.localdomain")


@dataclass(frozen=True, slots=True)
class LinkProblem:
    url: str
    #: local, insecure or other-host
    kind: str
    #: in words, for a timeline or a finding: a :class:`~postwarden.core.i18n.Text`, English
    #: as a ``str`` (the API's JSON), in the reader's language on a page or the command line
    problem: str


def is_local_host(host: str) -> bool:
    """``localhost``, a loopback, private, link-local or unspecified address: never
    reachable by a recipient. Intranet *names* are allowed (an internal app's mail goes
    to internal people; Metabase's over-strict check broke that, docs/reference/mission-anchors.md L4)."""
    host = host.strip("[]").rstrip(".").lower()
    if host in _LOCAL_NAMES or host.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_unspecified


def urls_in(text: str) -> Iterator[str]:
    for match in _URL.finditer(text):
        yield match.group(0).rstrip(".,;:!?").replace("&amp;", "&")


def host_allowed(host: str, allowed: Iterable[str]) -> bool:
    """``host`` is one of ``allowed``, or under an entry that starts with a dot."""
    host = host.rstrip(".").lower()
    for entry in allowed:
        entry = entry.lower()
        if host == entry.lstrip(".") or (entry.startswith(".") and host.endswith(entry)):
            return True
    return False


def judge(texts: Iterable[str], app_url: str | None, allowed_hosts: Iterable[str] = ()) -> list[LinkProblem]:
    """The questioned links of ``texts`` (each URL once, in order of appearance)."""
    return [problem for _, problem in check(texts, app_url, allowed_hosts) if problem is not None]


def check(
    texts: Iterable[str], app_url: str | None, allowed_hosts: Iterable[str] = ()
) -> list[tuple[str, LinkProblem | None]]:
    """Every link of ``texts`` (each URL once, in order of appearance) with its problem,
    None for a link that is fine: the captured inbox lists them all, as Mailpit's link
    check does."""
    app = urlsplit(app_url.strip()) if app_url else None
    app_host = (app.hostname or "").lower() if app else ""
    hosts = (app_host, *allowed_hosts) if app_host else tuple(allowed_hosts)
    seen: set[str] = set()
    found: list[tuple[str, LinkProblem | None]] = []
    for text in texts:
        for url in urls_in(text):
            if url in seen:
                continue
            seen.add(url)
            found.append((url, _problem(url, app.scheme if app else "", app_host, hosts)))
    return found


def _problem(url: str, app_scheme: str, app_host: str, hosts: tuple[str, ...]) -> LinkProblem | None:
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:  # an unparsable authority, e.g. a bad IPv6 literal
        return LinkProblem(url, "local", Text("is not a valid URL"))
    if is_local_host(host):
        return LinkProblem(url, "local", Text("points at {host}, which recipients cannot reach", host=host))
    if app_host and not host_allowed(host, hosts):
        if len(hosts) > 1:
            said = Text(
                "points at {host}, not APP_URL's host {app_host} or LINKS_ALLOWED_HOSTS",
                host=host,
                app_host=app_host,
            )
        else:
            said = Text("points at {host}, not APP_URL's host {app_host}", host=host, app_host=app_host)
        return LinkProblem(url, "other-host", said)
    if app_scheme == "https" and parts.scheme.lower() == "http":
        return LinkProblem(url, "insecure", Text("uses http:// while APP_URL is https://"))
    return None
