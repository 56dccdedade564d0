"""The worker's one private asyncio call (outbox/worker/loop_aside.py): a tripwire that fails,
naming what changed, on a Python other than the one its private names were checked against
or when they are gone or take other arguments; and what the call is for, shown against
Django's own guard."""

from __future__ import annotations

import asyncio
import asyncio.events
import inspect
import sys

import pytest
from django.core.exceptions import SynchronousOnlyOperation
from django.utils.asyncio import async_unsafe

from postwarden.outbox.worker.loop_aside import CHECKED_PYTHON, PRIVATE_NAMES, call_with_loop_aside


def test_this_is_the_python_its_private_asyncio_names_were_checked_against() -> None:
    assert sys.version_info[:2] == CHECKED_PYTHON, (
        f"Python {sys.version_info[0]}.{sys.version_info[1]} is not the {CHECKED_PYTHON} that "
        "outbox/worker/loop_aside.py was checked against: read asyncio/events.py for "
        f"{sorted(PRIVATE_NAMES)} in this Python, then update CHECKED_PYTHON and PRIVATE_NAMES"
    )


@pytest.mark.parametrize(("name", "signature"), sorted(PRIVATE_NAMES.items()))
def test_the_private_asyncio_names_are_there_with_their_signatures(name: str, signature: str) -> None:
    found = getattr(asyncio.events, name, None)
    assert found is not None, f"asyncio.events.{name} is gone: outbox/worker/loop_aside.py needs another way"
    assert str(inspect.signature(found)) == signature, f"asyncio.events.{name} changed its arguments"


@async_unsafe
def touch_the_database() -> str:
    return "done"


def test_it_gets_past_djangos_guard_and_puts_the_loop_back() -> None:
    async def run() -> tuple[bool, str, bool, bool]:
        loop = asyncio.get_running_loop()
        try:
            touch_the_database()
            guarded = False
        except SynchronousOnlyOperation:
            guarded = True
        answer = call_with_loop_aside(touch_the_database)
        back = asyncio.get_running_loop() is loop

        def fails() -> None:
            raise KeyError("x")

        with pytest.raises(KeyError):
            call_with_loop_aside(fails)
        return guarded, answer, back, asyncio.get_running_loop() is loop

    assert asyncio.run(run()) == (True, "done", True, True)
