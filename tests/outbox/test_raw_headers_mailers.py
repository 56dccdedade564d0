"""The header scan's fast path is the one ordinary mail takes. The property tests in
test_raw_headers.py prove that whatever the scan answers is right, and would still pass
with a scanner that always declined (the parser then answers everything, correctly and
slowly). Here messages as real mailers write them - Django, Python's smtplib and email
package, Postfix's sendmail, Thunderbird, Outlook, Gmail, a Go and a Java notifier,
PHPMailer - must be read by the scan itself, and their address lists by the plain-list
reader, except the few fields that are not plain lists (quoted names, encoded words),
which are named here one by one."""

from __future__ import annotations

import email.message
import email.policy
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from django.core.mail import EmailMultiAlternatives

from postwarden.outbox import raw_headers
from postwarden.outbox.raw_message import prepare_raw
from tests.outbox.test_raw_headers import parsed_fields

NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)


def django_message() -> bytes:
    message = EmailMultiAlternatives(
        subject="Disk 91% full on db-1",
        body="The disk is almost full.",
        from_email="Grafana Alerts <alerts@example.com>",
        to=["ann@example.net", "Bob Ops <bob@example.org>"],
        cc=["oncall@example.com"],
        headers={"X-Alert-Id": "a-17"},
    )
    message.attach_alternative("<p>The disk is almost full.</p>", "text/html")
    return message.message().as_bytes(linesep="\r\n")


def stdlib_message() -> bytes:
    # what smtplib.SMTP.send_message sends: the email package with the SMTP policy
    message = email.message.EmailMessage(policy=email.policy.SMTP)
    message["From"] = "Backup Job <backup@example.com>"
    message["To"] = "ann@example.net, cy@example.com"
    message["Subject"] = "Nightly backup finished"
    message["Date"] = "Sun, 22 Nov 2026 05:59:58 +0000"
    message["Message-ID"] = "<176401079800.4242.1234567890@backup.example.com>"
    message.set_content("All 14 volumes copied.\n")
    return message.as_bytes()


def lines(*header: str) -> Callable[[], bytes]:
    return lambda: ("\r\n".join(header) + "\r\n\r\nbody\r\n").encode("ascii")


MAILERS: dict[str, Callable[[], bytes]] = {
    "django": django_message,
    "python-smtplib": stdlib_message,
    "postfix-sendmail": lines(
        "Received: by host.example.com (Postfix, from userid 1000)",
        "\tid 4Fq2Lw0hXz9vL; Sun, 22 Nov 2026 05:59:58 +0000 (UTC)",
        "To: root@example.com",
        "Subject: Cron <root@host> /usr/local/bin/rotate",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=UTF-8",
        "X-Cron-Env: <SHELL=/bin/sh>",
        "Message-Id: <20261122055958.4Fq2Lw0hXz9vL@host.example.com>",
        "Date: Sun, 22 Nov 2026 05:59:58 +0000 (UTC)",
        "From: root@example.com (Cron Daemon)",
    ),
    "thunderbird": lines(
        "Message-ID: <6f1c2d3e-4a5b-6c7d-8e9f-0a1b2c3d4e5f@example.com>",
        "Date: Sun, 22 Nov 2026 06:58:01 +0100",
        "MIME-Version: 1.0",
        "User-Agent: Mozilla Thunderbird",
        "Content-Language: en-US",
        "To: Ann Example <ann@example.net>",
        "Cc: Bob <bob@example.org>, cy@example.com",
        "From: Dee Sender <dee@example.com>",
        "Subject: Re: the migration plan",
        "References: <a1@example.net> <b2@example.org>",
        "In-Reply-To: <b2@example.org>",
        "Content-Type: text/plain; charset=UTF-8; format=flowed",
        "Content-Transfer-Encoding: 7bit",
    ),
    "outlook": lines(
        'From: "Doe, John" <john.doe@example.com>',
        'To: "Ops Team" <ops@example.com>',
        "CC: Ann Example <ann@example.net>",
        "Subject: RE: Quarterly maintenance window",
        "Thread-Topic: Quarterly maintenance window",
        "Thread-Index: AQHZk1b2c3d4e5f6g7h8i9j0==",
        "Date: Sun, 22 Nov 2026 06:01:02 +0000",
        "Message-ID: <DB9PR01MB1234ABCD5678EF90@DB9PR01MB1234.eurprd01.prod.exchangelabs.com>",
        "Accept-Language: en-US",
        "Content-Language: en-US",
        "X-MS-Has-Attach: ",
        "X-MS-TNEF-Correlator: ",
        'Content-Type: text/plain; charset="us-ascii"',
        "MIME-Version: 1.0",
    ),
    "gmail": lines(
        "MIME-Version: 1.0",
        "References: <CAF1a2b3c4d5e6f7g8h9@mail.gmail.com>",
        "In-Reply-To: <CAF1a2b3c4d5e6f7g8h9@mail.gmail.com>",
        "From: Eve Example <eve.example@gmail.com>",
        "Date: Sun, 22 Nov 2026 07:02:03 +0100",
        "Message-ID: <CAG9z8y7x6w5v4u3t2s1r0q@mail.gmail.com>",
        "Subject: Re: dinner",
        "To: ann@example.net",
        'Content-Type: multipart/alternative; boundary="000000000000a1b2c3d4e5f6a7b8"',
    ),
    "go-notifier": lines(
        "Mime-Version: 1.0",
        "Date: Sun, 22 Nov 2026 06:00:00 +0000",
        "From: Alertmanager <alertmanager@example.com>",
        "Subject: [FIRING:1] HighLatency api (critical)",
        "To: oncall@example.com",
        "Message-Id: <1764000000123456789.2424.9876543210@alertmanager.example.com>",
        "Content-Type: multipart/alternative;  boundary=b1f3c5d7e9",
    ),
    "java-mail": lines(
        "Date: Sun, 22 Nov 2026 06:00:00 +0000 (UTC)",
        "From: Metabase <metabase@example.com>",
        "Reply-To: noreply@example.com",
        "To: ann@example.net, bob@example.org, cy@example.com, dee@example.com,",
        " eve@example.com",
        "Message-ID: <1234567.89.1764000000000@metabase.example.com>",
        "Subject: Pulse: Daily revenue",
        "MIME-Version: 1.0",
        "Content-Type: multipart/mixed; ",
        '\tboundary="----=_Part_89_1234567.1764000000000"',
    ),
    "phpmailer": lines(
        "Date: Sun, 22 Nov 2026 06:00:00 +0000",
        "To: Ann Example <ann@example.net>",
        "From: Shop <shop@example.com>",
        "Subject: =?UTF-8?Q?Your_order_=E2=84=96_1234?=",
        "Message-ID: <Zx9kLmNoPqRsTuVwXyZ0123456789abc@shop.example.com>",
        "X-Mailer: PHPMailer 6.9.1 (https://github.com/PHPMailer/PHPMailer)",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=UTF-8",
    ),
}

