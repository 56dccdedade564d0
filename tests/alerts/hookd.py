"""A local incoming-webhook endpoint that records what it is sent: Mattermost's (and
Slack's) format at ``/hooks/<token>`` (``{"text": …}``) and apprise's generic JSON at any
other path (``{"title": …, "message": …}``). It can be taken down (nothing listens: the
connection is refused) and brought back on the same port."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.ports import free_port


@dataclass
class Received:
    path: str
    body: dict[str, Any]

    @property
    def text(self) -> str:
        """The notification's whole text, whichever format carried it."""
        if "text" in self.body:
            return str(self.body["text"])
        return f"{self.body.get('title', '')}\n{self.body.get('message', '')}"


@dataclass
class Hook:
    port: int
    received: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def mattermost_url(self, token: str) -> str:
        return f"mmost://127.0.0.1:{self.port}/{token}"

    def json_url(self, path: str) -> str:
        return f"json://127.0.0.1:{self.port}/{path}"

    def up(self) -> None:
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with hook._changed:
                    hook.received.append(Received(self.path, body))
                    hook._changed.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wait_for(self, count: int, timeout: float = 60.0) -> list[Received]:
        """Until ``count`` notifications have arrived; all of them."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"{len(self.received)} of {count} notifications arrived: {self.received}"
                self._changed.wait(left)
            return list(self.received)


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = Hook(free_port())
    server.up()
    try:
        yield server
    finally:
        server.down()
