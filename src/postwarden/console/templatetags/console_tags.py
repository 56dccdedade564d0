"""Template helpers the console pages share."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import datetime

from django import template
from django.utils import translation
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe

from postwarden.console import formats
from postwarden.console.doctor_pipeline import LABELS
from postwarden.console.quoting import quoted
from postwarden.console.words import ORIGINS, word
from postwarden.core import i18n

register = template.Library()


@register.filter
def dictget(mapping: Mapping[object, object] | None, key: object) -> object:
    """``{{ recipients|dictget:message.pk }}``: a mapping lookup by a variable key."""
    if not mapping:
        return None
    return mapping.get(key)


_CODE = re.compile(r"`([^`\n]+)`")


@register.filter(is_safe=True)
def steptext(text: object) -> str:
    """A knowledge-base or doctor step as HTML: `quoted` spans (setting names, commands)
    become ``<code>``; everything else is escaped, so a server's words quoted in a step
    stay text."""
    escaped = str(escape(str(text)))
    return mark_safe(_CODE.sub(r"<code>\1</code>", escaped))  # noqa: S308 - escaped above


@register.filter
def shown_state(recipient: object) -> str:
    """A recipient's state as the console shows it: "captured" for mail the capture
    transport kept (its state is "sent", but it reached no one)."""
    state = str(getattr(recipient, "state", ""))
    return "captured" if state == "sent" and getattr(recipient, "transport", "") == "capture" else state


@register.filter(name="word")
def word_filter(code: object) -> object:
    """``{{ r.state|word }}``: a state code in the page's language (console/words.py)."""
    return word(code)


@register.filter
def when(value: datetime | None, shape: str = "minute") -> str:
    """``{{ m.created_at|when:"second" }}``: a moment in the page's language and the reader's
    calendar (Persian digits and, if chosen, the Solar Hijri calendar in Persian)."""
    if value is None or value == "":
        return ""
    return formats.moment(value, shape)


@register.filter
def num(value: object) -> str:
    """``{{ queue.depth|num }}``: a number in the page's digits."""
    if value is None or value == "":
        return ""
    return formats.number(value)


@register.filter
def digits(value: object) -> str:
    """``{{ w.row.pid|digits }}``: a number that names something (a process id, a port) in
    the page's digits, as written: not grouped as a quantity would be."""
    return formats.digits(str(value))


@register.filter(is_safe=True)
def origin(source: object) -> str:
    """``{{ state.source|origin }}``: where a setting's value came from, in the page's
    language; the detail (a variable's name, a file) stays as written, isolated."""
    kind = str(getattr(source, "origin", ""))
    label = escape(str(ORIGINS.get(kind, kind)))
    detail = getattr(source, "detail", "")
    if not detail:
        return label
    return mark_safe(f'{label} (<bdi class="mono">{escape(detail)}</bdi>)')  # noqa: S308 - escaped


@register.filter
def stage(code: object) -> object:
    """``{{ finding.stage|stage }}``: a doctor stage's name in the page's language."""
    return LABELS.get(str(code), code)


@register.filter(name="localize")
def localize_filter(value: object) -> object:
    """``{{ finding.title|localize }}``: a text of the framework-free core (core/i18n.py
    Text) in the page's language; anything else is shown as it is."""
    return i18n.localize(value) if isinstance(value, i18n.Text) else value


@register.filter
def since(value: datetime | None) -> str:
    """``{{ m.created_at|since }}``: how long ago, in the page's language and digits."""
    return formats.since(value) if value else ""


@register.filter(is_safe=True)
def said(value: object) -> str:
    """``{{ finding.title|said }}``: a sentence another part of Postwarden wrote: a core Text
    in the page's language; a plain string (a stored report, an alert's title as it was
    sent) as it was written, marked as English on a page in another language."""
    if isinstance(value, i18n.Text):
        return str(escape(i18n.localize(value)))
    text = str(value)
    if (translation.get_language() or "en") == "en" or _in_another_script(text):
        return str(escape(text))
    return format_html('<span lang="en">{}</span>', text)


@register.filter(is_safe=True)
def quoting(value: object) -> str:
    """``{{ error|quoting }}``: a core Text in the page's language as :func:`said` gives it,
    and what it quotes (a template engine's message, a name, a value: no words of
    Postwarden's) isolated left to right (console/quoting.py)."""
    if not isinstance(value, i18n.Text):
        return said(value)
    return quoted(value)


@register.filter(is_safe=True)
def kept(row: object, name: str) -> str:
    """``{{ run|kept:"detail" }}``: a row's English column ``name`` as :func:`quoting` says
    it: in the page's language when the row kept the sentence in its ``words`` (core/i18n.py
    keep, as_data) and the column still says it, else marked as English. A value the row
    kept as plain data (an alert's evidence that is a server's reply) is quoted as it came."""
    words = getattr(row, "words", None)
    english = str(getattr(row, name, "") or "")
    if isinstance(words, Mapping) and isinstance(words.get(name), str):
        return format_html('<bdi dir="ltr" class="mono">{}</bdi>', english)
    return quoting(i18n.kept(words, name, english))


def _in_another_script(text: str) -> bool:
    """Already said in the page's language: a letter beyond the Latin alphabets (Persian),
    or the pseudo-locale's marker."""
    return i18n.PSEUDO_OPEN in text or any(
        ord(c) > 0x24F and unicodedata.category(c).startswith("L") for c in text
    )
