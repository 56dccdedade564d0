"""The outbox's refusal: input it will not take, with the field to blame."""

from __future__ import annotations


class Refused(ValueError):
    """Input the outbox will not take. ``field`` names it ("to", "headers", "size" …),
    ``status`` is the HTTP status the API answers with (400, or 413 for size)."""

    def __init__(self, field: str, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.status = status
