"""The relay's header scan reads the fields it needs exactly as email.parser (compat32)
and email.utils.getaddresses read them, leaves UTF-8 blocks to them, and refuses
(Malformed) exactly the blocks RFC 5322 forbids, as an independent reading says."""

from __future__ import annotations

import email.parser
import email.policy
import email.utils
import re
from datetime import UTC, datetime

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from postwarden.outbox import raw_headers
from postwarden.outbox import raw_message as raw_module
from postwarden.outbox.errors import Refused
from postwarden.outbox.raw_message import prepare_raw

NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
RCPTS = ["ann@example.net", "bob@example.org", "cy@example.com"]

# ------------------------------------------------------------------ reference


def parsed_fields(head: bytes) -> dict[str, list[str]]:
    """What the stdlib's parser gives for the wanted fields (the oracle). Header text is
    UTF-8 (RFC 6532; a block that isn't is refused): parsed as text, as prepare_raw reads
    it, where parsing the bytes would give surrogate escapes for every non-ASCII byte."""
    message = email.parser.HeaderParser(policy=email.policy.compat32).parsestr(head.decode("utf-8") + "\r\n")
    wanted = (n.decode() for n in raw_headers.WANTED)
    return {name: [str(v) for v in message.get_all(name, [])] for name in wanted if message.get_all(name)}


ONCE_ONLY = ("from", "sender", "reply-to", "to", "cc", "bcc", "subject", "date", "message-id")
ONCE_ONLY += ("in-reply-to", "references")


def malformed(head: bytes) -> bool:
    """The oracle for refusal, read another way: line by line with a regex for the field
    shape (RFC 5322 2.2), the stdlib parser to count the once-only fields (3.6)."""
    lines = head.split(b"\r\n")[:-1]
    if any(b"\r" in line or b"\n" in line for line in lines):
        return True
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return True
    if lines and lines[0][:1] in (b" ", b"\t"):
        return True
    if any(not re.match(rb"[ \t]|[!-9;-~]+:", line) for line in lines):
        return True
    message = email.parser.HeaderParser(policy=email.policy.compat32).parsestr(text + "\r\n")
    counts = {name: len(message.get_all(name, [])) for name in ONCE_ONLY}
    return counts["from"] != 1 or any(count > 1 for count in counts.values())


def listed(values: list[str]) -> list[str]:
    return [a.lower() for _, a in email.utils.getaddresses(values) if a]


def first_address(value: str) -> str:
    found = email.utils.getaddresses([value])
    return found[0][1] if found and found[0][1] else ""


# ------------------------------------------------------------------ strategies

atom = st.text("abcXYZ019!#$%&'*+/=?^_`{|}~-", min_size=1, max_size=6)
addr = st.builds(
    lambda local, host: f"{local}@{host}",
    atom.filter(lambda a: "." not in a),
    st.sampled_from(["example.net", "b.c", "x-y.org"]),
)
plain_element = st.one_of(
    addr,
    st.builds(
        lambda n, a, s: f"{n}{s}<{a}>",
        st.lists(atom, min_size=1, max_size=3).map(" ".join),
        addr,
        st.sampled_from(["", " ", "\t"]),
    ),
    st.builds(lambda a: f"<{a}>", addr),
)
plain_list = st.lists(plain_element, min_size=1, max_size=4).map(", ".join)
junk = st.text('ab@.<>,"()\\:;[] \t=?é\r\n', max_size=20)
any_list = st.one_of(plain_list, junk, st.builds(lambda a, b: a + b, plain_list, junk))

