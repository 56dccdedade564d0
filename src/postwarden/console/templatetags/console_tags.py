"""Template helpers the console pages share."""

from __future__ import annotations

from collections.abc import Mapping

from django import template

register = template.Library()


@register.filter
def dictget(mapping: Mapping[object, object] | None, key: object) -> object:
    """``{{ recipients|dictget:message.pk }}``: a mapping lookup by a variable key."""
    if not mapping:
        return None
    return mapping.get(key)
