"""The relay's Received field (RFC 5321 4.4, issue #11): on top of every message it
takes, naming the client, its TLS and the API key by name (never the key), with the
queue id and the date; and DKIM, added when the worker sends, still signs the
application's headers, verified by Perl's Mail::DKIM."""

from __future__ import annotations

import email.utils
import re
import smtplib
import ssl
import subprocess
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trustme

from postwarden.accounts.models import ApiKey
from postwarden.core.config.model import SigningSettings
from postwarden.core.dkim import generate_key, public_key_of, txt_record
from postwarden.outbox.models import Content, Message
from tests.dnsd import DnsTestServer
from tests.mail_dkim import mail_dkim
from tests.relay.helpers import RelayThread, Wire, deliver, relay_settings, simple_mail
from tests.smtpd import SmtpServer
from tests.system import command

pytestmark = pytest.mark.django_db(transaction=True)

Factory = Callable[..., RelayThread]
#: RFC 5321 4.4 Stamp, as this relay writes it: from, by, with, id, comments, "; date"
STAMP = re.compile(
    rb"Received: from (?P<from>[^\r]+)\r\n"
    rb"\tby relay\.test \(Postwarden\) with (?P<with>[A-Z0-9]+) id (?P<id>m_[0-9a-f]+)(?P<semi>;?)\r\n"
    rb"(?P<comments>(?:\t\([^\r]*\);?\r\n)*)"
    rb"\t(?P<date>[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000)\r\n"
)


def stored_raw(public_id: str | None = None) -> tuple[Message, bytes]:
    stored = Message.objects.get(public_id=public_id) if public_id else Message.objects.get()
    return stored, bytes(Content.objects.get(message=stored).raw)


def stamp_of(raw: bytes) -> re.Match[bytes]:
    found = STAMP.match(raw)
    assert found is not None, raw[:600]
    return found


