"""A core :class:`~postwarden.core.i18n.Text` as HTML in the page's language, with what it
quotes isolated left to right.

A sentence of Postwarden's often quotes words that are not its own: Jinja2's message about a
template, an address validator's reason, a value someone typed. Those stay as they came
(never translated) and, on a right-to-left page, inside ``<bdi dir="ltr">`` so that their
punctuation and order stay legible. Numbers are written in the reader's digits; a quoted
parameter that is itself a Text is said in the reader's language too.
"""

from __future__ import annotations

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from postwarden.core import i18n


class _Html(str):
    """A piece already escaped: formatted into a sentence as it is."""


def quoted(value: i18n.Text) -> SafeString:
    """``value`` in the active language as HTML, its data parameters isolated left to right."""
    return mark_safe(_html(value))  # noqa: S308 - every piece is escaped in _html


def _html(value: object) -> str:
    if isinstance(value, i18n.Joined):
        return str(escape(i18n.localize(value.separator))).join(_html(part) for part in value.parts)
    if isinstance(value, i18n.Text):
        sentence = value.template()
        params = {
            name: param if isinstance(param, i18n.Number) else _Html(_html(param))
            for name, param in value.params.items()
        }
        return str(escape(sentence)).format_map(params) if params else str(escape(sentence))
    return str(format_html('<bdi dir="ltr">{}</bdi>', value))


def said_by(error: BaseException) -> str:
    """What ``error`` says, for a form's error or a flash: its Text as :func:`quoted` gives
    it, else its own words (escaped where it is shown)."""
    words = i18n.said(error)
    return quoted(words) if isinstance(words, i18n.Text) else words
