"""Helpers for the SMTP client tests: every test drives the client in a fresh event loop,
bounded in time, against the real servers of tests/smtpd.py."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

#: no client test may take longer than this, whatever the server does
TEST_DEADLINE = 20.0


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion in a new loop, bounded by TEST_DEADLINE."""
    return asyncio.run(asyncio.wait_for(coro, TEST_DEADLINE))


#: distinctive credentials: if either ever shows up in a transcript, an exception or a
#: repr, the tests below find it (also in base64, as it crosses the wire)
USER = "ops@example.test"
PASSWORD = "Zebra-Quartz-9317-lantern"
