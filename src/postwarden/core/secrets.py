"""A string that never shows itself by accident.

``Secret`` wraps passwords, API keys and private keys from the moment they are read.
``str()``/``repr()``/f-strings render a mask, so a secret that slips into a log line,
an exception or a template prints as ``Secret('••••')`` instead of its value; code that
really needs the value calls :meth:`Secret.reveal` at the last moment.
"""

from __future__ import annotations

import hmac
from typing import Final

MASK: Final = "••••"
#: Secrets shorter than this never show their tail: four characters of an
#: eight-character password are half of it.
_MIN_LEN_FOR_TAIL: Final = 12


class Secret:
    """An immutable secret string with a redacted representation."""

    __slots__ = ("_value",)
    _value: str

    def __init__(self, value: str | None = None, /) -> None:
        object.__setattr__(self, "_value", value or "")

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Secret is immutable")

    def reveal(self) -> str:
        """Return the real value. Call it only where the value leaves for its destination."""
        return self._value

    @property
    def is_set(self) -> bool:
        return bool(self._value)

    @property
    def state(self) -> str:
        """``"set"`` or ``"empty"``: how reports such as the doctor's show a secret."""
        return "set" if self._value else "empty"

    def masked(self) -> str:
        """``••••`` plus at most the last four characters (docs/spec/config.md), or ``""`` when empty."""
        value: str = self._value
        if not value:
            return ""
        if len(value) < _MIN_LEN_FOR_TAIL:
            return MASK
        return MASK + value[-4:]

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return f"Secret({MASK!r})" if self._value else "Secret('')"

    __str__ = __repr__

    def __format__(self, format_spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> tuple[type[Secret], tuple[str]]:
        # Pickling keeps the value (multiprocessing hands settings to children); it is
        # not a rendering, so it does not leak into text.
        return (Secret, (self._value,))


EMPTY: Final = Secret()
