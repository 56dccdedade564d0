"""Email addresses and domains: parse, validate, normalize, redact.

The addr-spec and the domain are checked by ``email-validator`` (syntax only: no DNS
here; the doctor asks DNS separately). The display name is split off by hand, because
people write ``Ünï <x@example.com>`` and ``Ops: team <ops@example.com>`` and expect
them to work (docs/reference/mission-anchors.md E7, E8), while RFC 5322 would want both quoted.

Common ASCII addresses take a fast path that accepts a strict subset of what
email-validator accepts (a differential test keeps the two in step), because
email-validator's cost per address is a large share of the API's budget per message
(docs/performance.md).

Raises :class:`InvalidAddress` (a ``ValueError``) whose message quotes the input and
says what is wrong.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import email_validator
from email_validator import EmailNotValidError, validate_email

from postwarden.core.i18n import Number, Text, said


class InvalidAddress(ValueError):
    """An address or domain that cannot be used; the message quotes the input."""


@dataclass(frozen=True, slots=True)
class Address:
    """A validated mailbox.

    ``addr_spec`` is what goes into MAIL FROM / RCPT TO: the domain is in IDNA ASCII
    when the local part is ASCII; with a non-ASCII local part the whole address stays
    Unicode and the message needs SMTPUTF8 (RFC 6531).
    """

    addr_spec: str
    display_name: str
    local: str
    #: lower-case ASCII (IDNA) form
    domain: str
    domain_unicode: str
    #: the local part is not ASCII, so the server must offer SMTPUTF8
    needs_smtputf8: bool

    def __str__(self) -> str:
        return f"{self.display_name} <{self.addr_spec}>" if self.display_name else self.addr_spec


_ATEXT: Final = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_LABEL: Final = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
#: dot-atom local part @ LDH labels: what the fast path accepts without email-validator
_FAST_ADDR: Final = re.compile(rf"({_ATEXT}+(?:\.{_ATEXT}+)*)@({_LABEL}(?:\.{_LABEL})*)")
#: RFC 5890 reserves "??--" labels for IDNA; only email-validator judges those ("xn--" too)
_RESERVED_LABEL: Final = re.compile(r"(?:^|\.)..--")
#: Self-hosted installs really do mail ``root@localhost`` through a local Postfix and
#: ``ops@corp.local`` inside Active Directory shops, so those two special-use names are
#: allowed; email-validator documents SPECIAL_USE_DOMAIN_NAMES as the list to edit.
_ALLOWED_SPECIAL: Final = frozenset({"local", "localhost"})
email_validator.SPECIAL_USE_DOMAIN_NAMES[:] = [
    name for name in email_validator.SPECIAL_USE_DOMAIN_NAMES if name not in _ALLOWED_SPECIAL
]
#: refused (with their subdomains) even without DNS checks: they can never receive mail
_SPECIAL_USE: Final = frozenset({"arpa", "invalid", "onion"})
_BAD_CHARS: Final = ("\r", "\n", "\x00")
#: RFC 5321 4.5.3.1.1 and 4.5.3.1.3
_MAX_LOCAL, _MAX_ADDRESS = 64, 254


def parse_address(text: str, *, allow_display_name: bool = True) -> Address:
    """Parse ``"ops@example.com"``, ``"Ops <ops@example.com>"``, ``'"Ops: team" <ops@bücher.de>'``.

    The display name may contain anything but a line break; it is encoded when written.
    Raises :class:`InvalidAddress` (line breaks, a display name when not allowed, a bad
    addr-spec).
    """
    if not isinstance(text, str):
        raise InvalidAddress(Text("{text} is not an email address (expected a string)", text=repr(text)))
    return _parse_cached(text, allow_display_name)


@functools.lru_cache(maxsize=4096)
def _parse_cached(text: str, allow_display_name: bool) -> Address:
    # Senders and frequent recipients repeat across a batch; Address is immutable.
    if any(c in text for c in _BAD_CHARS):
        raise InvalidAddress(
            Text(
                "{text} contains a line break or NUL character: refused, as it could inject headers",
                text=repr(text),
            )
        )
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidAddress(
                Text("{text} is not valid Unicode (it has a lone surrogate)", text=repr(text))
            ) from None
    name, spec = split_display_name(text)
    name = clean_display_name(name)
    if name and not allow_display_name:
        raise InvalidAddress(
            Text(
                "{text} has a display name where only an address is allowed: use {spec}",
                text=repr(text),
                spec=repr(spec),
            )
        )
    return _validate(spec, name, text)


def split_display_name(text: str) -> tuple[str, str]:
    """``'"Ops" <ops@x>'`` -> ``("Ops", "ops@x")``; ``"ops@x"`` -> ``("", "ops@x")``.

    Only splits; validates nothing. A quoted name is unquoted (RFC 5322 quoted-pair).
    """
    text = text.strip()
    if not text.endswith(">"):
        return "", text
    start = _angle_start(text)
    if start < 0:
        return "", text
    return _unquote(text[:start].strip()), text[start + 1 : -1].strip()


def clean_display_name(name: str) -> str:
    """Each run of white space (any Unicode space, tab or form feed) becomes one space,
    and none leads or trails.

    RFC 5322 3.2.5: the blanks between the words of a phrase are folding white space,
    not content; readers (the stdlib parser included) collapse and trim them, so a name
    is kept as it will be read.
    """
    return " ".join(name.split())


def _angle_start(text: str) -> int:
    """Index of the ``<`` that opens the final angle-addr, ignoring quoted strings."""
    quoted = escaped = False
    for i, c in enumerate(text):
        if escaped:
            escaped = False
        elif c == "\\":
            escaped = quoted
        elif c == '"':
            quoted = not quoted
        elif c == "<" and not quoted:
            return i
    return -1


def _unquote(name: str) -> str:
    if len(name) >= 2 and name[0] == name[-1] == '"':
        return re.sub(r"\\(.)", r"\1", name[1:-1])
    return name


def _validate(spec: str, name: str, original: str) -> Address:
    fast = _fast_address(spec, name)
    if fast is not None:
        return fast
    try:
        # check_deliverability=False: no DNS in the composer; the doctor asks DNS.
        # globally_deliverable=False: dotless intranet hosts ("ops@mailhub") are real
        # on self-hosted installs.
        found = validate_email(
            spec,
            check_deliverability=False,
            globally_deliverable=False,
            test_environment=True,
            allow_smtputf8=True,
            allow_display_name=False,
            allow_quoted_local=False,
            allow_domain_literal=False,
        )
    except EmailNotValidError as exc:
        # the validator's own words are quoted as they came
        raise InvalidAddress(
            Text("{text} is not a valid email address: {problem}", text=repr(original), problem=str(exc))
        ) from None
    local, smtputf8 = found.local_part, bool(found.smtputf8)
    addr_spec = f"{local}@{found.domain}" if smtputf8 else f"{local}@{found.ascii_domain}"
    return Address(addr_spec, name, local, found.ascii_domain, found.domain, smtputf8)


def _fast_address(spec: str, name: str) -> Address | None:
    if len(spec) > _MAX_ADDRESS:
        return None
    match = _FAST_ADDR.fullmatch(spec)
    if match is None:
        return None
    local, domain = match.groups()
    domain = domain.lower()
    if len(local) > _MAX_LOCAL or _RESERVED_LABEL.search(domain) or _special_use(domain):
        return None
    return Address(f"{local}@{domain}", name, local, domain, domain, False)


def _special_use(domain: str) -> bool:
    return domain.rpartition(".")[2] in _SPECIAL_USE


def parse_address_list(text_or_items: str | Sequence[str]) -> list[Address]:
    """Parse ``"a@x, Bee <b@y>"`` (commas or semicolons outside quotes) or a sequence of
    single addresses. Empty items are skipped. Raises :class:`InvalidAddress` naming
    the position of the bad item."""
    items = split_address_list(text_or_items) if isinstance(text_or_items, str) else list(text_or_items)
    found: list[Address] = []
    for index, item in enumerate(items):
        if isinstance(item, str) and not item.strip():
            continue
        try:
            found.append(parse_address(item))
        except InvalidAddress as exc:
            raise InvalidAddress(
                Text("item {n}: {problem}", n=Number(index + 1), problem=said(exc))
            ) from None
    return found


def split_address_list(text: str) -> list[str]:
    """Split at ``,`` or ``;`` outside quoted strings and angle brackets."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    depth = 0
    for c in text:
        if escaped:
            escaped = False
        elif c == "\\" and quoted:
            escaped = True
        elif c == '"':
            quoted = not quoted
        elif not quoted and c in "<>":
            depth = max(0, depth + (1 if c == "<" else -1))
        elif not quoted and depth == 0 and c in ",;":
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(c)
    parts.append("".join(current).strip())
    return [p for p in parts if p]


