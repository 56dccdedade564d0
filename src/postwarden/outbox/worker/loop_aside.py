"""The one private asyncio call in Postwarden, and why it is needed.

The worker does its database work on the event loop's own thread, between awaits, in short
batched statements (outbox/worker/loop.py: a database thread cost more than it saved).
Django refuses any database call while an event loop runs in the calling thread
(``django.utils.asyncio.async_unsafe`` raises ``SynchronousOnlyOperation``), to catch an
async view that blocks by mistake. Here blocking for a batch is the design and nothing else
runs meanwhile, so :func:`call_with_loop_aside` hides the running loop for the call.

asyncio has no public way to do that. ``asyncio.events._get_running_loop`` and
``asyncio.events._set_running_loop`` are the hooks asyncio keeps for event loop
implementations (uvloop sets its loop through them); they are private, so they may change
with any Python release. :data:`CHECKED_PYTHON` is the Python they were checked against
(Debian bookworm's ``python3``, which the Dockerfile installs); tests/outbox/test_loop_aside.py
fails on any other Python, or when either name is gone or takes other arguments: check the
two names in that Python's ``asyncio/events.py`` before raising it.
"""

from __future__ import annotations

import asyncio.events
from collections.abc import Callable
from typing import Any, Final, TypeVar

T = TypeVar("T")

#: the Python (major, minor) whose private asyncio hooks below were checked
CHECKED_PYTHON: Final = (3, 11)
#: the private names used, with their signatures on CHECKED_PYTHON
PRIVATE_NAMES: Final = {"_get_running_loop": "()", "_set_running_loop": "(loop, /)"}


def call_with_loop_aside(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` on this thread with its running event loop hidden (as if no
    loop ran here), and put back afterwards, whatever ``fn`` raises."""
    loop = asyncio.events._get_running_loop()
    asyncio.events._set_running_loop(None)
    try:
        return fn(*args, **kwargs)
    finally:
        asyncio.events._set_running_loop(loop)
