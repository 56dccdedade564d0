"""What every importer returns, and the small helpers they share.

An importer reads another product's settings and says, in Postwarden's variable names
(docs/spec/config.md), what that product would do on the wire. It translates; it does not
validate (the resolver does, naming the original variable through ``origins``).

Secrets stay plain strings here (the resolver wraps them in ``Secret``), and they never
appear in ``notes`` or in an exception message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from postwarden.core.addresses import InvalidAddress, parse_address

#: the words products use for booleans in environment variables and JSON-as-text
_TRUE: Final = frozenset({"true", "1", "yes", "on"})
_FALSE: Final = frozenset({"false", "0", "no", "off"})


class ImporterError(ValueError):
    """The source cannot be read: unknown source, missing or unreadable file, bad JSON,
    a module that fails to import, settings the product itself would refuse."""


@dataclass(frozen=True, slots=True)
class Imported:
    """Values in our variable names, where each came from, and what a person should know.

    ``origins`` maps our variable to the product's own name (``MB_EMAIL_SMTP_SECURITY``,
    ``EmailSettings.ConnectionSecurity``); it becomes the ``detail`` of an
    ``Origin.IMPORT`` layer, so the console and the doctor can say where a value came from.
    """

    values: dict[str, str] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def set(self, name: str, value: str, origin: str) -> None:
        self.values[name] = value
        self.origins[name] = origin

    def note(self, text: str) -> None:
        self.notes.append(text)


def as_bool(value: object) -> bool | None:
    """``True``/``"true"``/``"1"`` -> True, the opposite words -> False, anything else None."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        return True if word in _TRUE else False if word in _FALSE else None
    return None


def bool_text(value: bool) -> str:
    return "true" if value else "false"


def set_from(result: Imported, value: str, origin: str, *, name_given: bool) -> None:
    """``MAIL_FROM`` (and ``MAIL_FROM_NAME``) from a From value that may carry a name.

    ``"Metabase <bi@example.com>"`` in an *address* setting is split, because a product
    that hands it to its mail library as an address sends from something else entirely
    (docs/reference/mission-anchors.md E7: ``metabase@ip-….compute.internal``). An address that does not
    parse is passed on as it is, for the resolver and the doctor to report.
    """
    value = value.strip()
    try:
        address = parse_address(value)
    except InvalidAddress:
        result.set("MAIL_FROM", value, origin)
        return
    result.set("MAIL_FROM", address.addr_spec, origin)
    if not address.display_name:
        return
    if name_given:
        result.note(
            f"{origin} holds a display name and an address; the address {address.addr_spec} is used "
            "and the separate From name setting gives the name"
        )
        return
    result.set("MAIL_FROM_NAME", address.display_name, origin)
    result.note(
        f"{origin} holds a display name and an address: split into MAIL_FROM={address.addr_spec} and "
        f"MAIL_FROM_NAME={address.display_name!r} (given whole as an address, some mail libraries "
        "send from user@hostname instead)"
    )
