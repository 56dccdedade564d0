"""Bounds for every whole number a client may send the API (query parameters and body
fields alike).

Python takes any integer, SQLite and PostgreSQL only 64-bit ones: ``?offset=99999999999999999999``
reached the database and answered 500. Each whole number is declared with its bounds here, so
the schema refuses it first (422, ``detail`` naming the parameter) and the OpenAPI document
shows the range; tests/api/test_integer_bounds.py walks every route's integer parameters."""

from __future__ import annotations

from typing import Any, Final

from pydantic import Field

#: rows skipped by ``offset``: far beyond any outbox, far inside a 64-bit integer
MAX_OFFSET: Final = 1_000_000_000
#: the largest version, id or count a client may name (a 32-bit number: none is larger)
MAX_NUMBER: Final = 2**31 - 1


def limit(default: int, maximum: int) -> Any:
    """A page size: 1 … ``maximum``."""
    return Field(default, ge=1, le=maximum, description=f"at most {maximum}")


def offset() -> Any:
    """Rows to skip: 0 … :data:`MAX_OFFSET`."""
    return Field(0, ge=0, le=MAX_OFFSET, description="rows to skip")


def number(default: int | None = None, *, minimum: int = 1) -> Any:
    """Any other whole number (a version …): ``minimum`` … :data:`MAX_NUMBER`."""
    return Field(default, ge=minimum, le=MAX_NUMBER)
