"""The byte-level pieces of a message: header fields and bodies, written directly.

The stdlib's ``email.message.EmailMessage`` costs more per message than the rest of the
send path (docs/reference/send-baselines.md); everything here is string work on the common path, and the
results are checked against the stdlib *parser* in the tests instead.

Rules followed:
- header lines are folded before 78 characters where there is a place to fold and never
  exceed 998 octets (RFC 5322 2.1.1); folding only ever inserts CRLF before existing
  whitespace, so unfolding gives back exactly what was asked;
- text that cannot be carried literally (non-ASCII, control characters, leading or
  trailing blanks, runs of blanks, something that looks like an encoded word) is written
  as RFC 2047 encoded words, each at most 75 characters (RFC 2047 2);
- a body is 7bit when it is ASCII with lines of at most 998 octets and no NUL, otherwise
  quoted-printable (RFC 2045 6.7) via C-speed ``binascii.b2a_qp``; never 8bit, so no
  server needs 8BITMIME.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from typing import Final

from postwarden.core.addresses import Address

MAX_LINE: Final = 998
SOFT_LINE: Final = 78
CRLF: Final = "\r\n"

#: RFC 2047 5(3): the only characters allowed unencoded in a "Q" word inside a phrase;
#: using this smallest set everywhere keeps one encoder for both places.
_Q_SAFE: Final = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")
_Q_TABLE: Final = tuple(chr(b) if b in _Q_SAFE else ("_" if b == 0x20 else f"={b:02X}") for b in range(256))
_WORD_PREFIX: Final = "=?utf-8?"
#: 75 - len("=?utf-8?q?") - len("?=")
_WORD_ROOM: Final = 75 - 12
#: a long field name still gets words of a useful size (the line may reach 78+)
_MIN_ROOM: Final = 16
_ATOM_PHRASE: Final = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?: [A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
#: printable ASCII words separated by single spaces: safe to carry literally
_PLAIN_TEXT: Final = re.compile(r"[!-~]+(?: [!-~]+)*")


def encoded_words(text: str, first_room: int = _WORD_ROOM) -> list[str]:
    """RFC 2047 encoded words for ``text`` (UTF-8, Q or B, whichever is shorter).

    Words are cut between characters, never inside one, so each decodes on its own; each
    is at most 75 characters, and the first leaves ``first_room`` characters of payload
    so that it fits on the line after the field name.
    Raises ``UnicodeEncodeError`` for lone surrogates.
    """
    data = text.encode("utf-8")
    use_q = sum(len(_Q_TABLE[b]) for b in data) <= (len(data) + 2) // 3 * 4
    words: list[str] = []
    chunk: list[str] = []
    size, room = 0, max(_MIN_ROOM, min(first_room, _WORD_ROOM))
    for char in text:
        raw = char.encode("utf-8")
        cost = sum(len(_Q_TABLE[b]) for b in raw) if use_q else len(raw)
        if chunk and (size + cost if use_q else (size + cost + 2) // 3 * 4) > room:
            words.append(_word("".join(chunk), use_q))
            chunk, size, room = [], 0, _WORD_ROOM
        chunk.append(char)
        size += cost
    if chunk:
        words.append(_word("".join(chunk), use_q))
    return words


def _looks_encoded(text: str) -> bool:
    r"""An ``=?`` with a ``?=`` after it: a reader might take it for an encoded word.

    (A regex ``=\?.*\?=`` says the same, in quadratic time on hostile input.)
    """
    start = text.find("=?")
    return start >= 0 and text.find("?=", start + 2) >= 0


def first_word_room(name_len: int) -> int:
    """Payload room for an encoded word right after ``Name: `` on a 76-column line."""
    return 76 - name_len - 2 - 12


def _word(text: str, use_q: bool) -> str:
    data = text.encode("utf-8")
    if use_q:
        return f"{_WORD_PREFIX}q?{''.join(_Q_TABLE[b] for b in data)}?="
    return f"{_WORD_PREFIX}b?{base64.b64encode(data).decode('ascii')}?="


def unstructured_tokens(value: str, name_len: int) -> list[str]:
    """Tokens for an unstructured field (Subject, custom headers), joined by single spaces.

    Plain ASCII stays literal (folded at its spaces); anything else becomes encoded words
    so that the parsed value equals ``value`` exactly.
    """
    if not value:
        return []
    if _PLAIN_TEXT.fullmatch(value) and not _looks_encoded(value):
        tokens = value.split(" ")
        # a word too long for one line (after "Name: ") cannot be folded: encode instead
        if max(map(len, tokens)) + name_len + 2 <= MAX_LINE:
            return tokens
    return encoded_words(value, first_word_room(name_len))


def phrase_tokens(name: str, first_room: int = _WORD_ROOM) -> list[str]:
    """Tokens for a display name: atoms literally, else a quoted string, else encoded words."""
    if _ATOM_PHRASE.fullmatch(name) and not _looks_encoded(name):
        return name.split(" ")
    if _PLAIN_TEXT.fullmatch(name) and not _looks_encoded(name) and len(name) <= 60:
        # the ":" of "Ops: team" (docs/reference/mission-anchors.md E8) and commas need quoting
        escaped = name.replace("\\", "\\\\").replace('"', '\\"')
        return [f'"{escaped}"']
    return encoded_words(name, first_room)


def address_tokens(address: Address, first_room: int = _WORD_ROOM) -> list[str]:
    """``Ops <ops@example.com>`` as foldable tokens; ``first_room`` is what an encoded
    name may use on its first line (see :func:`first_word_room`)."""
    if not address.display_name:
        return [address.addr_spec]
    return [*phrase_tokens(address.display_name, first_room), f"<{address.addr_spec}>"]


def address_list_tokens(addresses: Iterable[Address], header: str) -> list[str]:
    """Tokens for an address field named ``header``, the addresses separated by commas."""
    tokens: list[str] = []
    for address in addresses:
        if tokens:
            tokens[-1] += ","
            tokens.extend(address_tokens(address))
        else:
            tokens.extend(address_tokens(address, first_word_room(len(header))))
    return tokens


def field(name: str, tokens: list[str]) -> str:
    """``Name: tok tok`` folded before 78 columns where a token boundary allows.

    Every token is free of whitespace and CR/LF (callers guarantee it); no line grows
    past 998 octets as long as each token fits on a line of its own.
    """
    if not tokens:
        return f"{name}:{CRLF}"
    lines: list[str] = []
    line = f"{name}: {tokens[0]}"
    for token in tokens[1:]:
        if len(line) + 1 + len(token) > SOFT_LINE:
            lines.append(line)
            line = f" {token}"
        else:
            line = f"{line} {token}"
    lines.append(line)
    return CRLF.join(lines) + CRLF


def encode_body(text: str) -> tuple[str, bytes]:
    """(Content-Transfer-Encoding, body bytes ending in CRLF) for a text part.

    Line ends (CRLF, CR or LF) become CRLF: RFC 5322 2.3 allows no bare CR or LF.
    Raises ``UnicodeEncodeError`` for lone surrogates.
    """
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.endswith("\n"):
        text += "\n"
    body = text.replace("\n", CRLF)
    if body.isascii() and "\x00" not in body and _short_lines(text):
        return "7bit", body.encode("ascii")
    # b2a_qp keeps the CRLF line ends of its input and encodes trailing blanks, "=",
    # controls and 8-bit octets; soft breaks keep lines at 76 characters.
    return "quoted-printable", binascii.b2a_qp(body.encode("utf-8"), istext=True)


def _short_lines(text: str) -> bool:
    """No line of LF-separated ``text`` is longer than 998 characters.

    Jumps from line start to the last LF within reach, so a 2 KB body costs a few
    ``rfind`` calls instead of a split into a list of lines.
    """
    start, end = 0, len(text)
    while end - start > MAX_LINE:
        lf = text.rfind("\n", start, start + MAX_LINE + 1)
        if lf < 0:
            return False
        start = lf + 1
    return True


#: a quoted parameter value is kept literal up to this length; longer or non-ASCII values
#: are written as RFC 2231 continuations of at most this many characters each
_PARAM_ROOM: Final = 60
#: RFC 2231 7 attribute-char: what may stand unencoded in an extended value
_ATTRIBUTE_CHARS: Final = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$&+-.^_`|~"
)
_QUOTABLE: Final = re.compile(r"[ !#-\[\]-~]+")


def parameter_tokens(name: str, value: str) -> list[str]:
    """``name="value"`` as header tokens, or for non-ASCII, quotes, backslashes or a long
    value the RFC 2231 form ``name*0*=utf-8''%E2%82%AC…;`` split into continuations (each a
    token of its own, so the field folds between them). The caller joins a ``;`` to the
    token before these. Raises ``UnicodeEncodeError`` for lone surrogates."""
    if _QUOTABLE.fullmatch(value) and len(value) <= _PARAM_ROOM:
        return [f'{name}="{value}"']
    encoded = [chr(b) if b in _ATTRIBUTE_CHARS else f"%{b:02X}" for b in value.encode("utf-8")]
    sections: list[str] = []
    current = "utf-8''"
    for piece in encoded:
        # a %XX triplet is never cut: each section decodes on its own
        if len(current) + len(piece) > _PARAM_ROOM and current not in ("", "utf-8''"):
            sections.append(current)
            current = ""
        current += piece
    sections.append(current)
    if len(sections) == 1:
        return [f"{name}*={sections[0]}"]
    tokens = [f"{name}*{index}*={section};" for index, section in enumerate(sections)]
    tokens[-1] = tokens[-1].rstrip(";")
    return tokens


def encode_binary(data: bytes) -> bytes:
    """A base64 body: lines of 76 characters, each ending in CRLF (RFC 2045 6.8)."""
    if not data:
        return b""
    return base64.encodebytes(data).replace(b"\n", b"\r\n")
