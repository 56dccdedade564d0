"""An independent reading of a message's MIME: Perl's MIME-tools (MIME::Parser, Debian's
libmime-tools-perl), which shares no code with Python's email package or with
core.message. Each leaf part is reported as its type, disposition, filename,
Content-ID and the SHA-256 of its decoded body."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass

from tests import system

_SCRIPT = r"""
use strict; use warnings;
use MIME::Parser; use Digest::SHA qw(sha256_hex); use MIME::Words qw(decode_mimewords);
binmode STDOUT, ':utf8';
my $parser = MIME::Parser->new; $parser->output_to_core(1); $parser->decode_headers(0);
my $entity = $parser->parse(\*STDIN);
sub esc {
  my $s = shift // ''; $s =~ s/(["\\])/\\$1/g;
  $s =~ s/([\x00-\x1f])/sprintf('\\u%04x', ord $1)/ge; return $s;
}
my @out;
sub walk {
  my $e = shift;
  if ($e->parts) { walk($_) for $e->parts; return; }
  my $head = $e->head;
  my $body = $e->bodyhandle ? $e->bodyhandle->as_string : '';
  my $name = $head->recommended_filename // '';
  utf8::decode($name);
  my $cid = $head->get('Content-ID') // ''; chomp $cid;
  push @out, sprintf('{"type":"%s","disposition":"%s","filename":"%s",'
    . '"content_id":"%s","sha256":"%s","text":"%s"}',
    esc($e->mime_type), esc($head->mime_attr('content-disposition') // ''), esc($name), esc($cid),
    sha256_hex($body), ($e->mime_type =~ m{^text/} ? esc($body) : ''));
}
walk($entity);
print '[', join(',', @out), ']';
"""


@dataclass(frozen=True)
class Leaf:
    type: str
    disposition: str
    filename: str
    content_id: str
    sha256: str
    text: str


def perl_parts(raw: bytes) -> list[Leaf]:
    """Every leaf part of ``raw`` as MIME::Parser reads it (skips locally when it is not
    installed, fails under CI: the Makefile's TEST_DEBS installs it)."""
    perl = system.command("perl")
    if subprocess.run([perl, "-MMIME::Parser", "-e", "1"], capture_output=True, check=False).returncode:
        system.missing("Perl's MIME-tools", "apt-get install libmime-tools-perl, or make system-deps as root")
    done = subprocess.run([perl, "-e", _SCRIPT], input=raw, capture_output=True, check=True, timeout=60)
    return [Leaf(**item) for item in json.loads(done.stdout.decode("utf-8"))]
