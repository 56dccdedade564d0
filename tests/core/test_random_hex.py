"""core.message.random_hex: Message-IDs and public ids from a per-thread pool of OS
random bytes, never handed out twice (in a thread, across threads, across a fork); and
ordered_hex, the same bytes after the time, so new ids go to the end of their index."""

from __future__ import annotations

import os
import re
import threading
from datetime import UTC, datetime

import time_machine

from postwarden.core.message import ordered_hex, random_hex


def test_it_gives_hex_of_the_asked_length() -> None:
    for nbytes in (1, 10, 16, 5000):
        value = random_hex(nbytes)
        assert re.fullmatch(r"[0-9a-f]+", value)
        assert len(value) == 2 * nbytes


def test_it_never_repeats_within_and_across_pool_refills() -> None:
    values = [random_hex(16) for _ in range(3000)]  # ~12 pools of 4 KiB
    assert len(set(values)) == 3000


def test_it_never_gives_two_threads_the_same_bytes() -> None:
    found: dict[int, list[str]] = {}

    def draw(number: int) -> None:
        found[number] = [random_hex(10) for _ in range(500)]

    threads = [threading.Thread(target=draw, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    everything = [value for values in found.values() for value in values]
    assert len(everything) == 2000
    assert len(set(everything)) == 2000


def test_a_forked_child_does_not_reuse_the_parents_pool() -> None:
    random_hex(1)  # the parent's pool is filled
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next value, then out without pytest's teardown
        os.write(write, random_hex(16).encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert len(child) == 32
    assert child != random_hex(16)


def test_ordered_ids_sort_by_the_second_they_were_made_and_keep_their_random_bits() -> None:
    with time_machine.travel(datetime(2026, 12, 6, 18, 0, 0, tzinfo=UTC), tick=False):
        earlier = [ordered_hex(10) for _ in range(200)]
    with time_machine.travel(datetime(2026, 12, 6, 18, 0, 1, tzinfo=UTC), tick=False):
        later = [ordered_hex(10) for _ in range(200)]
    # the whole second comes first, as eight hex digits: index order is creation order
    assert {value[:8] for value in earlier} == {
        f"{int(datetime(2026, 12, 6, 18, tzinfo=UTC).timestamp()):08x}"
    }
    assert max(earlier) < min(later)
    # and every id still carries its 80 random bits: none repeats within a second
    assert all(re.fullmatch(r"[0-9a-f]{28}", value) for value in earlier + later)
    assert len(set(value[8:] for value in earlier + later)) == 400
