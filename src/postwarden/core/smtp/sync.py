"""Synchronous conveniences for the CLI (``postwarden send-test``). The worker and the
doctor call the async API from their own event loop instead."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from postwarden.core.smtp.model import Endpoint, Resolver, SendResult
from postwarden.core.smtp.session import SmtpSession
from postwarden.core.smtp.transcript import Transcript

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion in a new event loop. Raises RuntimeError when called
    from inside a running loop (use ``await`` there)."""
    return asyncio.run(coro)


async def send_once(
    endpoint: Endpoint,
    sender: str,
    recipients: Sequence[str],
    data: bytes,
    *,
    transcript: Transcript | None = None,
    resolver: Resolver | None = None,
) -> SendResult:
    """Open a session, send one message, QUIT. Raises what :meth:`SmtpSession.open` and
    :meth:`SmtpSession.send` raise; the connection is closed either way."""
    async with SmtpSession(endpoint, transcript=transcript, resolver=resolver) as session:
        return await session.send(sender, recipients, data)
