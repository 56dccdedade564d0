"""Keyset pagination on ``(created_at, id)``, newest first.

OFFSET pagination reads and discards every skipped row, so page 2,000 of a million
messages costs a million row reads; a keyset page is one index range scan whatever the
depth. The cursor is the last row's key, opaque to the user (base64 of ``iso|id``).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from django.db.models import Model, Q, QuerySet

M = TypeVar("M", bound=Model)


@dataclass(frozen=True, slots=True)
class Cursor:
    created_at: datetime
    pk: int

    def encode(self) -> str:
        raw = f"{self.created_at.isoformat()}|{self.pk}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str | None) -> Cursor | None:
        """None for a missing or malformed cursor (a hand-edited URL starts over)."""
        if not text:
            return None
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
            when, _, pk = raw.partition("|")
            parsed = datetime.fromisoformat(when)
            return cls(parsed, int(pk)) if parsed.tzinfo else None
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None


@dataclass(frozen=True, slots=True)
class Page(Generic[M]):
    rows: list[M]
    #: cursor of the next (older) page, None on the last page
    next_cursor: str | None


def page(queryset: QuerySet[M], cursor: Cursor | None, size: int, *, field: str = "created_at") -> Page[M]:
    """Rows older than ``cursor`` ordered by (``field``, id) descending. One query."""
    if cursor is not None:
        queryset = queryset.filter(
            Q(**{f"{field}__lt": cursor.created_at}) | Q(**{field: cursor.created_at, "pk__lt": cursor.pk})
        )
    rows = list(queryset.order_by(f"-{field}", "-pk")[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    last = rows[-1] if rows else None
    next_cursor = Cursor(getattr(last, field), int(last.pk)).encode() if more and last is not None else None
    return Page(rows, next_cursor)
