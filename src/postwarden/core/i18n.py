"""Translations for the framework-free half: the doctor, ``explain``, the CLI.

Django translates the console with its own machinery; this module is the same idea for
code that must run without Django. It uses the standard library's :mod:`gettext` with
catalogs under ``postwarden/locale/<language>/LC_MESSAGES/<domain>.mo`` (one domain per
area so that areas are translated independently; ``make messages`` extracts and compiles
them, CONTRIBUTING.md describes the workflow).

Two kinds of text:

- words said now, in the active language: :func:`gettext`, :func:`ngettext`;
- words kept for later, :class:`Text`: a ``str`` whose value is the English sentence (so
  JSON, logs and stored rows read English, stable for machines) that remembers its message
  id and parameters, so :func:`localize` can say it again in the reader's language. The
  doctor's findings are ``Text``: ``--json`` stays English while the report a person reads
  is translated.

Parameters are data — a server's reply, an address, a host — and are never translated;
a parameter that is itself a :class:`Text` is said in the reader's language too, and a
:class:`Number` (a count, a duration) is written in the reader's digits. :func:`join`
strings sentences together and keeps each one translatable.

The active language lives in a context variable, so each request or command has its own;
it starts as English, which needs no catalog.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import functools
import gettext as gnu
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Final

import jdatetime

#: The languages Postwarden ships, English first (the source language).
LANGUAGES: Final[tuple[str, ...]] = ("en", "fa")
#: The pseudo-locale of the tests: every translated string comes back inside markers, so
#: a page or a command's output shows which words did not go through a catalog.
PSEUDO: Final = "en-xa"
PSEUDO_OPEN: Final = "⟦"
PSEUDO_CLOSE: Final = "⟧"
#: Languages written right to left (among those Postwarden could ship).
RTL_LANGUAGES: Final[frozenset[str]] = frozenset({"fa", "ar", "he", "ur"})
#: The calendars a date can be written in: Gregorian everywhere, Solar Hijri as a choice in Persian.
CALENDARS: Final[tuple[str, ...]] = ("gregorian", "persian")

LOCALE_DIR: Final = Path(__file__).resolve().parent.parent / "locale"

_language: contextvars.ContextVar[str] = contextvars.ContextVar("postwarden_language", default="en")

_PERSIAN_DIGITS: Final = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
#: a placeholder a message names: {host}, {n:,} (not a doubled, literal brace)
PLACEHOLDER: Final = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)[^{}]*\}(?!\})")
# a locale tag as LANG, Accept-Language or a setting write it: fa, fa_IR.UTF-8, fa-IR, en-XA
_TAG: Final = re.compile(r"^\s*([A-Za-z]{2,3})(?:[-_]([A-Za-z0-9]{2,8}))?")


def match_language(tag: str | None) -> str | None:
    """The shipped language (or the pseudo-locale) a locale tag names, else ``None``.

    ``C``, ``POSIX`` and languages Postwarden does not ship give ``None``, so the caller
    goes on to its next source (the instance default, then English).
    """
    found = _TAG.match(tag or "")
    if found is None:
        return None
    language, region = found.group(1).lower(), (found.group(2) or "").lower()
    if language == "en" and region == "xa":
        return PSEUDO
    return language if language in LANGUAGES else None


def language_from_environ(environ: Mapping[str, str]) -> str:
    """The CLI's language: the user's locale (``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES``,
    ``LANG`` in gettext's order), else the instance default ``POSTWARDEN_LANGUAGE``, else English.

    A locale that names no shipped language (``C.UTF-8`` in a container) falls through to
    the instance default rather than forcing English on an operator who chose Persian.
    """
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        for tag in environ.get(name, "").split(":"):
            chosen = match_language(tag)
            if chosen is not None:
                return chosen
    return match_language(environ.get("POSTWARDEN_LANGUAGE")) or "en"


def activate(language: str) -> None:
    """Make ``language`` the active one for this context (a request, a command)."""
    _language.set(_known(language))


def get_language() -> str:
    return _language.get()


@contextlib.contextmanager
def override(language: str) -> Iterator[None]:
    """Speak ``language`` inside the block, then whatever was active before."""
    token = _language.set(_known(language))
    try:
        yield
    finally:
        _language.reset(token)


def text_direction(language: str | None = None) -> str:
    """``"rtl"`` or ``"ltr"``: the writing direction of ``language`` (default: the active one)."""
    return "rtl" if (language or get_language()).split("-")[0] in RTL_LANGUAGES else "ltr"


def gettext(message: str) -> str:
    """``message`` in the active language (English when no catalog has it)."""
    language = get_language()
    if language == PSEUDO:
        return _pseudo(message)
    return _catalog(language).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form for ``n``, in the active language."""
    language = get_language()
    if language == PSEUDO:
        return _pseudo(singular if n == 1 else plural)
    return _catalog(language).ngettext(singular, plural, n)


class Text(str):
    """An English sentence that can be said again in another language.

    ``Text("The server {host} refused the login.", host=host)`` is the ``str``
    ``"The server mx.example refused the login."``; :func:`localize` gives it in the
    active language with the same parameters. The message id is what the catalog keys on,
    so it must be a literal (the extractor reads it from the source).
    """

    msgid: str
    msgid_plural: str | None
    n: int | None
    params: Mapping[str, object]

    def __new__(cls, msgid: str, /, **params: object) -> Text:
        self = super().__new__(cls, _english(msgid, params))
        self.msgid, self.msgid_plural, self.n, self.params = msgid, None, None, params
        return self

    def localized(self, language: str | None = None) -> str:
        """This sentence in ``language`` (default: the active language)."""
        with override(language) if language else contextlib.nullcontext():
            params = {
                name: localize(value) if isinstance(value, Text) else value
                for name, value in self.params.items()
            }
            return _format(self.template(), params)

    def template(self) -> str:
        """This sentence's words in the active language, before its parameters are put in
        (the plural form its count asks for)."""
        if self.msgid_plural is None or self.n is None:
            return gettext(self.msgid)
        return ngettext(self.msgid, self.msgid_plural, self.n)

    def with_params(self, **params: object) -> Text:
        """The same sentence with other parameters (the redactor's masked ones)."""
        return _rebuild(self.msgid, self.msgid_plural, self.n, {**self.params, **params})

    def filled(self, values: Mapping[str, object]) -> Text:
        """This sentence with its ``{placeholders}`` filled once the facts are known.

        A knowledge base keeps templates ("``nc -vz {host} {port}``") and fills them per
        case; the message id stays, so the filled sentence still translates. A name
        neither ``values`` nor the sentence's own parameters know stays ``{name}``;
        parameters that are templates themselves are filled from ``values`` too.
        """
        names = dict.fromkeys(PLACEHOLDER.findall(self.msgid))
        if self.msgid_plural:
            names.update(dict.fromkeys(PLACEHOLDER.findall(self.msgid_plural)))
        params: dict[str, object] = {}
        for name in names:
            if name in self.params:
                own = self.params[name]
                params[name] = own.filled(values) if isinstance(own, Text) else own
            else:
                params[name] = values.get(name, "{" + name + "}")
        if self.msgid_plural is not None and self.n is not None:
            return ntext(self.msgid, self.msgid_plural, self.n, **params)
        return Text(self.msgid, **params)

    def __reduce__(self) -> tuple[object, ...]:
        # pickling (multiprocessing, caches) keeps the message id, not just the English
        return (_rebuild, (self.msgid, self.msgid_plural, self.n, dict(self.params)))


class Number:
    """A quantity inside a :class:`Text`: ASCII digits in the English sentence, the reader's
    digits (Persian ones in Persian) where the sentence is said again. Format specs work
    as for the number itself: ``{age:.0f}``."""

    __slots__ = ("value",)

    def __init__(self, value: int | float) -> None:
        self.value = value

    def __format__(self, spec: str) -> str:
        return _digits(format(self.value, spec), get_language())

    def __str__(self) -> str:
        return format(self, "")

    def __repr__(self) -> str:
        return f"Number({self.value!r})"

    def __eq__(self, other: object) -> bool:
        return self.value == (other.value if isinstance(other, Number) else other)

    def __hash__(self) -> int:
        return hash(self.value)

    def __reduce__(self) -> tuple[object, ...]:
        return (Number, (self.value,))


class Joined(Text):
    """Sentences strung together with a separator, each said in the reader's language."""

    parts: tuple[str, ...]
    separator: str

    def __new__(cls, separator: str, parts: Iterable[str]) -> Joined:
        items = tuple(parts)
        self = str.__new__(cls, separator.join(items))
        self.msgid, self.msgid_plural, self.n, self.params = "", None, None, {}
        self.parts, self.separator = items, separator
        return self

    def localized(self, language: str | None = None) -> str:
        with override(language) if language else contextlib.nullcontext():
            return localize(self.separator).join(localize(part) for part in self.parts)

    def with_parts(self, parts: Iterable[str]) -> Joined:
        return Joined(self.separator, parts)

    def filled(self, values: Mapping[str, object]) -> Joined:
        return Joined(self.separator, (p.filled(values) if isinstance(p, Text) else p for p in self.parts))

    def __reduce__(self) -> tuple[object, ...]:
        return (Joined, (self.separator, self.parts))


def join(separator: str, parts: Iterable[str]) -> Text:
    """``separator.join(parts)`` that stays translatable: a :class:`Text` part (or
    separator) is said in the reader's language, any other part is data."""
    return Joined(separator, parts)


def ntext(singular: str, plural: str, n: int, /, **params: object) -> Text:
    """A :class:`Text` with a plural form chosen by ``n`` (also passed to the sentence as
    ``n``, written in the reader's digits)."""
    params = {"n": Number(n), **params}
    text = Text(singular if n == 1 else plural, **params)
    text.msgid, text.msgid_plural, text.n = singular, plural, n
    return text


def said(error: BaseException) -> str:
    """What an exception says, still translatable when it was raised with a :class:`Text`
    (or says itself with a ``said()`` method, as the SMTP and DNS errors do)."""
    own = getattr(error, "said", None)
    if callable(own):
        words = own()
        return words if isinstance(words, str) else str(words)
    if len(error.args) == 1 and isinstance(error.args[0], Text):
        return error.args[0]
    return str(error)


def as_data(value: object) -> object:
    """``value`` as JSON data that :func:`from_data` makes a sentence of again: for words
    stored now and said later in the language of whoever reads them (an alert sent by the
    monitor). A plain value is kept as its ``str``."""
    if isinstance(value, Joined):
        return {"join": as_data(value.separator), "parts": [as_data(part) for part in value.parts]}
    if isinstance(value, Text):
        params = {name: as_data(param) for name, param in value.params.items()}
        return {"msgid": value.msgid, "plural": value.msgid_plural, "n": value.n, "params": params}
    if isinstance(value, Number):
        return {"number": value.value}
    return str(value)


def from_data(data: object) -> object:
    """What :func:`as_data` stored: a :class:`Text` again, or the plain value."""
    if not isinstance(data, dict):
        return data
    if "join" in data:
        return Joined(_str_from(data["join"]), [_str_from(part) for part in data["parts"]])
    if "number" in data:
        return Number(data["number"])
    params = {name: from_data(param) for name, param in data.get("params", {}).items()}
    return _rebuild(data["msgid"], data.get("plural"), data.get("n"), params)


def keep(**sentences: object) -> dict[str, object]:
    """What a row keeps of its sentences (a JSON column beside its English ones) to say
    them again in the reader's language: each :class:`Text` by name; plain strings are
    left out, since the English column already holds them."""
    return {name: as_data(value) for name, value in sentences.items() if isinstance(value, Text)}


def kept(words: Mapping[str, object] | None, name: str, english: str) -> str:
    """The sentence ``name`` a row kept (:func:`keep`), a :class:`Text` again, while it
    still says what the row's English column says; else that English column as it is.

    The check makes a column some writer changed without its words (the worker's batched
    updates, rows older than the words) show its own English rather than a stale sentence.
    """
    if not words or name not in words:
        return english
    sentence = from_data(words[name])
    return sentence if isinstance(sentence, Text) and sentence == english else english


def _str_from(data: object) -> str:
    value = from_data(data)
    return value if isinstance(value, str) else str(value)


def localize(value: object) -> str:
    """``value`` for a person to read: a :class:`Text` in the active language, else ``str(value)``."""
    if isinstance(value, Text):
        return value.localized()
    return str(value)


def format_number(value: int | float, language: str | None = None) -> str:
    """A number as the language writes it: grouped, and in Persian with Persian digits."""
    text = f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"
    return _digits(text, language or get_language())


def format_datetime(
    when: dt.datetime | dt.date,
    *,
    calendar: str = "gregorian",
    seconds: bool = True,
    language: str | None = None,
) -> str:
    """A date (and time) written numerically, year first, in the language's digits.

    ``calendar="persian"`` writes the Solar Hijri date (1405/09/15 for 2026-12-06); it is a
    choice offered in Persian, Gregorian being the default everywhere. Numeric dates keep
    tables narrow and sort the way they read.
    """
    language = language or get_language()
    if calendar not in CALENDARS:
        raise ValueError(f"unknown calendar {calendar!r}: choose one of {', '.join(CALENDARS)}")
    has_time = isinstance(when, dt.datetime)
    day: dt.date = when.date() if isinstance(when, dt.datetime) else when
    if calendar == "persian":
        solar = jdatetime.date.fromgregorian(date=day)
        text = f"{solar.year:04d}/{solar.month:02d}/{solar.day:02d}"
    else:
        text = day.isoformat()
    if has_time:
        assert isinstance(when, dt.datetime)
        text += " " + when.strftime("%H:%M:%S" if seconds else "%H:%M")
    return write_digits(text, language)


def write_digits(text: str, language: str | None = None) -> str:
    """``text`` with each digit written in the language's digits and nothing else changed:
    a time, a zero-padded field or a code keeps its shape (``09:05`` is ``۰۹:۰۵``, not a
    number regrouped). :func:`format_number` is for quantities."""
    return text.translate(_PERSIAN_DIGITS) if (language or get_language()) == "fa" else text


def _known(language: str) -> str:
    chosen = match_language(language)
    if chosen is None:
        raise ValueError(f"Postwarden does not speak {language!r}: choose one of {', '.join(LANGUAGES)}")
    return chosen


def _format(message: str, params: Mapping[str, object]) -> str:
    return message.format_map(params) if params else message


def _english(message: str, params: Mapping[str, object]) -> str:
    """The English sentence, whatever language is active (a :class:`Number` writes ASCII digits)."""
    if not params:
        return message
    with override("en"):
        return _format(message, params)


def _digits(text: str, language: str) -> str:
    """A formatted number in the language's digits and separators."""
    if language == "fa":
        return write_digits(text.replace(",", "٬").replace(".", "٫"), language)
    return text


def _pseudo(message: str) -> str:
    return f"{PSEUDO_OPEN}{message}{PSEUDO_CLOSE}"


def _rebuild(msgid: str, plural: str | None, count: int | None, params: dict[str, object]) -> Text:
    if plural is not None and count is not None:
        return ntext(msgid, plural, count, **params)
    return Text(msgid, **params)


@functools.cache
def _catalog(language: str) -> gnu.NullTranslations:
    """Every domain's catalog for ``language``, chained: the first that has a message wins."""
    chain: gnu.NullTranslations = gnu.NullTranslations()
    if language == "en":
        return chain
    for path in sorted((LOCALE_DIR / language / "LC_MESSAGES").glob("*.mo"), reverse=True):
        with path.open("rb") as handle:
            domain = gnu.GNUTranslations(handle)
        domain.add_fallback(chain)
        chain = domain
    return chain