field_line = st.one_of(
    st.builds(lambda v: f"To: {v}", any_list),
    st.builds(lambda v: f"Cc: {v}", any_list),
    st.builds(lambda v: f"From: {v}", any_list),
    st.builds(lambda v: f"Bcc: {v}", any_list),
    st.sampled_from(
        [
            "Subject: hello",
            "Subject:   spaced out  ",
            "Subject:",
            "Subject: =?utf-8?q?caf=C3=A9?= and =?iso-8859-1?b?Y2Fm6Q==?=",
            " folded continuation",
            "\tcontinued with a tab",
            "   ",
            "Message-ID: <abc@example.com>",
            "message-id:<lower@example.com>",
            "Message-ID:",
            "Date: Sat, 21 Nov 2026 05:00:00 +0000",
            "DATE: ",
            "X-Mailer: smtp-source",
            "From nobody Sun Nov 22 06:00:00 2026",
            ": no name",
            "no colon here",
            "Subject : space before the colon",
            "Subject: caf\xe9 in latin-1",
            "Subject: stray\rcarriage return",
            "To: \u00e9l\u00e8ve@example.net",
        ]
    ),
)
head_lines = st.lists(field_line, max_size=8)


def encode(line: str) -> bytes:
    return line.encode("utf-8") if "\u00e8" in line else line.encode("latin-1")


# ------------------------------------------------------------------ address lists


@given(any_list)
@settings(max_examples=200, deadline=None)
@example("Name <a@b.c>, x@y.z")
@example('"quoted" <a@b.c>')
@example("(comment) a@b.c")
@example("group: a@b.c;")
@example("a@[127.0.0.1]")
@example("a..b@c.d")
@example("a@b.c,\r\n d@e.f,\r\n\tName <g@h.i>")
@example("Name\r\n <a@b.c>")
@example("a@b.c\r\n")
@example("a@\r\n b.c")
def test_it_reads_a_plain_list_as_getaddresses_does_and_no_other(value: str) -> None:
    simple = raw_headers.simple_addresses(value)
    if simple is not None:
        assert simple == [a for _, a in email.utils.getaddresses([value])]
        assert all(simple)


@given(plain_list)
@settings(max_examples=200, deadline=None)
def test_it_takes_the_fast_path_for_every_plain_list(value: str) -> None:
    assert raw_headers.simple_addresses(value) == [a for _, a in email.utils.getaddresses([value])]


# ------------------------------------------------------------------ header blocks


@given(head_lines)
@settings(max_examples=200, deadline=None)
@example(["Subject: one", " two", "\tthree"])
@example(["From: a@b.c", "From: second@b.c"])
@example([" first line folded", "Subject: x"])
@example(["From nobody Sun Nov 22 06:00:00 2026", "Subject: mbox"])
def test_it_scans_what_the_parser_reads_or_refuses(lines: list[str]) -> None:
    head = b"".join(encode(line) + b"\r\n" for line in lines)
    if malformed(head):
        with pytest.raises(raw_headers.MalformedHeaders):
            raw_headers.scan(head)
        return
    scanned = raw_headers.scan(head)
    if head.isascii():
        assert scanned == parsed_fields(head)
    else:
        assert scanned is None


@given(st.lists(field_line, max_size=8), st.integers(min_value=0, max_value=8))
@settings(max_examples=200, deadline=None)
def test_it_answers_every_well_formed_ascii_block_itself(lines: list[str], at: int) -> None:
    """The fast path is taken (not left to the parser) for every ASCII block it accepts."""
    lines = [line for line in lines if not line.lower().startswith("from")]
    lines.insert(min(at, len(lines)), "From: A <a@example.com>")
    head = b"".join(encode(line) + b"\r\n" for line in lines)
    if head.isascii() and not malformed(head):
        assert raw_headers.scan(head) == parsed_fields(head)


