"""Perl's Mail::DKIM (Debian libmail-dkim-perl) as an independent DKIM verifier.

dkimpy is the library the signer is built on, so a bug they share would pass both;
Mail::DKIM is a separate implementation, and it picks header instances strictly as
RFC 6376 5.4.2 says (bottom-up), so it shows what over-signing protects: a second
``Subject:`` added above a signature that signs Subject once still verifies there.
The public key is looked up in real DNS: the tests' dnslib server on loopback.
"""

from __future__ import annotations

import subprocess

from tests.dnsd import DnsTestServer
from tests.system import command, missing

#: verifies the message on stdin; prints the verdict with its reason ("fail (…)")
_SCRIPT = r"""
use strict;
use warnings;
use Mail::DKIM::Verifier;
use Mail::DKIM::DNS;
use Net::DNS::Resolver;
my ($host, $port) = @ARGV;
Mail::DKIM::DNS::resolver(Net::DNS::Resolver->new(
    nameservers => [$host], port => $port, recurse => 1, retry => 1, udp_timeout => 5, tcp_timeout => 5));
binmode STDIN;
my $dkim = Mail::DKIM::Verifier->new();
while (my $line = <STDIN>) { $dkim->PRINT($line); }
$dkim->CLOSE;
print $dkim->result_detail, "\n";
"""


def mail_dkim(message: bytes, dns: DnsTestServer) -> str:
    """Mail::DKIM's verdict on ``message``: ``"pass"``, ``"fail (…)"``, ``"none …"``…"""
    perl = command("perl", package="perl")
    probe = subprocess.run([perl, "-MMail::DKIM::Verifier", "-e1"], capture_output=True, check=False)
    if probe.returncode != 0:
        missing("Mail::DKIM", "apt-get install libmail-dkim-perl, or run make test as root")
    done = subprocess.run(
        [perl, "-e", _SCRIPT, dns.host, str(dns.port)],
        input=message,
        capture_output=True,
        timeout=30,
        check=True,
    )
    return done.stdout.decode().strip()
