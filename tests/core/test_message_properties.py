"""Property: for any draft, compose either refuses it with InvalidMessage/InvalidAddress,
or the stdlib parser reads back exactly what was asked, and no header appears that was
not asked for (the injection property)."""

from __future__ import annotations

import os
import re
from collections import Counter
from email.header import decode_header
from email.message import EmailMessage
from email.parser import BytesParser, Parser
from email.policy import default

from hypothesis import event, given, settings
from hypothesis import strategies as st

from postwarden.core.addresses import InvalidAddress, clean_display_name, parse_address
from postwarden.core.config.model import RecipientMode
from postwarden.core.message import Composed, Draft, InvalidMessage, compose

#: examples per run; PW_HYPOTHESIS_EXAMPLES raises it for a longer hunt
EXAMPLES = int(os.environ.get("PW_HYPOTHESIS_EXAMPLES", "1500"))

#: line breaks and NUL are rare, so most drafts get far enough to be composed
SAFE_TEXT = st.characters(blacklist_characters="\r\n\x00", blacklist_categories=["Cs"])
ANY_TEXT = st.characters()


def mostly(good: st.SearchStrategy[str], bad: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """``good`` seven times in eight, so that most drafts get far enough to be composed."""
    # (one_of would merge repeated branches, so the weight comes from a die)
    return st.integers(0, 7).flatmap(lambda roll: bad if roll == 7 else good)


def texts(max_size: int) -> st.SearchStrategy[str]:
    """Text without line breaks, and sometimes anything at all (breaks, NUL, surrogates)."""
    return mostly(st.text(SAFE_TEXT, max_size=max_size), st.text(ANY_TEXT, max_size=max_size))


LOCALS = mostly(
    st.one_of(
        st.sampled_from(["ops", "a.b", "x+tag", "O'Neil", "josé", "用户", "ü"]),
        st.text(alphabet="abcXYZ09!#$%&'*+/=?^_`{|}~-é", min_size=1, max_size=12),
    ),
    # broken: dots in the wrong place, blanks, line breaks, NUL
    st.text(alphabet="ab.\r\n\x00 ", min_size=1, max_size=4),
)
DOMAINS = st.sampled_from(
    ["example.com", "Example.NET", "bücher.de", "xn--mnchen-3ya.de", "例え.jp", "mailhub"]
)
NAMES = texts(30)
FIELD_NAMES = mostly(
    st.one_of(
        st.sampled_from(["X-Tag", "List-Unsubscribe", "List-Id", "X-Mailer", "Auto-Submitted"]),
        st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=12),
    ),
    st.one_of(st.sampled_from(["subject", "X:Y", "Content-Type", "X Y"]), st.text(max_size=6)),
)


@st.composite
def address_items(draw: st.DrawFn) -> str:
    spec = f"{draw(LOCALS)}@{draw(DOMAINS)}"
    style = draw(st.sampled_from(["bare", "quoted", "plain"]))
    if style == "bare":
        return spec
    name = draw(NAMES)
    if style == "quoted":
        return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + f'" <{spec}>'
    plain = name.replace("<", "").replace('"', "")
    return f"{plain} <{spec}>"


ADDRESS_LISTS = st.lists(address_items(), max_size=2)

DRAFTS = st.builds(
    Draft,
    from_address=address_items(),
    from_name=st.none() | NAMES,
    to=ADDRESS_LISTS,
    cc=ADDRESS_LISTS,
    bcc=ADDRESS_LISTS,
    reply_to=st.lists(address_items(), max_size=2),
    subject=texts(120),
    text=st.none() | texts(300),
    html=st.none() | texts(300),
    headers=st.dictionaries(FIELD_NAMES, texts(100), max_size=3),
    recipient_mode=st.sampled_from(RecipientMode),
    message_id=st.none() | st.sampled_from(["<a.b@example.com>", "id@host", "bad id"]),
)


def parse(composed: Composed) -> EmailMessage:
    if composed.needs_smtputf8:  # RFC 6532 headers: the BytesParser reads only ASCII headers
        msg = Parser(policy=default).parsestr(composed.raw.decode("utf-8"))
    else:
        msg = BytesParser(policy=default).parsebytes(composed.raw)
    assert isinstance(msg, EmailMessage)
    return msg


def expected_pairs(items: list[str]) -> list[tuple[str, str]]:
    return [(a.display_name, a.addr_spec) for a in (parse_address(i) for i in items if i.strip())]


