"""Which language and calendar a console page is in.

The language, first that applies: the signed-in user's own choice (their Account page), the
instance default (POSTWARDEN_LANGUAGE, from the environment or saved on the Email settings
page), the browser's Accept-Language, English. The key-authenticated API keeps English: what
machines read stays stable.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Final

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.utils import translation
from django.utils.cache import patch_vary_headers
from django.utils.translation.trans_real import parse_accept_lang_header

from postwarden.core import i18n
from postwarden.core.config.model import Origin
from postwarden.core.config.resolve import ConfigError

log = logging.getLogger("postwarden.console.language")

GREGORIAN: Final = "gregorian"
#: api/middleware.API_PREFIX (the API sits above the console in the layers)
_API_PREFIX: Final = "/api/"
#: the calendar dates are written in for this request (the user's choice; Solar Hijri
#: only applies to Persian)
_calendar: ContextVar[str] = ContextVar("postwarden_calendar", default=GREGORIAN)


def languages() -> tuple[str, ...]:
    """The codes the console may be shown in (settings.LANGUAGES)."""
    return tuple(code for code, _name in settings.LANGUAGES)


def instance_default() -> tuple[str | None, str]:
    """POSTWARDEN_LANGUAGE when it is set (in the environment or saved in the console) and
    POSTWARDEN_CALENDAR, as resolved now."""
    from postwarden.configstore.runtime import current_settings

    try:
        resolved = current_settings()
    except ConfigError:
        # another setting is invalid: the page that says so must still be readable
        log.warning("settings do not resolve: the console language falls back to the browser's")
        return None, GREGORIAN
    chosen = resolved.source("POSTWARDEN_LANGUAGE").origin is not Origin.DEFAULT
    return (resolved.service.language if chosen else None), resolved.service.calendar


def from_browser(header: str, offered: tuple[str, ...]) -> str | None:
    """The first of ``offered`` the Accept-Language header asks for ("fa-IR" counts as fa)."""
    for tag, _quality in parse_accept_lang_header(header):
        if tag == "*":
            continue
        base = tag.lower().split("-")[0]
        for code in (tag.lower(), base):
            if code in offered:
                return code
    return None


def choose(request: HttpRequest) -> tuple[str, str]:
    """The request's (language, calendar)."""
    offered = languages()
    user = getattr(request, "user", None)
    signed_in = user is not None and user.is_authenticated
    default, default_calendar = instance_default()
    chosen_calendar = (getattr(user, "calendar", "") if signed_in else "") or default_calendar
    own = getattr(user, "language", "") if signed_in else ""
    if own in offered:
        return str(own), chosen_calendar
    if default in offered:
        return str(default), chosen_calendar
    found = from_browser(request.headers.get("Accept-Language", ""), offered)
    return found or settings.LANGUAGE_CODE, chosen_calendar


def calendar() -> str:
    return _calendar.get()


@contextmanager
def active(language: str, calendar_name: str = GREGORIAN) -> Iterator[None]:
    """Django's language and the calendar for one request (or one rendering)."""
    token = _calendar.set(calendar_name)
    try:
        with translation.override(language), i18n.override(language):
            yield
    finally:
        _calendar.reset(token)


class LanguageMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.path_info.startswith(_API_PREFIX):
            return self.get_response(request)
        language, chosen_calendar = choose(request)
        with active(language, chosen_calendar):
            request.LANGUAGE_CODE = language
            response = self.get_response(request)
        response.headers.setdefault("Content-Language", language)
        patch_vary_headers(response, ("Accept-Language",))
        return response
