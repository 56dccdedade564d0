"""SPF parsing, lookup counting and evaluation against a real DNS server (tests/dnsd.py)."""

from __future__ import annotations

import asyncio

import pytest

from postwarden.core.dns import DnsClient
from postwarden.core.doctor import spf
from tests.dnsd import DnsTestServer


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


@pytest.mark.parametrize(
    ("record", "error"),
    [
        ("v=spf2 -all", "does not start with v=spf1"),
        ("v=spf1 ip4:300.1.1.1 -all", "'ip4:300.1.1.1' is not a valid ip4 network"),
        ("v=spf1 ip4:2001:db8::1 -all", "2001:db8::1 is not an IPv4 address"),
        ("v=spf1 include -all", "'include': include needs a domain"),
        ("v=spf1 a:mail/40 -all", "'a:mail/40' has a prefix length out of range"),
        ("v=spf1 redirect=a.example redirect=b.example", "redirect= appears twice"),
        ("v=spf1 +mx ~al", "'~al' is not an SPF mechanism"),
        ("v=spf1 include:localhost -all", "'localhost' is not a domain name"),
        ("v=spf1 all:x.example", "'all' takes no argument"),
    ],
)
def test_it_names_the_bad_term(record: str, error: str) -> None:
    with pytest.raises(spf.SpfError) as raised:
        spf.parse(record)
    assert error in str(raised.value)


def test_it_parses_every_mechanism_and_modifier() -> None:
    record = spf.parse(
        "v=spf1 +a mx:mx.example.com/24//64 ip4:192.0.2.0/24 ip6:2001:db8::/32 ~include:_spf.x.com "
        "?exists:%{i}.e.example.com -ptr exp=explain.example.com redirect=_spf.example.com -all"
    )
    names = [(t.qualifier, t.name, t.arg, t.cidr4, t.cidr6) for t in record.mechanisms]
    assert names == [
        ("+", "a", "", None, None),
        ("+", "mx", "mx.example.com", 24, 64),
        ("+", "ip4", "192.0.2.0", 24, None),
        ("+", "ip6", "2001:db8::", None, 32),
        ("~", "include", "_spf.x.com", None, None),
        ("?", "exists", "%{i}.e.example.com", None, None),
        ("-", "ptr", "", None, None),
        ("-", "all", "", None, None),
    ]
    assert record.redirect == "_spf.example.com"


CHAIN = """
example.com.        300 IN TXT "v=spf1 ip4:192.0.2.0/24 include:_spf.provider.net mx a:relay.example.com -all"
example.com.        300 IN MX  10 mx.example.com.
mx.example.com.     300 IN A   198.51.100.7
relay.example.com.  300 IN AAAA 2001:db8::25
_spf.provider.net.  300 IN TXT "v=spf1 include:_spf2.provider.net ~all"
_spf2.provider.net. 300 IN TXT "v=spf1 ip4:203.0.113.0/24 -all"
"""


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("192.0.2.77", True),
        ("203.0.113.9", True),  # through two includes
        ("198.51.100.7", True),  # mx
        ("2001:db8::25", True),  # a: with an AAAA record
        ("198.51.100.8", False),
        ("2001:db8::26", False),
    ],
)
def test_it_evaluates_addresses_through_includes(dns_server: DnsTestServer, ip: str, expected: bool) -> None:
    dns_server.load(CHAIN)

    async def check() -> bool | None:
        client = DnsClient(dns_server.address, timeout=2)
        record = await spf.load(client, "example.com")
        return await spf.authorizes(client, "example.com", record, ip)

    assert run(check()) is expected


def test_it_counts_lookups_and_lists_what_it_reached(dns_server: DnsTestServer) -> None:
    dns_server.load(CHAIN)

    async def count() -> spf.SpfTally:
        client = DnsClient(dns_server.address, timeout=2)
        return await spf.count_lookups(client, "example.com", await spf.load(client, "example.com"))

    tally = run(count())
    assert (tally.lookups, tally.void, tally.reached) == (4, 0, {"_spf.provider.net", "_spf2.provider.net"})


def test_it_refuses_more_than_ten_lookups(dns_server: DnsTestServer) -> None:
    includes = " ".join(f"include:s{i}.example.net" for i in range(6))
    zone = [f'example.com. 300 IN TXT "v=spf1 {includes} -all"']
    zone += [
        f's{i}.example.net. 300 IN TXT "v=spf1 a:x{i}.example.net mx:x{i}.example.net -all"' for i in range(6)
    ]
    zone += [
        f"x{i}.example.net. 300 IN A 192.0.2.{i}\nx{i}.example.net. 300 IN MX 0 x{i}.example.net."
        for i in range(6)
    ]
    dns_server.load("\n".join(zone))

    async def count() -> None:
        client = DnsClient(dns_server.address, timeout=2)
        await spf.count_lookups(client, "example.com", await spf.load(client, "example.com"))

    with pytest.raises(spf.SpfError, match=r"needs more than 10 DNS lookups \(\d+ so far\)"):
        run(count())


def test_it_refuses_an_include_without_a_record(dns_server: DnsTestServer) -> None:
    dns_server.load('example.com. 300 IN TXT "v=spf1 include:gone.example.net -all"')

    async def count() -> None:
        client = DnsClient(dns_server.address, timeout=2)
        await spf.count_lookups(client, "example.com", await spf.load(client, "example.com"))

    with pytest.raises(spf.SpfError, match=r"refers to gone\.example\.net, which has no usable SPF record"):
        run(count())


def test_it_refuses_an_include_loop(dns_server: DnsTestServer) -> None:
    dns_server.load("""
        a.example.com. 300 IN TXT "v=spf1 include:b.example.com -all"
        b.example.com. 300 IN TXT "v=spf1 include:a.example.com -all"
    """)

    async def count() -> None:
        client = DnsClient(dns_server.address, timeout=2)
        await spf.count_lookups(client, "a.example.com", await spf.load(client, "a.example.com"))

    with pytest.raises(spf.SpfError):
        run(count())


def test_it_does_not_guess_about_macros(dns_server: DnsTestServer) -> None:
    dns_server.load('example.com. 300 IN TXT "v=spf1 exists:%{i}._spf.example.com -all"')

    async def check() -> bool | None:
        client = DnsClient(dns_server.address, timeout=2)
        return await spf.authorizes(client, "example.com", await spf.load(client, "example.com"), "192.0.2.1")

    assert run(check()) is None
