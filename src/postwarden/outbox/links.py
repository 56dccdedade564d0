"""The links of an API message checked before it is queued (core/links.py judges): a
questioned link is a "links" entry on the message's timeline, or with ``LINKS_REFUSE``
the message is refused (400, field ``links``). The relay's mail is not checked: it is the
application's own MIME, passed on untouched."""

from __future__ import annotations

from typing import Any

from postwarden.configstore.runtime import current_settings
from postwarden.core.config.model import Settings
from postwarden.core.i18n import Number, Text, join, ntext
from postwarden.core.links import LinkProblem, check, judge
from postwarden.outbox.errors import Refused

#: links named in one timeline entry or refusal
SHOWN = 5


def link_warnings(text: str | None, html: str | None, settings: Settings | None = None) -> list[LinkProblem]:
    sending = (settings or current_settings()).sending
    return judge([t for t in (text, html) if t], sending.app_url, sending.link_hosts)


def link_report(
    text: str | None, html: str | None, settings: Settings | None = None
) -> list[tuple[str, LinkProblem | None]]:
    """Every link of a mail with its problem (None: fine), judged as :func:`link_warnings`
    judges them."""
    sending = (settings or current_settings()).sending
    return check([t for t in (text, html) if t], sending.app_url, sending.link_hosts)


def links_event(
    text: str | None, html: str | None, settings: Settings
) -> list[tuple[str, str, dict[str, Any]]]:
    """The timeline entry for the questioned links of a message (none when all are
    fine). Raises :class:`Refused` instead under LINKS_REFUSE."""
    problems = link_warnings(text, html, settings)
    if not problems:
        return []
    words = "; ".join(f"{p.url} {p.problem}" for p in problems[:SHOWN])
    more = f" (and {len(problems) - SHOWN} more)" if len(problems) > SHOWN else ""
    if settings.sending.refuse_bad_links:
        raise Refused("links", f"refused by LINKS_REFUSE: {words}{more}")
    links = join("; ", [Text("{url} {problem}", url=p.url, problem=p.problem) for p in problems[:SHOWN]])
    others = Text(" (and {n} more)", n=Number(len(problems) - SHOWN)) if len(problems) > SHOWN else ""
    detail = ntext(
        "{n} link would not work for recipients: {links}{more}",
        "{n} links would not work for recipients: {links}{more}",
        len(problems),
        links=links,
        more=others,
    )
    data = {"links": [{"url": p.url, "kind": p.kind, "problem": p.problem} for p in problems]}
    return [("links", detail, data)]
