"""Template helpers the console pages share."""

from __future__ import annotations

import re
from collections.abc import Mapping

from django import template
from django.utils.html import escape
from django.utils.safestring import mark_safe

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
