"""What one client can hold of the relay (issue #11): a share of the connections per
client address, and a deadline to authenticate that NOOP, RSET and EHLO do not move;
and AUTH in the clear on loopback as a setting (POSTWARDEN_RELAY_AUTH_REQUIRE_TLS)."""

from __future__ import annotations

import base64
import smtplib
import ssl
import time
from collections.abc import Callable
from itertools import cycle
from pathlib import Path

import pytest
import trustme

from postwarden.accounts.models import ApiKey
from postwarden.core.config.resolve import resolve_environment
from postwarden.outbox.models import Message
from postwarden.relay.server import config_from_settings
from tests.relay.helpers import TIMEOUT, RelayThread, Wire, relay_settings, simple_mail
from tests.smtpd import server_context

pytestmark = pytest.mark.django_db(transaction=True)

Factory = Callable[..., RelayThread]
BUSY_CLIENT = "421 4.7.0 Error: too many connections from your address; try again later"
AUTH_TIMEOUT = "421 4.4.2 Error: timeout waiting for authentication; closing"


def plain(password: str) -> str:
    return base64.b64encode(f"\0app\0{password}".encode()).decode()


def test_idle_unauthenticated_connections_from_one_address_cannot_lock_out_the_others(
    relay_factory: Factory, key: tuple[ApiKey, str]
) -> None:
    relay = relay_factory(trusted=(), max_connections=12, max_per_client=4)
    squatter = [Wire("127.0.0.1", relay.port, source="127.0.0.2") for _ in range(4)]
    assert all(w.greeting.startswith("220 ") for w in squatter)
    for _ in range(3):  # more from that address are turned away at once
        extra = Wire("127.0.0.1", relay.port, source="127.0.0.2")
        assert extra.greeting == BUSY_CLIENT
        assert extra.closed()
    # an app on another address connects, authenticates and sends
    with smtplib.SMTP("127.0.0.1", relay.port, timeout=10, source_address=("127.0.0.3", 0)) as app:
        assert app.login("app", key[1])[0] == 235
        assert app.sendmail("app@example.com", ["alice@example.net"], simple_mail()) == {}
    assert Message.objects.count() == 1
    # a closed connection gives its place back
    squatter.pop().send(b"QUIT\r\n")
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        again = Wire("127.0.0.1", relay.port, source="127.0.0.2")
        if again.greeting.startswith("220 "):
            break
    assert again.greeting.startswith("220 ")


def test_noop_rset_and_ehlo_do_not_keep_an_unauthenticated_session_open(relay_factory: Factory) -> None:
    relay = relay_factory(trusted=(), preauth_timeout=1.0)
    wire = Wire("127.0.0.1", relay.port)
    answered: list[str] = []
    replies = {"NOOP": "250 ", "RSET": "250 ", "EHLO client.test": "250-"}
    for command in cycle(replies):  # keep the session busy, as a squatter would
        if len(answered) > 200:
            break
        reply = wire.command(command)
        if reply == AUTH_TIMEOUT:
            break
        assert reply.startswith(replies[command]), reply
        answered.append(command)
        time.sleep(0.05)  # pacing, not a measurement: the relay's deadline decides
    assert reply == AUTH_TIMEOUT
    assert 0 < len(answered) <= 200
    assert wire.closed()


def test_the_deadline_ends_with_auth_and_does_not_apply_to_trusted_clients(
    relay_factory: Factory, key: tuple[ApiKey, str]
) -> None:
    authed = relay_factory(trusted=(), preauth_timeout=0.5)
    trusted = relay_factory(preauth_timeout=0.5)  # loopback trusted: no AUTH needed
    wires = [Wire("127.0.0.1", authed.port), Wire("127.0.0.1", trusted.port)]
    for wire in wires:
        wire.command("EHLO client.test")
    assert wires[0].command("AUTH PLAIN " + plain(key[1])) == "235 2.7.0 Authentication successful"
    ends = time.monotonic() + 1.5  # three deadlines
    while time.monotonic() < ends:
        for wire in wires:
            assert wire.command("NOOP").startswith("250 ")
        time.sleep(0.05)
    for wire in wires:
        assert wire.command("MAIL FROM:<app@example.com>") == "250 2.1.0 Ok"


@pytest.mark.parametrize("required", [False, True])
def test_auth_in_the_clear_on_loopback_is_a_setting(
    tmp_path: Path,
    server_cert: trustme.LeafCert,
    ca: trustme.CA,
    key: tuple[ApiKey, str],
    required: bool,
) -> None:
    env = {"POSTWARDEN_RELAY_AUTH_REQUIRE_TLS": "true"} if required else {}
    resolved = resolve_environment(environ=env, dotenv=None)
    assert resolved.relay.auth_require_tls is required
    config = config_from_settings(
        resolved,
        host="127.0.0.1",
        port=0,
        smtps=None,
        tls_context=server_context(server_cert),
        hostname="relay.test",
    )
    relay = RelayThread(config, relay_settings(tmp_path)).start()
    try:
        with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as clear:
            clear.ehlo()
            assert ("auth" in clear.esmtp_features) is not required
            if required:
                with pytest.raises(smtplib.SMTPException):
                    clear.login("app", key[1])
            else:
                assert clear.login("app", key[1])[0] == 235
        context = ssl.create_default_context()
        ca.configure_trust(context)
        with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as secure:
            secure.starttls(context=context)
            assert secure.login("app", key[1])[0] == 235
            assert secure.sendmail("app@example.com", ["alice@example.net"], simple_mail()) == {}
    finally:
        relay.stop()
