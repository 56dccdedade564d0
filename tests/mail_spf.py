"""Perl's Mail::SPF (Debian libmail-spf-perl) as an independent SPF evaluator (RFC 7208),
asking the tests' dnslib server: the receiving side's SPF verdict on a canary."""

from __future__ import annotations

import subprocess

from tests.dnsd import DnsTestServer
from tests.system import command, missing

#: evaluates MAIL FROM (or HELO when it is empty) for the client address; prints the result code
_SCRIPT = r"""
use strict;
use warnings;
use Mail::SPF;
use Net::DNS::Resolver;
my ($host, $port, $ip, $identity, $helo) = @ARGV;
my $server = Mail::SPF::Server->new(dns_resolver => Net::DNS::Resolver->new(
    nameservers => [$host], port => $port, recurse => 1, retry => 1, udp_timeout => 5, tcp_timeout => 5));
my $request = Mail::SPF::Request->new(
    scope => $identity eq '' ? 'helo' : 'mfrom',
    identity => $identity eq '' ? $helo : $identity,
    ip_address => $ip, helo_identity => $helo);
print $server->process($request)->code, "\n";
"""


def mail_spf(dns: DnsTestServer, *, ip: str, mail_from: str, helo: str) -> str:
    """Mail::SPF's result: ``pass``, ``fail``, ``softfail``, ``neutral``, ``none``,
    ``permerror`` or ``temperror``."""
    perl = command("perl", package="perl")
    probe = subprocess.run([perl, "-MMail::SPF", "-e1"], capture_output=True, check=False)
    if probe.returncode != 0:
        missing("Mail::SPF", "apt-get install libmail-spf-perl, or run make test as root")
    done = subprocess.run(
        [perl, "-e", _SCRIPT, dns.host, str(dns.port), ip, mail_from, helo],
        capture_output=True,
        timeout=30,
        check=True,
    )
    return done.stdout.decode().strip()
