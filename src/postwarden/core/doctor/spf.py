"""SPF (RFC 7208) as the doctor needs it: find the one record, check its syntax, count
the DNS lookups it costs, and tell whether it authorizes given addresses.

Written here rather than delegated to checkdmarc because every lookup must go to the
doctor's resolver (:mod:`postwarden.core.dns`); checkdmarc's answers pass through a
process-wide cache keyed by name only (see core/dns.py), and importing it costs more
than half a second (see dmarc.py).

Not evaluated: macros (``%{i}`` …) and ``ptr`` (RFC 7208 §5.5: "do not use"). A
record that needs them is still counted and syntax-checked; whether it covers an
address is then reported as unknown instead of guessed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
from dataclasses import dataclass, field
from typing import Final

from postwarden.core.dns import DnsClient
from postwarden.core.i18n import Number, Text, said

#: RFC 7208 §4.6.4: more than 10 mechanisms/modifiers that cause DNS lookups is a permerror
MAX_LOOKUPS: Final = 10
#: RFC 7208 §4.6.4: more than 2 lookups that return nothing SHOULD be a permerror
MAX_VOID_LOOKUPS: Final = 2
_LOOKUP_MECHANISMS: Final = frozenset({"include", "a", "mx", "ptr", "exists"})
_MECHANISMS: Final = _LOOKUP_MECHANISMS | {"all", "ip4", "ip6"}
_TERM_RE: Final = re.compile(
    r"^(?P<q>[+\-~?]?)(?P<name>[a-z][a-z0-9_.\-]*)(?::(?P<arg>[^/\s]+))?(?P<cidr>(?:/\d+)?(?://\d+)?)$", re.I
)
_MODIFIER_RE: Final = re.compile(r"^(?P<name>[a-z][a-z0-9_.\-]*)=(?P<value>\S*)$", re.I)


class SpfError(ValueError):
    """The record cannot be used: syntax, duplicates, too many lookups. ``str()`` says why."""


@dataclass(frozen=True, slots=True)
class Term:
    qualifier: str
    name: str
    arg: str = ""
    cidr4: int | None = None
    cidr6: int | None = None


@dataclass(frozen=True, slots=True)
class Record:
    text: str
    mechanisms: tuple[Term, ...]
    redirect: str | None = None


@dataclass
class SpfTally:
    lookups: int = 0
    void: int = 0
    #: every domain reached through include: or redirect=, lower-case
    reached: set[str] = field(default_factory=set)


def parse(text: str) -> Record:
    """Parse one ``v=spf1`` record. Raises :class:`SpfError` naming the bad term."""
    terms = text.split()
    if not terms or terms[0].lower() != "v=spf1":
        raise SpfError(Text("{text!r} does not start with v=spf1", text=text))
    mechanisms: list[Term] = []
    redirect: str | None = None
    for raw in terms[1:]:
        modifier = _MODIFIER_RE.match(raw)
        if modifier:
            name = modifier["name"].lower()
            if name == "redirect":
                if redirect is not None:
                    raise SpfError(Text("redirect= appears twice (RFC 7208 §6)"))
                redirect = _domain_arg(raw, modifier["value"])
            continue  # exp= and unknown modifiers are allowed (RFC 7208 §6)
        mechanisms.append(_mechanism(raw))
    return Record(text, tuple(mechanisms), redirect)


def _mechanism(raw: str) -> Term:
    match = _TERM_RE.match(raw)
    name = match["name"].lower() if match else ""
    if not match or name not in _MECHANISMS:
        raise SpfError(Text("{raw!r} is not an SPF mechanism", raw=raw))
    arg, cidr = match["arg"] or "", match["cidr"] or ""
    if name in ("ip4", "ip6"):
        # one prefix, of the mechanism's own family: ip6:2001:db8::/32
        prefix = (
            int(cidr[1:]) if cidr.startswith("/") and not cidr.startswith("//") and "//" not in cidr else None
        )
        if cidr and prefix is None:
            raise SpfError(Text("{raw!r} has a malformed prefix length", raw=raw))
        _check_network(raw, name, arg, prefix)
        return Term(
            match["q"] or "+", name, arg, prefix if name == "ip4" else None, prefix if name == "ip6" else None
        )
    cidr4, cidr6 = _cidrs(raw, cidr)
    if name == "all" and (arg or cidr):
        raise SpfError(Text("{raw!r}: 'all' takes no argument", raw=raw))
    if name in ("include", "exists") and not arg:
        raise SpfError(Text("{raw!r}: {name} needs a domain", raw=raw, name=name))
    if arg:
        _domain_arg(raw, arg)
    return Term(match["q"] or "+", name, arg, cidr4, cidr6)


def _cidrs(raw: str, cidr: str) -> tuple[int | None, int | None]:
    v4, _, v6 = cidr.partition("//")
    cidr4 = int(v4[1:]) if v4.startswith("/") else None
    cidr6 = int(v6) if v6 else None
    if (cidr4 is not None and cidr4 > 32) or (cidr6 is not None and cidr6 > 128):
        raise SpfError(Text("{raw!r} has a prefix length out of range", raw=raw))
    return cidr4, cidr6


def _check_network(raw: str, name: str, arg: str, prefix: int | None) -> None:
    try:
        network = ipaddress.ip_network(f"{arg}/{prefix}" if prefix is not None else arg, strict=False)
    except ValueError:
        raise SpfError(Text("{raw!r} is not a valid {name} network", raw=raw, name=name)) from None
    if network.version != (4 if name == "ip4" else 6):
        raise SpfError(
            Text("{raw!r}: {arg} is not an IPv{version} address", raw=raw, arg=arg, version=name[-1])
        )


def _domain_arg(raw: str, value: str) -> str:
    if "%" in value:
        return value  # a macro: checked when evaluated
    labels = value.rstrip(".").split(".")
    if len(labels) < 2 or not all(labels) or any(len(label) > 63 for label in labels):
        raise SpfError(Text("{raw!r}: {value!r} is not a domain name", raw=raw, value=value))
    return value.rstrip(".").lower()


async def fetch(client: DnsClient, domain: str) -> list[str]:
    """The ``v=spf1`` TXT records at ``domain`` (none, one, or - wrongly - several)."""
    answer = await client.txt(domain)
    return [r for r in answer.records if r.lower() == "v=spf1" or r.lower().startswith("v=spf1 ")]


async def load(client: DnsClient, domain: str) -> Record:
    """The one record at ``domain``. Raises :class:`SpfError` for none or several."""
    found = await fetch(client, domain)
    if not found:
        raise SpfError(Text("{domain} has no SPF record", domain=domain))
    if len(found) > 1:
        raise SpfError(
            Text(
                "{domain} publishes {count} SPF records; receivers treat that as an error (RFC 7208 §4.5): "
                "merge them into one",
                domain=domain,
                count=Number(len(found)),
            )
        )
    return parse(found[0])


async def count_lookups(
    client: DnsClient, domain: str, record: Record, tally: SpfTally | None = None, depth: int = 0
) -> SpfTally:
    """Walk includes and redirects; raises :class:`SpfError` past the limits of RFC 7208 §4.6.4
    or for an include/redirect target without a record, and on loops."""
    tally = tally or SpfTally()
    if depth > MAX_LOOKUPS:
        raise SpfError(Text("the SPF record of {domain} includes itself (a loop)", domain=domain))
    nested: list[str] = []
    for term in record.mechanisms:
        if term.name in _LOOKUP_MECHANISMS:
            tally.lookups += 1
        if term.name == "include" and "%" not in term.arg:
            nested.append(term.arg)
        elif term.name in ("a", "mx") and not await _resolves(client, term.arg or domain, term.name):
            tally.void += 1
    if record.redirect and "%" not in record.redirect:
        tally.lookups += 1
        nested.append(record.redirect)
    _check_limits(domain, tally)
    records = await asyncio.gather(*(load(client, target) for target in nested), return_exceptions=True)
    for target, loaded in zip(nested, records, strict=True):
        if isinstance(loaded, BaseException):
            raise SpfError(
                Text(
                    "{domain} refers to {target}, which has no usable SPF record ({error})",
                    domain=domain,
                    target=target,
                    error=said(loaded),
                )
            )
        tally.reached.add(target)
        await count_lookups(client, target, loaded, tally, depth + 1)
    return tally


def _check_limits(domain: str, tally: SpfTally) -> None:
    if tally.lookups > MAX_LOOKUPS:
        raise SpfError(
            Text(
                "the SPF record of {domain} needs more than {limit} DNS lookups ({lookups} so far); "
                "receivers stop there with a permanent error (RFC 7208 §4.6.4): flatten includes or drop "
                "unused ones",
                domain=domain,
                limit=MAX_LOOKUPS,
                lookups=Number(tally.lookups),
            )
        )
    if tally.void > MAX_VOID_LOOKUPS:
        raise SpfError(
            Text(
                "the SPF record of {domain} has {void} lookups that find nothing (more than {limit}, RFC "
                "7208 §4.6.4)",
                domain=domain,
                void=Number(tally.void),
                limit=MAX_VOID_LOOKUPS,
            )
        )


async def _resolves(client: DnsClient, name: str, kind: str) -> bool:
    if "%" in name:
        return True
    if kind == "mx":
        return bool(await client.mx(name))
    return bool(await client.addresses(name))


async def authorizes(client: DnsClient, domain: str, record: Record, ip: str, depth: int = 0) -> bool | None:
    """Whether ``record`` (of ``domain``) gives ``pass`` for ``ip``: True, False, or None
    when it depends on something the doctor does not evaluate (macros, ptr)."""
    address = ipaddress.ip_address(ip)
    for term in record.mechanisms:
        matched = await _matches(client, domain, term, address, depth)
        if matched is None:
            return None
        if matched:
            return term.qualifier == "+"
    if record.redirect and depth < MAX_LOOKUPS:
        if "%" in record.redirect:
            return None
        return await authorizes(client, record.redirect, await load(client, record.redirect), ip, depth + 1)
    return False


async def _matches(
    client: DnsClient,
    domain: str,
    term: Term,
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
    depth: int,
) -> bool | None:
    if "%" in term.arg or term.name == "ptr":
        return None
    if term.name == "all":
        return True
    if term.name in ("ip4", "ip6"):
        prefix = term.cidr4 if term.name == "ip4" else term.cidr6
        network = ipaddress.ip_network(
            f"{term.arg}/{prefix}" if prefix is not None else term.arg, strict=False
        )
        return address.version == network.version and address in network
    if term.name == "include":
        if depth >= MAX_LOOKUPS:
            return False
        return (
            await authorizes(client, term.arg, await load(client, term.arg), str(address), depth + 1) is True
        )
    if term.name == "exists":
        return bool(await client.addresses(term.arg))
    target = term.arg or domain
    hosts = [host for _, host in await client.mx(target) if host] if term.name == "mx" else [target]
    prefix = term.cidr4 if address.version == 4 else term.cidr6
    for host in hosts[:MAX_LOOKUPS]:  # RFC 7208 §4.6.4: at most 10 MX names are looked up
        for found in await client.addresses(host):
            net = ipaddress.ip_network(f"{found}/{prefix}" if prefix is not None else found, strict=False)
            if address.version == net.version and address in net:
                return True
    return False
