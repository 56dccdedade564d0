"""SmtpCommand lines and MAIL/RCPT arguments (postwarden.relay.commands)."""

from __future__ import annotations

import pytest

from postwarden.relay import commands
from postwarden.relay.commands import Framing, SmtpCommand


@pytest.mark.parametrize(
    ("line", "parsed"),
    [
        (b"EHLO client.test\r\n", SmtpCommand("EHLO", "client.test")),
        (b"mail FROM:<a@b.test>  \r\n", SmtpCommand("MAIL", "FROM:<a@b.test>")),
        (b"QUIT\r\n", SmtpCommand("QUIT", None)),
        ("RCPT TO:<jürgen@b.test>\r\n".encode(), SmtpCommand("RCPT", "TO:<jürgen@b.test>")),
        (b"MAIL FROM:<a@b.test>\n", Framing(commands.BARE_LF)),
        (b"MAIL FROM:<a@b.test>\rRCPT TO:<c@d.test>\r\n", Framing(commands.BARE_CR)),
        (b"NOOP \x00\r\n", Framing(commands.NUL)),
        (b"\r\n", Framing(commands.BAD_SYNTAX, close=False)),
        ("ÉHLO x\r\n".encode(), Framing(commands.BAD_SYNTAX, close=False)),
        (b"NOOP " + b"x" * 600 + b"\r\n", Framing(commands.TOO_LONG, close=False)),
        (b"GET / HTTP/1.1\r\n", Framing(commands.NOT_SMTP)),
    ],
)
def test_it_reads_a_command_line_strictly(line: bytes, parsed: SmtpCommand | Framing) -> None:
    assert commands.parse_line(line) == parsed


@pytest.mark.parametrize(("verb", "limit"), [("NOOP", 512), ("MAIL", 2048), ("RCPT", 2048), ("AUTH", 12288)])
def test_a_line_of_exactly_the_limit_is_read_and_one_more_byte_is_too_long(verb: str, limit: int) -> None:
    def line(length: int) -> bytes:
        head = f"{verb} ".encode()
        return head + b"x" * (length - len(head) - 2) + b"\r\n"

    assert len(line(limit)) == limit
    assert isinstance(commands.parse_line(line(limit)), SmtpCommand)
    assert commands.parse_line(line(limit + 1)) == Framing(commands.TOO_LONG, close=False)


def test_it_keeps_every_byte_of_an_argument_that_is_not_utf8() -> None:
    parsed = commands.parse_line(b"RCPT TO:<caf\xe9@b.test>\r\n")
    assert parsed == SmtpCommand("RCPT", "TO:<caf\udce9@b.test>")
    assert isinstance(parsed, SmtpCommand)
    assert parsed.arg is not None
    assert parsed.arg.encode("utf-8", "surrogateescape") == b"TO:<caf\xe9@b.test>"


def test_it_allows_long_mail_and_auth_lines_up_to_their_extension_limits() -> None:
    mail = b"MAIL FROM:<a@b.test> " + b"X" * 1500 + b"\r\n"
    assert isinstance(commands.parse_line(mail), SmtpCommand)
    assert commands.parse_line(b"AUTH PLAIN " + b"A" * 12300 + b"\r\n") == Framing(
        commands.TOO_LONG, close=False
    )


@pytest.mark.parametrize(
    ("command", "waits"),
    [
        (SmtpCommand("EHLO", "x"), True),
        (SmtpCommand("DATA", None), True),
        (SmtpCommand("STARTTLS", None), True),
        (SmtpCommand("AUTH", "LOGIN"), True),
        (SmtpCommand("AUTH", "PLAIN"), True),
        (SmtpCommand("AUTH", "PLAIN AGFwcABwdw=="), False),
        (SmtpCommand("MAIL", "FROM:<a@b.test>"), False),
        (SmtpCommand("RCPT", "TO:<a@b.test>"), False),
        (SmtpCommand("RSET", None), False),
    ],
)
def test_it_knows_which_commands_end_a_pipelined_group(command: SmtpCommand, waits: bool) -> None:
    assert commands.must_wait(command) is waits


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("<a@b.test>", ("a@b.test", "")),
        ("<a@b.test> SIZE=100 BODY=8BITMIME", ("a@b.test", "SIZE=100 BODY=8BITMIME")),
        ("<>", ("", "")),
        ("a@b.test SIZE=5", ("a@b.test", "SIZE=5")),
        ("a@b.test SIZE=5 BODY=8BITMIME", ("a@b.test", "SIZE=5 BODY=8BITMIME")),
        ('<"a b"@c.test>', None),
        ('"a b"@c.test', None),
        ("<a@b.test", None),
    ],
)
def test_it_splits_paths_fast_and_leaves_odd_ones_to_the_full_parser(
    text: str, path: tuple[str, str] | None
) -> None:
    assert commands.split_path(text) == path


def test_it_parses_esmtp_parameters() -> None:
    assert commands.parse_params("size=10 SMTPUTF8 body=8BITMIME") == {
        "SIZE": "10",
        "SMTPUTF8": True,
        "BODY": "8BITMIME",
    }
    assert commands.parse_params("SIZE=") is None
    assert commands.parse_params("=5") is None
