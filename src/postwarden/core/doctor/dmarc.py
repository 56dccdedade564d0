"""DMARC records (RFC 7489, updated by RFC 9989) as the doctor needs them: parse and
validate one record, and find the organizational domain for alignment and for the
policy fallback.

Parsing is done here rather than with checkdmarc: importing checkdmarc costs more than
half a second (it loads BIMI, HTTP clients and the public suffix list at import), which
alone would break the doctor's "well under a second" on a healthy setup, and its own
lookups go through a process-wide cache (see core/dns.py). The record grammar is small.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from postwarden.core.i18n import Text

if TYPE_CHECKING:
    from publicsuffixlist import PublicSuffixList

POLICIES: Final = ("none", "quarantine", "reject")
_TAG: Final = re.compile(r"^[a-z][a-z0-9_]*$")
_URI_SCHEME: Final = re.compile(r"^[a-z][a-z0-9+.\-]*:\S+$", re.I)


class DmarcError(ValueError):
    """A record that receivers would not use; ``str()`` says which part is wrong."""


@dataclass(frozen=True, slots=True)
class Policy:
    """The parts of a record that decide what happens to unaligned mail."""

    p: str
    sp: str
    adkim: str
    aspf: str
    pct: int
    rua: tuple[str, ...] = ()
    ruf: tuple[str, ...] = ()


def parse(record: str) -> Policy:
    """Parse one ``v=DMARC1`` record. Raises :class:`DmarcError`."""
    tags = _tags(record)
    p = tags.get("p", "none").lower()  # RFC 9989 §4.7: a missing p is p=none
    for name, value in (("p", p), ("sp", tags.get("sp", p)), ("np", tags.get("np", p))):
        if value.lower() not in POLICIES:
            raise DmarcError(Text("{name}={value} is not none, quarantine or reject", name=name, value=value))
    pct = tags.get("pct", "100")
    if not pct.isdigit() or int(pct) > 100:
        raise DmarcError(Text("pct={pct} is not a whole number from 0 to 100", pct=pct))
    return Policy(
        p=p,
        sp=tags.get("sp", p).lower(),
        # RFC 9989 §4.8: an invalid alignment mode is discarded for the default, relaxed
        adkim=tags.get("adkim", "r").lower() if tags.get("adkim", "r").lower() in ("r", "s") else "r",
        aspf=tags.get("aspf", "r").lower() if tags.get("aspf", "r").lower() in ("r", "s") else "r",
        pct=int(pct),
        rua=_uris("rua", tags.get("rua")),
        ruf=_uris("ruf", tags.get("ruf")),
    )


def _tags(record: str) -> dict[str, str]:
    parts = [part.strip() for part in record.strip().split(";")]
    if parts and not parts[-1]:
        parts.pop()  # a trailing semicolon
    tags: dict[str, str] = {}
    for index, part in enumerate(parts):
        name, sep, value = part.partition("=")
        name, value = name.strip().lower(), value.strip()
        if not sep or not _TAG.match(name) or "=" in value or (not value and name != "rua"):
            raise DmarcError(
                Text("{part!r} is not a tag=value pair (tags are separated by semicolons)", part=part)
            )
        if index == 0 and (name, value) != ("v", "DMARC1"):
            raise DmarcError(Text("the record must start with v=DMARC1"))
        if name in tags:
            raise DmarcError(Text("the {name} tag appears twice", name=name))
        tags[name] = value
    if not tags:
        raise DmarcError(Text("the record is empty"))
    return tags


def _uris(name: str, value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    uris = tuple(u.strip() for u in value.split(","))
    for uri in uris:
        if not _URI_SCHEME.match(uri):
            raise DmarcError(
                Text(
                    "{name}: {uri!r} is not a URI (report addresses are mailto:name@domain)",
                    name=name,
                    uri=uri,
                )
            )
    return uris


@functools.cache
def _public_suffixes() -> PublicSuffixList:
    # ~0.1 s to load, so only when a name has more labels than "example.com"
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList()


def organizational_domain(domain: str) -> str:
    """The registrable domain (RFC 7489 §3.2): ``mail.example.co.uk`` -> ``example.co.uk``."""
    domain = domain.rstrip(".").lower()
    if domain.count(".") <= 1:
        return domain
    found = _public_suffixes().privatesuffix(domain)
    return str(found) if found else domain


def aligned(signing: str, domain: str, mode: str) -> bool:
    """Whether ``signing`` aligns with the From ``domain`` under ``mode`` (``s`` strict:
    equal; ``r`` relaxed: the same organizational domain)."""
    signing, domain = signing.rstrip(".").lower(), domain.rstrip(".").lower()
    if signing == domain:
        return True
    return mode != "s" and organizational_domain(signing) == organizational_domain(domain)