def normalize_domain(domain: str) -> str:
    """``"Bücher.DE"`` -> ``"xn--bcher-kva.de"``. Raises :class:`InvalidAddress`."""
    if not isinstance(domain, str) or any(c in domain for c in _BAD_CHARS):
        raise InvalidAddress(
            Text("{domain} is not a domain name (line break, NUL or not a string)", domain=repr(domain))
        )
    cleaned = domain.strip().removesuffix(".")
    if not cleaned or "@" in cleaned:
        raise InvalidAddress(Text("{domain} is not a domain name", domain=repr(domain)))
    try:
        return _parse_cached(f"postmaster@{cleaned}", False).domain
    except InvalidAddress as exc:
        words = said(exc)
        reason = words.params.get("problem", words) if isinstance(words, Text) else words
        raise InvalidAddress(
            Text("{domain} is not a valid domain name: {problem}", domain=repr(domain), problem=reason)
        ) from None


def domain_of(addr: str) -> str:
    """The lower-case IDNA domain of ``addr`` (a display name is allowed)."""
    return parse_address(addr).domain


def redact(addr: str) -> str:
    """``"alice@example.com"`` -> ``"ali***@example.com"`` for logs. Never raises.

    Keeps at most three leading characters of the local part and always hides at least
    two, so short local parts are not given away.
    """
    spec = split_display_name(addr)[1] if isinstance(addr, str) else ""
    local, at, domain = spec.rpartition("@")
    if not at:
        return "***"
    keep = max(0, min(3, len(local) - 2))
    return f"{local[:keep]}***@{domain.lower()}"


def ascii_domain(address: str) -> str:
    """The lower-case ASCII (IDNA) domain of an addr-spec, as MAIL_ALLOWED_DOMAINS holds them;
    never raises: a domain IDNA cannot encode comes back as written (and matches nothing)."""
    part = address.rpartition("@")[2].strip().rstrip(".").lower()
    if part.isascii():
        return part
    try:
        return part.encode("idna").decode("ascii")
    except UnicodeError:
        return part