#: (mailer, field) whose value is not a plain address list: the parser reads these
NOT_PLAIN: frozenset[tuple[str, str]] = frozenset(
    {
        ("postfix-sendmail", "from"),  # a trailing (comment)
        ("outlook", "from"),  # "quoted, name"
        ("outlook", "to"),  # "quoted name"
    }
)


def head_of(raw: bytes) -> bytes:
    return raw.partition(b"\r\n\r\n")[0] + b"\r\n"


@pytest.mark.parametrize("mailer", MAILERS)
def test_the_scan_reads_an_ordinary_header_block_itself(mailer: str) -> None:
    head = head_of(MAILERS[mailer]())
    scanned = raw_headers.scan(head)
    assert scanned is not None, f"the scan declined {mailer}'s header block"
    assert scanned == parsed_fields(head)
    assert {"from", "to", "subject"} <= scanned.keys()


@pytest.mark.parametrize("mailer", MAILERS)
def test_the_plain_list_reader_reads_every_plain_address_field(mailer: str) -> None:
    scanned = raw_headers.scan(head_of(MAILERS[mailer]()))
    assert scanned is not None
    declined = {
        (mailer, name)
        for name in ("from", "to", "cc")
        for value in scanned.get(name, [])
        if raw_headers.simple_addresses(value) is None
    }
    assert declined == {key for key in NOT_PLAIN if key[0] == mailer}


class Counting:
    """Wraps one of raw_headers' readers and counts its answers and its declines."""

    def __init__(self, real: Callable[..., Any]) -> None:
        self.real = real
        self.answered = 0
        self.declined = 0

    def __call__(self, *args: Any) -> Any:
        found = self.real(*args)
        if found is None:
            self.declined += 1
        else:
            self.answered += 1
        return found


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, Counting]:
    counters = {
        "scan": Counting(raw_headers.scan),
        "simple_addresses": Counting(raw_headers.simple_addresses),
    }
    for name, counter in counters.items():
        monkeypatch.setattr(raw_headers, name, counter)
    return counters


def test_preparing_ordinary_mail_takes_the_fast_path(counted: dict[str, Counting]) -> None:
    for make in MAILERS.values():
        prepared = prepare_raw(make(), "sender@example.com", ["ann@example.net"], now=NOW)
        assert prepared.from_address
    scan, simple = counted["scan"], counted["simple_addresses"]
    assert (scan.answered, scan.declined) == (len(MAILERS), 0)
    # raw.py asks the plain-list reader for From and for the To and Cc lists of each message;
    # only the fields named in NOT_PLAIN may go to the parser
    assert simple.declined == len(NOT_PLAIN)
    assert simple.answered >= 2 * len(MAILERS) - len(NOT_PLAIN)
