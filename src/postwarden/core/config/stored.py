"""The settings saved in the console, read from their rows: one reading for both readers.

The service reads the rows through Django (configstore/runtime.py), the doctor's command line
with plain SQL and no Django (doctor/db_reads.py); what the rows mean — a sealed value is a
secret to unseal, the rest is as written — is decided here once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from postwarden.core.secrets import Secret


class Unsealer(Protocol):
    def unseal(self, token: str) -> Secret: ...


def unsealed(
    rows: Iterable[tuple[str, str, bool]],
    make_unsealer: Callable[[], Unsealer],
    on_secret: Callable[[str], None] | None = None,
) -> dict[str, str]:
    """``name -> value`` of the saved settings ``(name, value, sealed)``, secrets unsealed.

    ``make_unsealer`` is called only when a row is sealed, so a reader with no saved secret
    never loads the cipher (the doctor's start-up); ``on_secret`` sees each unsealed secret
    (the service registers them for log redaction). Raises the unsealer's error for a
    value sealed with another key.
    """
    values: dict[str, str] = {}
    box: Unsealer | None = None
    for name, value, sealed in rows:
        if not sealed:
            values[str(name)] = str(value)
            continue
        box = box or make_unsealer()
        plain = box.unseal(str(value)).reveal()
        if on_secret is not None:
            on_secret(plain)
        values[str(name)] = plain
    return values
