"""Issue #15's "done when", as a new user would try it: ``postwarden serve`` with a bounce
domain and the listener on, mail sent through the API to an unknown user at a real Postfix;
Postfix's DSN comes back to the listener ``serve`` started, and within seconds the
recipient's timeline (the API's) says ``bounced`` with Postfix's words, the address is
suppressed, and the next message to it is refused with the reason."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.bounces.helpers import bouncing_postfix
from tests.ports import free_port
from tests.processes import stop_group
from tests.serving import start, tail, wait_until_up

pytestmark = pytest.mark.slow
DOMAIN = "bounces.test"
DEADLINE = 60.0


def call(url: str, key: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def test_a_bounce_from_postfix_reaches_the_timeline_through_serve(tmp_path: Path) -> None:
    listen = free_port()
    with bouncing_postfix(DOMAIN, listen) as postfix:
        port = free_port()
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("POSTWARDEN_", "SMTP_", "MAIL_", "DJANGO_"))
        }
        env.update(
            POSTWARDEN_DATA_DIR=str(tmp_path / "data"),
            POSTWARDEN_SECRET_KEY="bounce-done-when-secret-key-0123456789",
            POSTWARDEN_PORT=str(port),
            EMAIL_PROVIDER="smtp",
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=str(postfix.port),
            SMTP_SECURITY="none",
            MAIL_FROM="ops@example.com",
            BOUNCE_DOMAIN=DOMAIN,
            POSTWARDEN_BOUNCE_LISTEN=f"127.0.0.1:{listen}",
        )
        log = tmp_path / "serve.log"
        process = start([sys.executable, "-m", "postwarden", "serve", "--no-relay"], env, tmp_path, log)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_until_up(url, process, log)
            created = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "postwarden",
                    "apikey",
                    "create",
                    "--name",
                    "t",
                    "--scope",
                    "send",
                    "--scope",
                    "read",
                ],
                env=env,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            )
            key = created.stdout.strip().splitlines()[-1]
            status, sent = call(
                f"{url}/api/v1/messages", key, {"to": ["nobody@example.test"], "subject": "Hi", "text": "x"}
            )
            assert status == 202, sent
            bounced: list[dict[str, Any]] = []
            deadline = time.monotonic() + DEADLINE
            while not bounced and time.monotonic() < deadline:
                _, message = call(f"{url}/api/v1/messages/{sent['id']}", key)
                bounced = [e for e in message["timeline"] if e["kind"] == "bounced"]
                time.sleep(0.2)
            assert bounced, f"{tail(log)}\n{postfix.maillog.read_text()[-2000:]}"
            assert bounced[0]["recipient"] == "nobody@example.test"
            assert bounced[0]["detail"].startswith('X-Postfix; unknown user: "nobody@example.test" — ')
            # read again: the page read before may have caught the recipients a moment
            # before the bounce's transaction and its timeline a moment after
            _, message = call(f"{url}/api/v1/messages/{sent['id']}", key)
            assert message["recipients"][0]["state"] == "bounced"
            status, again = call(
                f"{url}/api/v1/messages", key, {"to": ["nobody@example.test"], "text": "again"}
            )
            assert status == 202, again
            [refused] = again["recipients"]
            assert refused["state"] == "suppressed"
            assert "hard bounce" in refused["reason"]
            assert "bounces: " in tail(log)
            assert f"127.0.0.1:{listen}" in tail(log)
        finally:
            stop_group(process)
        assert process.returncode == 0, tail(log)
        assert "Traceback" not in tail(log), tail(log)
