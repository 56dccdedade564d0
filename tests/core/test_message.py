"""The composer writes exact, standard bytes: every header checked, nothing injectable,
and everything it writes reads back through the stdlib parser as it was asked."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta, timezone
from email.header import decode_header
from email.message import EmailMessage
from email.parser import BytesParser, Parser
from email.policy import default

import pytest

from postwarden.core.addresses import InvalidAddress
from postwarden.core.config.model import RecipientMode
from postwarden.core.message import Composed, Draft, EnvelopeRecipient, InvalidMessage, compose

DATE = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
MID = "<fixed@example.com>"


def draft(**kw: object) -> Draft:
    values: dict[str, object] = {
        "from_address": "ops@example.com",
        "to": ["alice@example.net"],
        "subject": "Hello",
        "text": "Hi\n",
        "date": DATE,
        "message_id": MID,
    }
    values.update(kw)
    return Draft(**values)  # type: ignore[arg-type]


def parse(composed: Composed) -> EmailMessage:
    # The stdlib's BytesParser reads header bytes as ASCII, so RFC 6532 (UTF-8) headers
    # of an SMTPUTF8 message are parsed from text instead.
    if composed.needs_smtputf8:
        msg = Parser(policy=default).parsestr(composed.raw.decode("utf-8"))
    else:
        msg = BytesParser(policy=default).parsebytes(composed.raw)
    assert isinstance(msg, EmailMessage)
    return msg


def header_lines(raw: bytes, name: str) -> list[bytes]:
    """The physical lines of one top-level field: its first line and continuation lines."""
    out: list[bytes] = []
    current = ""
    for line in raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line[:1] not in (b" ", b"\t"):
            current = line.split(b":", 1)[0].decode().lower()
        if current == name.lower():
            out.append(line)
    return out


def test_it_writes_a_plain_message_byte_for_byte() -> None:
    composed = compose(draft())
    assert composed.raw == (
        b"Date: Tue, 04 Mar 2025 05:06:07 +0000\r\n"
        b"From: ops@example.com\r\n"
        b"To: alice@example.net\r\n"
        b"Subject: Hello\r\n"
        b"Message-ID: <fixed@example.com>\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: text/plain; charset="utf-8"\r\n'
        b"Content-Transfer-Encoding: 7bit\r\n"
        b"\r\n"
        b"Hi\r\n"
    )
    assert composed.size == len(composed.raw)
    assert composed.envelope_from == "ops@example.com"
    assert composed.recipients == (EnvelopeRecipient("alice@example.net", "to"),)
    assert composed.needs_smtputf8 is False
    assert composed.message_id == MID


@pytest.mark.parametrize(
    ("from_address", "from_name", "line", "name"),
    [
        ("ops@example.com", "Ops", b"From: Ops <ops@example.com>", "Ops"),
        # mission-anchors E8: a ":" in the From name must be quoted, not break the header
        ("ops@example.com", "Ops: Team", b'From: "Ops: Team" <ops@example.com>', "Ops: Team"),
        ("ops@example.com", "Doe, Jane", b'From: "Doe, Jane" <ops@example.com>', "Doe, Jane"),
        (
            "ops@example.com",
            'Say "hi" \\o/',
            b'From: "Say \\"hi\\" \\\\o/" <ops@example.com>',
            'Say "hi" \\o/',
        ),
        ("ops@example.com", "a@b", b'From: "a@b" <ops@example.com>', "a@b"),
        # RFC 2047: Q or B, whichever is shorter
        ("ops@example.com", "Grüße", b"From: =?utf-8?b?R3LDvMOfZQ==?= <ops@example.com>", "Grüße"),
        (
            "ops@example.com",
            "Grüße an das Team",
            b"From: =?utf-8?q?Gr=C3=BC=C3=9Fe_an_das_Team?= <ops@example.com>",
            "Grüße an das Team",
        ),
        (
            "ops@example.com",
            "=?utf-8?q?x?=",
            b"From: =?utf-8?b?PT91dGYtOD9xP3g/PQ==?= <ops@example.com>",
            "=?utf-8?q?x?=",
        ),
        # E7: "Metabase <bi@x>" given as the From *address*
        ("Metabase <bi@example.com>", None, b"From: Metabase <bi@example.com>", "Metabase"),
        ("Metabase <bi@example.com>", "Reports", b"From: Reports <bi@example.com>", "Reports"),
        ("ops@bücher.de", None, b"From: ops@xn--bcher-kva.de", ""),
    ],
)
def test_it_writes_the_from_name_so_that_it_reads_back(
    from_address: str, from_name: str | None, line: bytes, name: str
) -> None:
    composed = compose(draft(from_address=from_address, from_name=from_name))
    assert header_lines(composed.raw, "From") == [line]
    assert parse(composed)["From"].addresses[0].display_name == name


def test_it_folds_a_utf8_subject_into_encoded_words_that_read_back() -> None:
    subject = "Grüße aus Köln — der Wochenbericht ist fertig, mit 42 neuen Einträgen und 3 Warnungen"
    composed = compose(draft(subject=subject))
    lines = header_lines(composed.raw, "Subject")
    assert lines == [
        b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln_=E2=80=94_der_Wochenberic?=",
        b" =?utf-8?q?ht_ist_fertig=2C_mit_42_neuen_Eintr=C3=A4gen_und_3_Warnungen?=",
    ]
    # RFC 2047 2: lines with encoded words at most 76 characters, words at most 75
    assert all(len(line) <= 76 for line in lines)
    assert parse(composed)["Subject"] == subject


def test_it_folds_a_long_ascii_subject_at_its_spaces() -> None:
    subject = " ".join(f"word{i}" for i in range(40))
    composed = compose(draft(subject=subject))
    lines = header_lines(composed.raw, "Subject")
    assert len(lines) == 4
    assert all(len(line) <= 78 for line in lines)
    assert b"=?" not in b"".join(lines)
    assert parse(composed)["Subject"] == subject


@pytest.mark.parametrize("subject", ["  padded  ", "two  spaces", "tab\there", "=?utf-8?q?abc?=", "x" * 1200])
def test_it_encodes_subjects_a_parser_would_not_give_back_literally(subject: str) -> None:
    composed = compose(draft(subject=subject))
    assert all(len(line) <= 998 for line in composed.raw.split(b"\r\n"))
    assert parse(composed)["Subject"] == subject


def test_it_writes_an_idn_domain_in_idna_in_headers() -> None:
    composed = compose(draft(from_address="Bücher <info@bücher.de>", to=["kunde@münchen.de"]))
    assert header_lines(composed.raw, "From") == [b"From: =?utf-8?q?B=C3=BCcher?= <info@xn--bcher-kva.de>"]
    assert header_lines(composed.raw, "To") == [b"To: kunde@xn--mnchen-3ya.de"]
    assert composed.envelope_from == "info@xn--bcher-kva.de"
    assert composed.needs_smtputf8 is False
    assert re.fullmatch(rb"Message-ID: <fixed@example\.com>", header_lines(composed.raw, "Message-ID")[0])


def test_it_writes_a_non_ascii_local_part_raw_and_asks_for_smtputf8() -> None:
    composed = compose(draft(to=["José@bücher.de"]))
    assert header_lines(composed.raw, "To") == ["To: José@bücher.de".encode()]
    assert composed.needs_smtputf8 is True
    assert composed.recipients == (EnvelopeRecipient("José@bücher.de", "to"),)
    assert parse(composed)["To"].addresses[0].addr_spec == "José@bücher.de"


def test_it_hides_several_to_recipients_from_each_other_in_bcc_mode() -> None:
    composed = compose(draft(to=["a@example.net", "b@example.net"], bcc=["c@example.net"]))
    assert header_lines(composed.raw, "To") == [b"To: undisclosed-recipients:;"]
    assert b"a@example.net" not in composed.raw
    assert b"c@example.net" not in composed.raw
    assert b"\r\nBcc:" not in composed.raw
    assert composed.recipients == (
        EnvelopeRecipient("a@example.net", "bcc"),
        EnvelopeRecipient("b@example.net", "bcc"),
        EnvelopeRecipient("c@example.net", "bcc"),
    )
    assert parse(composed)["To"].groups[0].display_name == "undisclosed-recipients"


def test_it_shows_a_single_to_recipient_in_bcc_mode() -> None:
    composed = compose(draft(to=["Alice <a@example.net>"], bcc=["c@example.net"]))
    assert header_lines(composed.raw, "To") == [b"To: Alice <a@example.net>"]
    assert b"c@example.net" not in composed.raw
    assert composed.recipients == (
        EnvelopeRecipient("a@example.net", "to"),
        EnvelopeRecipient("c@example.net", "bcc"),
    )


def test_it_lists_everyone_in_cc_mode_except_bcc() -> None:
    composed = compose(
        draft(
            to=["Alice <a@example.net>", '"Doe, Bob" <b@example.net>'],
            cc=["c@example.net"],
            bcc=["d@example.net"],
            recipient_mode=RecipientMode.CC,
        )
    )
    assert header_lines(composed.raw, "To") == [b'To: Alice <a@example.net>, "Doe, Bob" <b@example.net>']
    assert header_lines(composed.raw, "Cc") == [b"Cc: c@example.net"]
    assert b"d@example.net" not in composed.raw
    assert [r.kind for r in composed.recipients] == ["to", "to", "cc", "bcc"]


def test_it_folds_a_long_recipient_list_between_addresses() -> None:
    to = [f"User Number {i} <user{i}@example.net>" for i in range(12)]
    composed = compose(draft(to=to, recipient_mode=RecipientMode.CC))
    lines = header_lines(composed.raw, "To")
    assert len(lines) > 3
    assert all(len(line) <= 78 for line in lines)
    assert [a.addr_spec for a in parse(composed)["To"].addresses] == [
        f"user{i}@example.net" for i in range(12)
    ]


def test_it_sends_once_to_an_address_given_twice() -> None:
    composed = compose(
        draft(to=["a@example.net"], cc=["a@example.net"], bcc=["a@example.net", "A@example.net"])
    )
    assert composed.recipients == (
        EnvelopeRecipient("a@example.net", "to"),
        EnvelopeRecipient("A@example.net", "bcc"),
    )


def test_it_accepts_a_comma_separated_string_for_a_recipient_field() -> None:
    composed = compose(draft(to="a@example.net, Bee <b@example.net>", recipient_mode=RecipientMode.CC))
    assert [r.address for r in composed.recipients] == ["a@example.net", "b@example.net"]


def test_it_writes_reply_to() -> None:
    composed = compose(draft(reply_to=["Support Desk <help@example.com>", "x@example.com"]))
    assert header_lines(composed.raw, "Reply-To") == [
        b"Reply-To: Support Desk <help@example.com>, x@example.com"
    ]
    assert "help@example.com" not in [r.address for r in composed.recipients]


def test_it_keeps_the_date_zone_and_reads_back_the_same_instant() -> None:
    when = datetime(2025, 12, 31, 23, 59, 58, tzinfo=timezone(timedelta(hours=-3, minutes=-30)))
    composed = compose(draft(date=when))
    assert header_lines(composed.raw, "Date") == [b"Date: Wed, 31 Dec 2025 23:59:58 -0330"]
    assert parse(composed)["Date"].datetime == when


def test_it_dates_an_undated_message_now_in_utc() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    composed = compose(draft(date=None))
    after = datetime.now(UTC)
    stamped = parse(composed)["Date"].datetime
    assert stamped.utcoffset() == timedelta(0)
    assert before <= stamped <= after


def test_it_generates_a_random_message_id_at_the_from_domain() -> None:
    """The time to the second (eight hex digits: ids sort by creation in their index), then
    16 random bytes, at the From domain in its ASCII form."""
    before = int(time.time())
    first = compose(draft(message_id=None, from_address="ops@bücher.de"))
    second = compose(draft(message_id=None, from_address="ops@bücher.de"))
    after = int(time.time())
    found = re.fullmatch(r"<([0-9a-f]{8})[0-9a-f]{32}@xn--bcher-kva\.de>", first.message_id)
    assert found is not None, first.message_id
    assert before <= int(found.group(1), 16) <= after
    assert first.message_id != second.message_id
    assert header_lines(first.raw, "Message-ID") == [f"Message-ID: {first.message_id}".encode()]


@pytest.mark.parametrize(("given", "stored"), [("abc.1@example.com", "<abc.1@example.com>"), (MID, MID)])
def test_it_keeps_a_given_message_id(given: str, stored: str) -> None:
    composed = compose(draft(message_id=given))
    assert composed.message_id == stored
    assert parse(composed)["Message-ID"] == stored


def test_it_makes_the_same_bytes_every_time_for_the_same_draft() -> None:
    assert (
        compose(draft(html="<p>x</p>")).raw.split(b"boundary=")[0]
        == compose(draft(html="<p>x</p>")).raw.split(b"boundary=")[0]
    )


def test_it_writes_html_only_as_text_html() -> None:
    composed = compose(draft(text=None, html="<p>Hi</p>"))
    msg = parse(composed)
    assert msg.get_content_type() == "text/html"
    assert msg.get_content() == "<p>Hi</p>\r\n"


def test_it_writes_text_and_html_as_multipart_alternative() -> None:
    composed = compose(draft(text="Plain\n", html="<p>Grüße</p>"))
    msg = parse(composed)
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert [p["Content-Transfer-Encoding"] for p in parts] == ["7bit", "quoted-printable"]
    assert [p.get_content() for p in parts] == ["Plain\r\n", "<p>Grüße</p>\r\n"]
    assert msg.defects == []


def test_it_sends_an_empty_text_body_when_none_is_given() -> None:
    msg = parse(compose(draft(text=None)))
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content() == "\r\n"


@pytest.mark.parametrize(
    ("text", "cte"),
    [
        ("plain ascii\n", "7bit"),
        ("x" * 998, "7bit"),
        ("x" * 999, "quoted-printable"),
        ("nul\x00inside", "quoted-printable"),
        ("naïve", "quoted-printable"),
    ],
)
def test_it_chooses_7bit_only_for_short_ascii_lines(text: str, cte: str) -> None:
    composed = compose(draft(text=text))
    msg = parse(composed)
    assert msg["Content-Transfer-Encoding"] == cte
    assert msg.get_content().replace("\r\n", "\n") == text.removesuffix("\n") + "\n"
    assert max(len(line) for line in composed.raw.split(b"\r\n")) <= 998


def test_it_turns_every_kind_of_line_end_into_crlf() -> None:
    composed = compose(draft(text="a\rb\nc\r\nd"))
    body = composed.raw.split(b"\r\n\r\n", 1)[1]
    assert body == b"a\r\nb\r\nc\r\nd\r\n"


def test_it_encodes_custom_headers_and_leaves_structured_ascii_alone() -> None:
    headers = {
        "List-Unsubscribe": "<https://app.example.com/u/1>, <mailto:unsub@example.com>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "X-Team": "Équipe Ops",
        "X-Empty": "",
    }
    composed = compose(draft(headers=headers))
    assert header_lines(composed.raw, "List-Unsubscribe") == [
        b"List-Unsubscribe: <https://app.example.com/u/1>, <mailto:unsub@example.com>"
    ]
    assert header_lines(composed.raw, "X-Team") == [b"X-Team: =?utf-8?q?=C3=89quipe_Ops?="]
    assert header_lines(composed.raw, "X-Empty") == [b"X-Empty:"]
    msg = parse(composed)
    assert {name: msg[name] for name in headers} == headers


INJECTIONS = ["x\r\nBcc: victim@example.net", "x\nX-Evil: 1", "x\rX-Evil: 1", "x\x00y"]


@pytest.mark.parametrize("evil", INJECTIONS)
@pytest.mark.parametrize(
    ("field", "make", "error"),
    [
        ("from_address", lambda v: {"from_address": f"ops@example.com{v}"}, InvalidAddress),
        ("from_name", lambda v: {"from_name": v}, InvalidMessage),
        ("to", lambda v: {"to": [f"a@example.net{v}"]}, InvalidAddress),
        ("cc", lambda v: {"cc": [f"Name{v} <c@example.net>"]}, InvalidAddress),
        ("bcc", lambda v: {"bcc": [f"b@example.net{v}"]}, InvalidAddress),
        ("reply_to", lambda v: {"reply_to": [f"r@example.net{v}"]}, InvalidAddress),
        ("subject", lambda v: {"subject": v}, InvalidMessage),
        ("header 'X-Tag'", lambda v: {"headers": {"X-Tag": v}}, InvalidMessage),
        ("header name", lambda v: {"headers": {f"X-Tag{v}": "1"}}, InvalidMessage),
        ("message_id", lambda v: {"message_id": f"<a@b{v}>"}, InvalidMessage),
    ],
)
def test_it_refuses_a_line_break_or_nul_in_every_field(
    field: str, make: object, error: type[Exception], evil: str
) -> None:
    with pytest.raises(error) as info:
        compose(draft(**make(evil)))  # type: ignore[operator]
    assert str(info.value).startswith(field)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("From", "use from_address / from_name"),
        ("to", "use to"),
        ("CC", "use cc"),
        ("Bcc", "use bcc (Bcc is never written into a message)"),
        ("Reply-To", "use reply_to"),
        ("Subject", "use subject"),
        ("Message-Id", "use message_id"),
        ("Date", "use date"),
        ("MIME-Version", "the composer writes it"),
        ("Content-Type", "the composer writes the MIME fields"),
        ("content-transfer-encoding", "the composer writes the MIME fields"),
        ("Resent-From", "resent fields are not supported"),
        ("Return-Path", "the receiving server adds it from MAIL FROM (RFC 5321 4.4)"),
        ("Sender", "Postwarden sends as from_address"),
    ],
)
def test_it_refuses_structural_headers_in_headers(name: str, reason: str) -> None:
    with pytest.raises(InvalidMessage) as info:
        compose(draft(headers={name: "x"}))
    assert str(info.value) == f"header {name!r} cannot be set through headers: {reason}"


@pytest.mark.parametrize("name", ["X Tag", "X:Tag", "", "Über", "X\tTag", "X" * 77])
def test_it_refuses_header_names_outside_rfc5322_ftext(name: str) -> None:
    with pytest.raises(InvalidMessage) as info:
        compose(draft(headers={name: "x"}))
    assert str(info.value).startswith(f"header name {name!r} is not allowed")


def test_it_refuses_a_header_given_twice_in_different_case() -> None:
    with pytest.raises(InvalidMessage) as info:
        compose(draft(headers={"X-Tag": "1", "x-tag": "2"}))
    assert str(info.value) == "header 'x-tag' is given twice (header names ignore case)"


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"to": [], "cc": [], "bcc": []}, "the message has no recipients: give at least one of to, cc, bcc"),
        (
            {"date": datetime(2025, 1, 1)},  # naive on purpose
            "date must be timezone-aware (give tzinfo, e.g. datetime.now(UTC))",
        ),
        ({"message_id": "no-at-sign"}, "message_id 'no-at-sign' is not a Message-ID: expected <left@right>"),
        ({"message_id": "<a@b"}, "message_id '<a@b' is not a Message-ID: expected <left@right>"),
        ({"message_id": "x" * 901 + "@b"}, "message_id is 903 characters long; at most 900 fit"),
        ({"subject": "bad \ud800"}, "subject is not valid Unicode (it has a lone surrogate)"),
        ({"text": "bad \udfff"}, "text is not valid Unicode (it has a lone surrogate)"),
        ({"html": "bad \udfff"}, "html is not valid Unicode (it has a lone surrogate)"),
        ({"from_name": "bad \udfff"}, "from_name is not valid Unicode (it has a lone surrogate)"),
    ],
)
def test_it_explains_what_is_wrong_with_a_draft(kw: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidMessage) as info:
        compose(draft(**kw))
    assert str(info.value).startswith(message)


def test_it_names_the_field_and_item_of_a_bad_address() -> None:
    with pytest.raises(InvalidAddress) as info:
        compose(draft(cc=["ok@example.net", "not-an-address"]))
    assert str(info.value).startswith("cc: item 2: 'not-an-address' is not a valid email address")


def test_it_writes_only_crlf_line_ends_and_ends_with_one() -> None:
    raw = compose(draft(text="a\nb\r", html="<p>\r\nx</p>", subject="Ünï " * 40)).raw
    assert raw.endswith(b"\r\n")
    assert b"\r" not in raw.replace(b"\r\n", b"")
    assert b"\n" not in raw.replace(b"\r\n", b"")


def test_it_keeps_a_long_encoded_name_within_76_columns() -> None:
    name = "Société Générale — Équipe Opérations Numériques"
    composed = compose(draft(from_name=name))
    lines = header_lines(composed.raw, "From")
    assert len(lines) == 2
    assert all(len(line) <= 76 for line in lines)
    assert lines[-1].endswith(b"?= <ops@example.com>")
    # RFC 2047 6.2: the blanks between adjacent encoded words are not part of the name
    # (decode_header follows it; the modern parser of Python 3.11 does not, gh-128110)
    words = b"".join(lines).removeprefix(b"From:").removesuffix(b" <ops@example.com>").decode()
    assert "".join(part.decode(charset or "ascii") for part, charset in decode_header(words)) == name


def test_it_handles_a_huge_hostile_header_value() -> None:
    # "=?" with no "?=" after it, 20,000 times: a backtracking regex would take minutes
    value = "=?a" * 20_000
    msg = parse(compose(draft(subject=value, headers={"X-Note": value})))
    assert (msg["Subject"], msg["X-Note"]) == (value, value)
