"""Files carried by a message: attachments and inline images (``cid:`` in the HTML).

What is checked here holds for any caller: a filename and Content-ID that cannot inject
header lines, a content type of the ``type/subtype`` form (guessed from the filename when
absent), and no executable, which SES, SendGrid, Mailgun and Gmail refuse or strip: by
extension, by a declared executable type, and by the file's own first bytes (a Windows
or ELF program renamed ``invoice.pdf`` is still one). Size limits depend on settings
and are the outbox's to enforce.
"""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass
from email.message import Message
from typing import Final


class InvalidAttachment(ValueError):
    """The attachment cannot be carried; the text names the attachment and the reason."""


@dataclass(frozen=True, slots=True)
class Attachment:
    """One file. ``content_id`` (without angle brackets) makes it an inline part that the
    HTML names as ``cid:<content_id>``."""

    filename: str
    content_type: str
    data: bytes
    content_id: str | None = None

    @property
    def inline(self) -> bool:
        return self.content_id is not None


#: extensions of programs and scripts that providers refuse to carry or strip (Amazon SES's
#: unsupported attachment types, Gmail's and Outlook's blocked file types)
_BLOCKED_EXTENSIONS: Final = (
    "ade adp apk app application appref-ms appx appxbundle asp aspx asx bas bat bgi cab cer chm cmd "
    "cnt com cpl crt csh der diagcab dll dmg exe fxp gadget grp hlp hpj hta htc inf ins iso isp its "
    "jar jnlp js jse ksh lib lnk mad maf mag mam maq mar mas mat mau mav maw mcf mda mdb mde mdt "
    "mdw mdz mjs msc msh msh1 msh1xml msh2 msh2xml mshxml msi msix msixbundle msp mst msu ops osd "
    "pcd pif plg prf prg printerexport ps1 ps1xml ps2 ps2xml psc1 psc2 psd1 psdm1 pst reg scf scr "
    "sct settingcontent-ms shb shs sys theme tmp url vb vbe vbp vbs vhd vhdx vps vsmacros vss vst "
    "vsw vxd webpnp website ws wsc wsf wsh xbap xll xnk "
)
BLOCKED_EXTENSIONS: Final = frozenset(_BLOCKED_EXTENSIONS.split())
#: content types that declare a program
BLOCKED_TYPES: Final = frozenset(
    {
        "application/x-msdownload",
        "application/x-msdos-program",
        "application/x-dosexec",
        "application/x-executable",
        "application/x-msi",
        "application/x-ms-installer",
        "application/vnd.microsoft.portable-executable",
        "application/java-archive",
        "application/x-java-archive",
        "application/x-sh",
        "application/x-csh",
        "application/x-bat",
        "application/hta",
        "application/x-ms-shortcut",
        "application/javascript",
        "text/javascript",
        "application/x-javascript",
        "text/vbscript",
    }
)
#: first bytes of programs: ELF, Mach-O (both byte orders, 32/64); Windows PE is
#: recognised by its two signatures (:func:`_is_windows_program`)
_PROGRAM_MAGIC: Final = (
    b"\x7fELF",
    b"\xfe\xed\xfa\xce",
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
)
#: RFC 2045 5.1 token: printable ASCII without tspecials
_MIME_TOKEN: Final = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"  # noqa: S105 (a pattern, not a password)
_CONTENT_TYPE: Final = re.compile(rf"({_MIME_TOKEN})/({_MIME_TOKEN})")
#: RFC 2392 content-id: an addr-spec, or (as mail clients accept) a bare dot-atom
_ATOM: Final = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_CONTENT_ID: Final = re.compile(rf"<?({_ATOM}(?:@{_ATOM})?)>?")
MAX_FILENAME: Final = 255
MAX_CONTENT_ID: Final = 200


def guess_type(filename: str) -> str:
    """The content type for ``filename`` by its extension; unknown: application/octet-stream."""
    guessed, _ = mimetypes.guess_type(filename, strict=False)
    return guessed or "application/octet-stream"


