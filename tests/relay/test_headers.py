"""The relay refuses at DATA what RFC 5322 forbids and what would be signed ambiguously
(issue #11): real clients (smtplib, swaks) get a 550 5.6.0 with the reason, and
nothing is stored. What is well formed, UTF-8 header text included, is taken."""

from __future__ import annotations

import re
import smtplib
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from postwarden.outbox.models import Message
from tests.relay.helpers import RelayThread
from tests.system import command

pytestmark = pytest.mark.django_db(transaction=True)

GOOD = (
    "From: App <app@example.com>",
    "To: alice@example.net",
    "Subject: Hello",
    "Message-ID: <h1@app.example.com>",
)

#: (header lines, the reason the reply must give)
REFUSED = [
    (("Subject : x", *GOOD[:2]), 'header field "Subject" has white space before its colon'),
    (("Subject\t: x", *GOOD[:2]), 'header field "Subject" has white space before its colon'),
    ((*GOOD, "no colon on this line"), 'header line 5 ("no colon on this line") is neither a field'),
    (("From nobody Sun Nov 22 06:00:00 2026", *GOOD), 'the first line is an mbox "From " separator'),
    ((" folded first", *GOOD), "the header block starts with a folded continuation line"),
    (GOOD[1:], "the message has no From field; RFC 5322 3.6 requires one"),
    (
        (*GOOD, "From: Evil <evil@example.net>"),
        "the message has 2 From fields; RFC 5322 3.6 allows exactly one",
    ),
    ((*GOOD, "To: bob@example.net"), "the message has 2 To fields; RFC 5322 3.6 allows at most one"),
    ((*GOOD, "cc: a@example.net", "CC: b@example.net"), "the message has 2 Cc fields"),
    ((*GOOD, "Bcc: a@example.net", "Bcc: b@example.net"), "the message has 2 Bcc fields"),
    ((*GOOD, "Subject: again"), "the message has 2 Subject fields; RFC 5322 3.6 allows at most one"),
    (
        (*GOOD, "Date: Mon, 2 Mar 2026 10:00:00 +0000", "Date: Mon, 2 Mar 2026 10:00:01 +0000"),
        "2 Date fields",
    ),
    ((*GOOD, "Message-ID: <h2@app.example.com>"), "the message has 2 Message-ID fields"),
    ((*GOOD, "Sender: a@example.com", "Sender: b@example.com"), "the message has 2 Sender fields"),
    ((*GOOD, "Reply-To: a@example.com", "Reply-To: b@example.com"), "the message has 2 Reply-To fields"),
    ((*GOOD, "In-Reply-To: <a@x>", "In-Reply-To: <b@x>"), "the message has 2 In-Reply-To fields"),
    ((*GOOD, "References: <a@x>", "References: <b@x>"), "the message has 2 References fields"),
    (("From: ", *GOOD[1:]), "the From field holds no address"),
    (("From: a@example.com, b@example.com", *GOOD[1:]), "lists several authors and there is no Sender"),
]


def message(lines: tuple[str, ...], body: str = "Hello.") -> bytes:
    return ("\r\n".join(lines) + "\r\n\r\n" + body + "\r\n").encode("utf-8")


@pytest.mark.parametrize(("lines", "reason"), REFUSED, ids=[r[1][:40] for r in REFUSED])
def test_smtplib_gets_550_5_6_0_with_the_reason_and_nothing_is_stored(
    relay_factory: Callable[..., RelayThread], lines: tuple[str, ...], reason: str
) -> None:
    relay = relay_factory()
    with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as client:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.sendmail("app@example.com", ["alice@example.net"], message(lines))
        assert refused.value.smtp_code == 550
        text = refused.value.smtp_error.decode()
        assert text.startswith("5.6.0 Error: "), text
        assert reason in text
        # the session goes on: the next, well-formed message is taken
        assert client.sendmail("app@example.com", ["alice@example.net"], message(GOOD)) == {}
    assert list(Message.objects.values_list("message_id", flat=True)) == ["<h1@app.example.com>"]


def test_utf8_header_text_and_one_of_each_field_are_taken(relay_factory: Callable[..., RelayThread]) -> None:
    relay = relay_factory()
    lines = (
        *GOOD[:2],
        "Subject: Grüße aus Köln",
        "Cc: bob@example.net",
        "Reply-To: help@example.com",
        "Sender: ops@example.com",
        "In-Reply-To: <a@x>",
        "References: <a@x>",
        "Date: Mon, 2 Mar 2026 10:00:00 +0000",
        "Message-ID: <h3@app.example.com>",
        "X-Custom : spaced names are refused for every field, this one is not spaced",
    )[:-1]
    with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as client:
        client.ehlo()
        assert client.sendmail("app@example.com", ["alice@example.net"], message(lines)) == {}
    stored = Message.objects.get()
    assert stored.subject == "Grüße aus Köln"


def test_swaks_is_told_why(relay_factory: Callable[..., RelayThread], tmp_path: Path) -> None:
    swaks = command("swaks")
    relay = relay_factory()
    data = tmp_path / "two-froms.eml"
    data.write_bytes(message((*GOOD, "From: Evil <evil@example.net>")))
    done = subprocess.run(
        [swaks, "--server", "127.0.0.1", "--port", str(relay.port), "--from", "app@example.com",
         "--to", "alice@example.net", "--data", str(data), "--timeout", "10"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert re.search(
        r"^<\*\* +550 5\.6\.0 Error: the message has 2 From fields; RFC 5322 3\.6 allows exactly one",
        done.stdout,
        re.MULTILINE,
    ), done.stdout
    assert not Message.objects.exists()