def check_pairs(msg: EmailMessage, name: str, expected: list[tuple[str, str]]) -> None:
    """The field reads back as ``expected`` (display name, addr-spec) pairs.

    Python 3.11's modern parser keeps the blank between two adjacent encoded words of a
    display name (CPython gh-128110, fixed later), which RFC 2047 6.2 says to drop. Where
    it disagrees, the legacy ``decode_header`` (which follows 6.2) must find the name.
    """
    header = msg[name]
    got = [(a.display_name, a.addr_spec) for a in header.addresses] if header is not None else []
    assert [spec for _, spec in got] == [spec for _, spec in expected]
    for (got_name, _), (want_name, _) in zip(got, expected, strict=True):
        if got_name != want_name:
            event("display name checked with decode_header (gh-128110)")
            assert got_name.replace(" ", "") == want_name.replace(" ", "")
            assert want_name in rfc2047_read(raw_field(msg, name))


def raw_field(msg: EmailMessage, name: str) -> str:
    """The field's value as written (before the modern parser decoded it), unfolded."""
    raw = msg.raw_items()
    value = next(v for k, v in raw if k.lower() == name.lower())
    return re.sub(r"\r?\n([ \t])", r"\1", value)


def rfc2047_read(value: str) -> str:
    # decode_header hands back unencoded stretches as raw-unicode-escape bytes
    return "".join(part.decode(charset or "raw-unicode-escape") for part, charset in decode_header(value))


def field_names(raw: bytes) -> list[str]:
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    return [line.split(b":", 1)[0].decode().lower() for line in head if line[:1] not in (b" ", b"\t")]


@settings(max_examples=EXAMPLES, deadline=None)
@given(DRAFTS)
def test_it_reads_back_what_was_asked_and_nothing_else(draft: Draft) -> None:
    composed = try_compose(draft)
    if isinstance(composed, str):
        assert composed  # a refusal always says why
        return
    check_lines(composed.raw)
    msg = parse(composed)
    check_fields(draft, composed, msg)
    check_addresses(draft, msg)
    check_bodies(draft, msg)
    assert msg["Subject"] == draft.subject
    for name, value in draft.headers.items():
        assert msg[name] == value


def try_compose(draft: Draft) -> Composed | str:
    """The composed message, or the refusal's text."""
    try:
        composed = compose(draft)
    except (InvalidMessage, InvalidAddress) as exc:
        event(f"refused: {type(exc).__name__}")
        return str(exc)
    event("composed")
    return composed


def check_lines(raw: bytes) -> None:
    assert b"\r" not in raw.replace(b"\r\n", b"")
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998


def check_fields(draft: Draft, composed: Composed, msg: EmailMessage) -> None:
    expected = ["date", "from", "to", "subject", "message-id", "mime-version", "content-type"]
    expected += [name.lower() for name in draft.headers]
    expected += ["reply-to"] if any(r.strip() for r in draft.reply_to) else []
    expected += ["cc"] if any(c.strip() for c in draft.cc) else []
    expected += ["content-transfer-encoding"] if draft.text is None or draft.html is None else []
    # the injection property: exactly these fields, each once, and nothing else
    assert Counter(field_names(composed.raw)) == Counter(expected)
    assert sorted(k.lower() for k in msg) == sorted(expected)
    assert msg.get("Bcc") is None


def check_addresses(draft: Draft, msg: EmailMessage) -> None:
    sender = parse_address(draft.from_address)
    name = sender.display_name if draft.from_name is None else clean_display_name(draft.from_name)
    check_pairs(msg, "From", [(name, sender.addr_spec)])
    to = expected_pairs(list(draft.to))
    check_pairs(msg, "To", to if draft.recipient_mode is RecipientMode.CC or len(to) == 1 else [])
    check_pairs(msg, "Cc", expected_pairs(list(draft.cc)))
    check_pairs(msg, "Reply-To", expected_pairs(list(draft.reply_to)))


def check_bodies(draft: Draft, msg: EmailMessage) -> None:
    def as_read(text: str) -> str:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        return text if text.endswith("\n") else text + "\n"

    for subtype, asked in (("plain", draft.text), ("html", draft.html)):
        part = msg.get_body((subtype,))
        if asked is None:
            assert part is None or (subtype == "plain" and draft.html is None)
            continue
        assert part is not None
        assert part.get_content().replace("\r\n", "\n") == as_read(asked)