def make(
    filename: str, data: bytes, content_type: str | None = None, content_id: str | None = None
) -> Attachment:
    """A checked :class:`Attachment`. Raises :class:`InvalidAttachment` naming the problem."""
    name = clean_filename(filename)
    kind = clean_content_type(content_type) if content_type else guess_type(name)
    cid = clean_content_id(content_id) if content_id is not None else None
    refusal = executable_reason(name, kind, data)
    if refusal:
        raise InvalidAttachment(refusal)
    return Attachment(name, kind, data, cid)


def clean_filename(filename: str) -> str:
    if not isinstance(filename, str) or not filename.strip():
        raise InvalidAttachment("filename is empty")
    if len(filename) > MAX_FILENAME:
        raise InvalidAttachment(f"filename is {len(filename)} characters long; at most {MAX_FILENAME}")
    if any(not char.isprintable() for char in filename):
        raise InvalidAttachment(f"filename {filename!r} contains a control character or line break")
    if "/" in filename or "\\" in filename:
        raise InvalidAttachment(f"filename {filename!r} contains a path separator; give the file's name only")
    try:
        filename.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidAttachment("filename is not valid Unicode (it has a lone surrogate)") from None
    return filename.strip()


def clean_content_type(content_type: str) -> str:
    match = _CONTENT_TYPE.fullmatch(content_type.strip())
    if match is None:
        raise InvalidAttachment(
            f"content_type {content_type!r} is not a MIME type of the form type/subtype "
            "(e.g. application/pdf)"
        )
    if match.group(1).lower() == "multipart":
        raise InvalidAttachment(
            f"content_type {content_type!r}: a multipart type cannot be attached as a file"
        )
    return f"{match.group(1)}/{match.group(2)}".lower()


def clean_content_id(content_id: str) -> str:
    match = _CONTENT_ID.fullmatch(content_id.strip()) if isinstance(content_id, str) else None
    if match is None or len(content_id) > MAX_CONTENT_ID:
        raise InvalidAttachment(
            f"content_id {content_id!r} is not usable: give letters, digits and . - _ @ (e.g. logo or "
            f"logo@example.com), at most {MAX_CONTENT_ID} characters"
        )
    return match.group(1)


def executable_reason(filename: str, content_type: str, data: bytes) -> str | None:
    """Why providers would refuse this file as a program, or None."""
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if extension in BLOCKED_EXTENSIONS:
        return (
            f"{filename!r}: .{extension} files are programs or scripts, which email providers refuse; "
            "put them in an archive service and send a link"
        )
    if content_type in BLOCKED_TYPES:
        return f"{filename!r}: {content_type} is an executable type, which email providers refuse"
    if data.startswith(_PROGRAM_MAGIC) or _is_windows_program(data):
        return (
            f"{filename!r} is a program (its first bytes are an executable's), "
            "which email providers refuse whatever its name"
        )
    return None


def _is_windows_program(data: bytes) -> bool:
    """A DOS header ("MZ") whose e_lfanew (offset 0x3C) points at "PE\\0\\0": a text file
    that merely starts with "MZ" is not one."""
    if len(data) < 0x40 or not data.startswith(b"MZ"):
        return False
    offset = int.from_bytes(data[0x3C:0x40], "little")
    return data[offset : offset + 4] == b"PE\x00\x00"


def files_in(parsed: Message) -> tuple[Attachment, ...]:
    """Every attachment and inline part of a parsed message, in order: a part with a
    filename, a Content-ID or ``Content-Disposition: attachment``; the text and HTML
    bodies are not. (Read from stored MIME: for provider APIs and the console.)"""
    found: list[Attachment] = []
    for part in parsed.walk():
        if part.is_multipart():
            continue
        disposition = part.get_content_disposition()
        filename = part.get_filename()
        content_id = str(part.get("Content-ID", "")).strip().strip("<>") or None
        if disposition != "attachment" and filename is None and content_id is None:
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        found.append(Attachment(str(filename or "attachment"), part.get_content_type(), data, content_id))
    return tuple(found)
