"""What goes on the wire and comes back: EHLO keywords, MAIL parameters, content
preparation, queue ids. Pure functions, exact bytes."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postwarden.core.smtp.envelope import (
    Capabilities,
    check_addresses,
    mail_parameters,
    parse_ehlo,
    prepare_content,
)
from postwarden.core.smtp.errors import MessageTooLarge, SmtpUtf8Unavailable
from postwarden.core.smtp.queueid import parse_queue_id
from postwarden.core.smtp.reply import Reply
from postwarden.core.smtp.stages import SmtpStage


def _reply(*lines: str) -> Reply:
    return Reply.from_lines(int(lines[0][:3]), list(lines))


def test_it_reads_postfix_ehlo_keywords() -> None:
    reply = _reply("250-mx.example.test", "250-PIPELINING", "250-SIZE 10240000", "250-VRFY", "250-ETRN",
                   "250-STARTTLS", "250-AUTH PLAIN LOGIN", "250-ENHANCEDSTATUSCODES", "250-8BITMIME",
                   "250-DSN", "250-SMTPUTF8", "250 CHUNKING")  # fmt: skip

    assert parse_ehlo(reply) == {
        "PIPELINING": "", "SIZE": "10240000", "VRFY": "", "ETRN": "", "STARTTLS": "", "AUTH": "PLAIN LOGIN",
        "ENHANCEDSTATUSCODES": "", "8BITMIME": "", "DSN": "", "SMTPUTF8": "", "CHUNKING": "",
    }  # fmt: skip


def test_it_merges_the_old_auth_equals_form() -> None:
    reply = _reply(
        "250-outlook.test Hello", "250-AUTH LOGIN XOAUTH2", "250-AUTH=LOGIN PLAIN", "250 SIZE 37748736"
    )

    assert parse_ehlo(reply) == {"AUTH": "LOGIN XOAUTH2 PLAIN", "SIZE": "37748736"}


def test_it_ignores_an_empty_last_line_as_smtp_sink_sends() -> None:
    reply = _reply("250-smtp-sink", "250-PIPELINING", "250-8BITMIME", "250 ")

    assert parse_ehlo(reply) == {"PIPELINING": "", "8BITMIME": ""}


def test_it_upper_cases_keywords_and_keeps_parameters() -> None:
    assert parse_ehlo(_reply("250-x", "250 auth  cram-md5   plain")) == {"AUTH": "cram-md5 plain"}


@pytest.mark.parametrize(("size", "limit"), [("10240000", 10240000), ("0", None), ("", None), ("junk", None)])
def test_it_reads_size_zero_or_blank_as_no_fixed_limit(size: str, limit: int | None) -> None:
    caps = Capabilities.from_extensions({"SIZE": size})

    assert (caps.size, caps.size_limit) == (True, limit)


@pytest.mark.parametrize(
    ("given", "size", "wire"),
    [
        (b"a\r\nb\r\n", 6, b"a\r\nb\r\n.\r\n"),
        (b"a\nb\n", 6, b"a\r\nb\r\n.\r\n"),
        (b"a\rb\r", 6, b"a\r\nb\r\n.\r\n"),
        (b"a\r\nb\nc\rd", 12, b"a\r\nb\r\nc\r\nd\r\n.\r\n"),
        (b"a\r\n\r\nb", 8, b"a\r\n\r\nb\r\n.\r\n"),
        (b".a\r\n..b\r\n.\r\n", 12, b"..a\r\n...b\r\n..\r\n.\r\n"),
        (b"x\n.\n", 6, b"x\r\n..\r\n.\r\n"),
        (b"a\rb\nc", 9, b"a\r\nb\r\nc\r\n.\r\n"),
        (b"a\n\rb", 8, b"a\r\n\r\nb\r\n.\r\n"),
        (b"", 0, b".\r\n"),
        (b"caf\xc3\xa9\n", 7, b"caf\xc3\xa9\r\n.\r\n"),
    ],
)
def test_it_prepares_content_as_rfc_5321_wants_it(given: bytes, size: int, wire: bytes) -> None:
    assert prepare_content(given) == (size, wire)


def test_it_leaves_crlf_content_without_dots_as_it_is() -> None:
    data = b"Subject: x\r\n\r\n" + b"line of text\r\n" * 100

    size, wire = prepare_content(data)

    assert (size, wire) == (len(data), data + b".\r\n")


def test_it_builds_mail_parameters_from_what_the_server_offers() -> None:
    caps = Capabilities(size=True, size_limit=1000, eight_bit_mime=True, smtputf8=True)

    assert mail_parameters(caps, size=999, eight_bit=True, utf8_needed=True, utf8_asked=False) == (
        " SIZE=999 BODY=8BITMIME SMTPUTF8"
    )
    assert mail_parameters(caps, size=999, eight_bit=True, utf8_needed=False, utf8_asked=True) == (
        " SIZE=999 BODY=8BITMIME SMTPUTF8"
    )


def test_it_refuses_utf8_header_text_without_smtputf8_and_says_so() -> None:
    with pytest.raises(SmtpUtf8Unavailable) as caught:
        mail_parameters(Capabilities(), size=999, eight_bit=True, utf8_needed=False, utf8_asked=True)
    assert (caught.value.stage, caught.value.detail) == (
        SmtpStage.MAIL,
        "the message's header fields carry UTF-8 text (RFC 6532) and the server's EHLO does not list "
        "SMTPUTF8",
    )


def test_it_refuses_an_oversized_message_with_the_limit() -> None:
    with pytest.raises(MessageTooLarge) as caught:
        mail_parameters(Capabilities(size=True, size_limit=1000), size=1001, eight_bit=False,
                        utf8_needed=False, utf8_asked=False)  # fmt: skip

    assert (caught.value.stage, caught.value.limit, caught.value.size) == (SmtpStage.MAIL, 1000, 1001)


def test_it_refuses_utf8_addresses_without_smtputf8() -> None:
    with pytest.raises(SmtpUtf8Unavailable):
        mail_parameters(Capabilities(), size=1, eight_bit=False, utf8_needed=True, utf8_asked=False)


def test_it_says_when_addresses_need_smtputf8() -> None:
    assert check_addresses("a@example.test", ["b@example.test"]) is False
    assert check_addresses("a@example.test", ["jörg@example.test"]) is True
    assert check_addresses("", ["b@example.test"]) is False  # the null sender of bounces


@pytest.mark.parametrize(
    ("line", "queue_id"),
    [
        ("250 2.0.0 Ok: queued as 4Vq8Yk3RZkz9rxR", "4Vq8Yk3RZkz9rxR"),  # Postfix
        ("250 Ok: queued as 5Ft7hTApQJWfVbWqB5GmKQ", "5Ft7hTApQJWfVbWqB5GmKQ"),  # SendGrid
        ("250 OK id=1sQv4n-00000000Yxk-2abc", "1sQv4n-00000000Yxk-2abc"),  # Exim
        # Exchange Online
        ("250 2.6.0 <DB9PR01MB1234@DB9PR01MB1234.eurprd01.prod.exchangelabs.com> [InternalId=12345678901234, "
         "Hostname=DB9PR01MB1234.eurprd01.prod.exchangelabs.com] 10450 bytes in 0.140, 72.580 KB/sec "
         "Queued mail for delivery", "DB9PR01MB1234@DB9PR01MB1234.eurprd01.prod.exchangelabs.com"),
        ("250 2.0.0 OK  1714052044 5b1f17b1804b1-41b7e8a1c2dsm123456f8f.12 - gsmtp",
         "5b1f17b1804b1-41b7e8a1c2dsm123456f8f.12"),  # Gmail
        ("250 Ok 0100018f2b5c3d4e-5f6a7b8c-9d0e-1f2a-3b4c-5d6e7f8a9b0c-000000",
         "0100018f2b5c3d4e-5f6a7b8c-9d0e-1f2a-3b4c-5d6e7f8a9b0c-000000"),  # Amazon SES
        ("250 2.0.0 4BH8mA1c012345 Message accepted for delivery", "4BH8mA1c012345"),  # Sendmail
        ("250 Great success", None),  # Mailgun
        ("250 OK", None),  # aiosmtpd
        ("250 2.0.0 Ok", None),  # Postfix smtp-sink
    ],
)  # fmt: skip
def test_it_finds_the_queue_id_where_servers_say_it(line: str, queue_id: str | None) -> None:
    assert parse_queue_id(_reply(line)) == queue_id


@given(st.binary(max_size=300) | st.lists(st.sampled_from([b"\r", b"\n", b".", b"a", b"\r\n"])).map(b"".join))
def test_it_never_lets_a_bare_line_end_or_a_lone_dot_through(data: bytes) -> None:
    size, wire = prepare_content(data)

    assert wire.endswith(b".\r\n")
    body = wire[:-3]
    assert re.search(rb"\r(?!\n)|(?<!\r)\n", body) is None
    lines = body.split(b"\r\n")
    assert not any(line == b"." for line in lines[:-1])
    unstuffed = b"\r\n".join(line[1:] if line.startswith(b".") else line for line in lines)
    assert len(unstuffed) == size
    assert unstuffed.replace(b"\r\n", b"") == re.sub(rb"\r\n|\r|\n", b"", data)
