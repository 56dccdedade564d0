"""The doctor's DNS client against a real DNS server on loopback (tests/dnsd.py)."""

from __future__ import annotations

import asyncio
import socket

import pytest

from postwarden.core.dns import Answer, DnsClient, DnsError, parse_server
from tests.dnsd import DnsTestServer, unused_udp_port

ZONE = """
example.test.       300 IN TXT  "v=spf1 " "ip4:192.0.2.1 -all"
example.test.       300 IN MX   20 backup.example.test.
example.test.       300 IN MX   10 mx.example.test.
mx.example.test.    300 IN A    192.0.2.10
mx.example.test.    300 IN AAAA 2001:db8::10
alias.example.test. 300 IN CNAME mx.example.test.
nullmx.test.        300 IN MX   0 .
"""


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_it_joins_txt_strings_and_sorts_mx(dns_server: DnsTestServer) -> None:
    dns_server.load(ZONE)
    client = DnsClient(dns_server.address, timeout=2)

    async def ask() -> tuple[Answer, list[tuple[int, str]]]:
        return await client.txt("example.test"), await client.mx("Example.Test.")

    txt, mx = run(ask())
    assert txt.records == ("v=spf1 ip4:192.0.2.1 -all",)
    assert mx == [(10, "mx.example.test"), (20, "backup.example.test")]


def test_it_tells_no_record_from_no_domain(dns_server: DnsTestServer) -> None:
    dns_server.load(ZONE)
    client = DnsClient(dns_server.address, timeout=2)
    nodata = run(client.txt("mx.example.test"))
    nxdomain = run(DnsClient(dns_server.address, timeout=2).txt("absent.example.test"))
    assert (nodata.exists, nodata.evidence) == (True, "no record")
    assert (nxdomain.exists, nxdomain.evidence) == (False, "no record (absent.example.test does not exist)")


def test_it_reads_a_null_mx_as_an_empty_host(dns_server: DnsTestServer) -> None:
    dns_server.load(ZONE)
    assert run(DnsClient(dns_server.address, timeout=2).mx("nullmx.test")) == [(0, "")]


def test_it_resolves_the_smtp_host_at_the_given_server(dns_server: DnsTestServer) -> None:
    dns_server.load(ZONE)
    client = DnsClient(dns_server.address, timeout=2)
    found = run(client.resolve_host("alias.example.test", 587))
    assert found == [("192.0.2.10", 587), ("2001:db8::10", 587)]
    assert dns_server.asked("alias.example.test", "A")
    assert dns_server.asked("alias.example.test", "AAAA")


def test_it_resolves_localhost_on_this_machine_not_at_the_given_server(dns_server: DnsTestServer) -> None:
    dns_server.load(ZONE)
    found = run(DnsClient(dns_server.address, timeout=2).resolve_host("LocalHost.", 2587))
    assert ("127.0.0.1", 2587) in found
    assert not dns_server.asked("localhost", "A")


def test_it_reports_a_host_without_address_as_gaierror(dns_server: DnsTestServer) -> None:
    dns_server.load(ZONE)
    with pytest.raises(
        socket.gaierror, match=r"smtp\.absent\.test: no A or AAAA record at the DNS server at"
    ):
        run(DnsClient(dns_server.address, timeout=2).resolve_host("smtp.absent.test", 25))


def test_it_asks_each_question_once_per_client(dns_server: DnsTestServer) -> None:
    dns_server.load(ZONE)
    client = DnsClient(dns_server.address, timeout=2)

    async def ask_twice() -> None:
        await asyncio.gather(client.txt("example.test"), client.txt("EXAMPLE.test."))

    run(ask_twice())
    assert dns_server.queries.count(("example.test", "TXT")) == 1
    assert client.queries == 1


def test_it_names_servfail_and_timeouts(dns_server: DnsTestServer) -> None:
    dns_server.load(ZONE, servfail=("broken.test",), drop=("silent.test",))
    client = DnsClient(dns_server.address, timeout=0.5)
    with pytest.raises(DnsError, match=r"^TXT broken\.test: .* could not answer \(SERVFAIL\)$"):
        run(client.txt("broken.test"))
    with pytest.raises(DnsError, match=r"^TXT silent\.test: no answer from .* within 0\.5 s$"):
        run(client.txt("silent.test"))


def test_it_times_out_against_a_silent_port() -> None:
    client = DnsClient(f"127.0.0.1:{unused_udp_port()}", timeout=0.3)
    with pytest.raises(DnsError, match=r"within 0\.3 s"):
        run(client.txt("example.test"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1", ("127.0.0.1", 53)),
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        ("[::1]:5353", ("::1", 5353)),
        ("[::1]", ("::1", 53)),
        ("::1", ("::1", 53)),
        ("ns.example.test", ("ns.example.test", 53)),
    ],
)
def test_it_parses_server_addresses(text: str, expected: tuple[str, int]) -> None:
    assert parse_server(text) == expected


@pytest.mark.parametrize("text", ["127.0.0.1:0", "127.0.0.1:x", ":53", "[::1]:99999"])
def test_it_refuses_bad_server_addresses(text: str) -> None:
    with pytest.raises(ValueError, match=r"valid port|names no resolver"):
        parse_server(text)