@given(head_lines, st.sampled_from([b"", b"body\r\n", b"\r\n.leading dot\r\n"]))
@settings(max_examples=200, deadline=None)
@example(["Subject: folded", "  on two lines", "To: ann@example.net", "From: A <x@example.com>"], b"")
@example(["From: first@example.com", "From: second@example.com", "Cc: Bob <BOB@example.org>"], b"hi\r\n")
@example(["From: first@example.com", "Cc: Bob <BOB@example.org>"], b"hi\r\n")
@example(["Subject: =?utf-8?q?caf=C3=A9?=", "Bcc: cy@example.com", " (folded bcc)"], b"hi\r\n")
@example(["From: a@b.c", "Subject: =?utf-8?q?caf=C3=A9?=", "Bcc: cy@example.com", " (folded bcc)"], b"hi\r\n")
def test_it_prepares_a_message_as_the_parser_would(lines: list[str], body: bytes) -> None:
    head = b"".join(encode(line) + b"\r\n" for line in lines)
    raw = head + b"\r\n" + body if body else head
    cut = raw_module._split(raw_module._crlf(raw))[0]
    if malformed(cut):
        with pytest.raises(Refused) as refused:
            prepare_raw(raw, "sender@example.com", RCPTS, now=NOW)
        assert refused.value.field == "headers"
        return
    authors = listed(parsed_fields(cut).get("from", [""]))
    if not authors or (len(authors) > 1 and "Sender:" not in cut.decode("utf-8")):
        # RFC 5322 3.6.2: From names at least one author, and a Sender when several
        with pytest.raises(Refused, match="From field"):
            prepare_raw(raw, "sender@example.com", RCPTS, now=NOW)
        return
    prepared = prepare_raw(raw, "sender@example.com", RCPTS, now=NOW)
    # the oracle reads the head as prepare_raw cut it (line ends made CRLF)
    expected = parsed_fields(cut)
    to, cc = listed(expected.get("to", [])), listed(expected.get("cc", []))
    assert (prepared.to, prepared.cc) == (tuple(to), tuple(cc))
    assert prepared.from_address == first_address(expected.get("from", [""])[0])
    assert prepared.subject == expected.get("subject", [""])[0]
    kinds = {r: "to" if r in to else "cc" if r in cc else "bcc" for r in RCPTS}
    assert dict(prepared.recipients) == kinds
    message_id = expected.get("message-id", [""])[0].strip()
    assert prepared.message_id == message_id or (not message_id and prepared.raw.startswith(b"Message-ID: <"))
    date_added = not expected.get("date", [""])[0]
    assert (b"Date: Sun, 22 Nov 2026 06:00:00 +0000\r\n" in prepared.raw) == date_added


def test_it_keeps_the_bytes_and_folds_and_drops_only_bcc() -> None:
    raw = (
        b"Message-ID: <kept@example.com>\r\nDate: Sun, 22 Nov 2026 06:00:00 +0000\r\n"
        b"From: App <app@example.com>\r\nTo: Ann <ann@example.net>\r\nBcc: bob@example.org,\r\n"
        b" cy@example.com\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n  folded\r\n\r\nbody\r\n"
    )
    prepared = prepare_raw(raw, "app@example.com", RCPTS, now=NOW)
    assert prepared.raw == raw.replace(b"Bcc: bob@example.org,\r\n cy@example.com\r\n", b"")
    assert prepared.subject == "=?utf-8?q?caf=C3=A9?=\r\n  folded"
    assert (prepared.message_id, prepared.from_address, prepared.to) == (
        "<kept@example.com>",
        "app@example.com",
        ("ann@example.net",),
    )
    assert dict(prepared.recipients) == {
        "ann@example.net": "to",
        "bob@example.org": "bcc",
        "cy@example.com": "bcc",
    }


def test_it_reads_a_message_without_body_or_blank_line() -> None:
    prepared = prepare_raw(
        b"From: a@example.com\r\nTo: ann@example.net\r\nSubject: only headers",
        "a@example.com",
        RCPTS[:1],
        now=NOW,
    )
    assert prepared.subject == "only headers"
    assert prepared.raw.endswith(b"To: ann@example.net\r\nSubject: only headers\r\n\r\n")
    assert prepared.recipients == (("ann@example.net", "to"),)