def test_swaks_over_starttls_with_a_key_gets_the_full_stamp_on_top(
    relay_factory: Factory, ca_file: Path, key: tuple[ApiKey, str]
) -> None:
    swaks = command("swaks")
    relay = relay_factory(trusted=())
    done = subprocess.run(
        [swaks, "--server", "127.0.0.1", "--port", str(relay.port), "--ehlo", "app-host.example.com",
         "--from", "app@example.com", "--to", "alice@example.net", "--header", "Subject: traced",
         "--tls", "--tls-verify", "--tls-ca-path", str(ca_file),
         "--auth", "PLAIN", "--auth-user", "anyone", "--auth-password", key[1], "--timeout", "10"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    stored, raw = stored_raw()
    stamp = stamp_of(raw)
    assert stamp["from"] == b"app-host.example.com ([127.0.0.1])"
    assert (stamp["with"], stamp["id"].decode(), stamp["semi"]) == (b"ESMTPSA", stored.public_id, b"")
    comments = stamp["comments"].decode().split("\r\n")[:-1]
    assert re.fullmatch(r"\t\(TLSv1\.[23] with cipher [A-Z0-9_-]+ \((128|256) bits\)\)", comments[0])
    assert comments[1] == '\t(authenticated with the API key "mattermost");'
    sent_at = email.utils.parsedate_to_datetime(stamp["date"].decode())
    assert abs(datetime.now(UTC) - sent_at) < timedelta(minutes=5)
    assert key[1].encode() not in raw
    assert key[1][3:11].encode() not in raw  # not even the key's prefix
    # on top, then the application's own headers
    assert raw[stamp.end() :].startswith(b"Message-Id: ") or raw[stamp.end() :].startswith(b"Date: ")
    assert max(len(line) for line in raw[: stamp.end()].split(b"\r\n")) < 78


def test_a_plain_trusted_client_gets_no_tls_or_key_comment(relay_factory: Factory) -> None:
    relay = relay_factory()
    with smtplib.SMTP("127.0.0.1", relay.port, timeout=10, local_hostname="plain.example") as client:
        client.sendmail("app@example.com", ["alice@example.net"], simple_mail())
    _, raw = stored_raw()
    stamp = stamp_of(raw)
    assert (stamp["from"], stamp["with"], stamp["semi"], stamp["comments"]) == (
        b"plain.example ([127.0.0.1])",
        b"ESMTP",
        b";",
        b"",
    )
    assert raw[stamp.end() :].startswith(b"Date: ")  # added by the outbox, under the stamp


def test_a_helo_client_and_a_hostile_helo_name(relay_factory: Factory) -> None:
    relay = relay_factory()
    for helo, shown in (
        ("HELO old.example", b"old.example ([127.0.0.1])"),
        ('HELO evil"(x)\\y', b"unknown ([127.0.0.1]) (HELO evil??x??y)"),
        ("HELO [127.0.0.1]", b"[127.0.0.1] ([127.0.0.1])"),
    ):
        wire = Wire("127.0.0.1", relay.port)
        assert wire.command(helo).startswith("250 ")
        assert wire.command("MAIL FROM:<app@example.com>") == "250 2.1.0 Ok"
        assert wire.command("RCPT TO:<alice@example.net>") == "250 2.1.5 Ok"
        assert wire.command("DATA").startswith("354")
        wire.send(simple_mail(helo.split()[1].strip('"[]()\\')[:8] or "x") + b".\r\n")
        reply = wire.reply()
        public_id = reply.rpartition(" ")[2]
        stamp = stamp_of(stored_raw(public_id)[1])
        assert (stamp["from"], stamp["with"]) == (shown, b"SMTP")


def test_dkim_signs_the_apps_headers_above_the_stamp_and_mail_dkim_verifies(
    relay_factory: Factory,
    smtpd: SmtpServer,
    tmp_path: Path,
    ca: trustme.CA,
    dns_server: DnsTestServer,
    key: tuple[ApiKey, str],
) -> None:
    pem = generate_key(2048)
    record = txt_record("relay", "example.com", public_key_of(pem))
    dns_server.load(f"{record.name}. 300 IN TXT " + " ".join(f'"{s}"' for s in record.strings))
    settings = replace(
        relay_settings(tmp_path, smtp_port=smtpd.port),
        signing=SigningSettings(domain="example.com", selector="relay", private_key=pem),
    )
    relay = relay_factory(settings, trusted=())
    context = ssl.create_default_context()
    ca.configure_trust(context)
    with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as client:
        client.starttls(context=context)
        client.login("app", key[1])
        client.sendmail("app@example.com", ["alice@example.net"], simple_mail("Signed"))
    deliver(relay.settings)
    [sent] = smtpd.delivered
    names = [line.split(b":", 1)[0] for line in sent.data.split(b"\r\n\r\n")[0].split(b"\r\n")]
    names = [n for n in names if n and n[:1] not in (b" ", b"\t")]
    assert names[:2] == [b"DKIM-Signature", b"Received"]
    assert names[2:] == [b"Date", b"From", b"To", b"Subject", b"Message-ID"]
    signature = sent.data.split(b"\r\nReceived: ")[0]
    h = re.sub(rb"\s", b"", re.search(rb"\bh=([^;]*);", signature).group(1))  # type: ignore[union-attr]
    assert b"received" not in h
    assert h.startswith(
        b"from:from:sender:reply-to:to:to:cc:subject:subject:date:date:message-id:message-id:"
    )
    assert mail_dkim(sent.data, dns_server) == "pass"
    # the stamp is not signed: a later hop may add its own above it; the From is
    assert (
        mail_dkim(
            sent.data.replace(b"\r\nReceived: ", b"\r\nReceived: from x by y; \r\nReceived: "), dns_server
        )
        == "pass"
    )
    assert mail_dkim(sent.data.replace(b"From: App <", b"From: Ap <"), dns_server).startswith("fail")
