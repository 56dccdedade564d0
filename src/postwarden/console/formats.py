"""Moments and numbers on console pages, in the page's language and the reader's calendar,
written by the core (core/i18n.py format_datetime, format_number): the CLI and the console
write a date the same way."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from django.utils import timezone
from django.utils.timesince import timesince

from postwarden.console.language import calendar
from postwarden.core import i18n

#: the shapes of a moment the pages show (UTC, as the pages say); "day" (month and day)
#: and "clock" (hours and minutes) label a chart's slots
SHAPES: Final = ("date", "minute", "second", "time", "ms", "day", "clock")


def moment(value: datetime, shape: str = "minute") -> str:
    if timezone.is_aware(value):
        value = timezone.localtime(value)
    # the Solar Hijri calendar is a choice in Persian; other languages write Gregorian dates
    chosen = calendar() if i18n.get_language() == "fa" else "gregorian"
    if shape == "date":
        return i18n.format_datetime(value.date(), calendar=chosen)
    if shape == "day":  # the date without its year: 12-06, or 09/15 in the Solar Hijri calendar
        return i18n.format_datetime(value.date(), calendar=chosen)[5:]
    written = i18n.format_datetime(value, calendar=chosen, seconds=shape not in ("minute", "clock"))
    if shape == "ms":  # a timeline's entries, ordered within a second
        return written + digits(f".{value.microsecond // 1000:03d}")
    return written.split(" ", 1)[1] if shape in ("time", "clock") else written


def number(value: object) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return i18n.format_number(value)
    text = str(value)
    return i18n.format_number(int(text)) if text.isdigit() else digits(text)


def digits(text: str) -> str:
    """``text`` with its digits in the page's digits (Persian digits in Persian), each one
    kept: zero-padded milliseconds and the numbers in "3 minutes" alike."""
    return i18n.write_digits(text)


def since(value: datetime) -> str:
    """How long ago ``value`` was ("3 minutes"), in the page's language and digits."""
    return digits(timesince(value, timezone.now()))
