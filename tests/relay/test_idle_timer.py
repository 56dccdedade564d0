"""The relay's idle timer: one timer per session whose deadline moves with each command;
a session that goes quiet for the timeout is closed, a busy one is not."""

from __future__ import annotations

import smtplib
import socket
import time
from collections.abc import Callable

from tests.relay.helpers import RelayThread


def test_it_closes_a_quiet_session_and_keeps_a_busy_one(relay_factory: Callable[..., RelayThread]) -> None:
    relay = relay_factory(timeout=2.0)
    with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as busy:
        busy.ehlo("busy.test")
        for _ in range(15):  # a command every 0.25 s for 3.75 s: longer than the 2 s timeout
            time.sleep(0.25)
            assert busy.noop()[0] == 250
        assert busy.sock is not None
        with socket.create_connection(("127.0.0.1", relay.port), timeout=10) as quiet:
            assert quiet.recv(512).startswith(b"220 ")
            assert quiet.recv(512) == b""  # closed by the relay after 2 s of silence
        # the busy session, silent as long, is closed too
        assert busy.sock.recv(512) == b""
