"""AUTH on the relay: an API key with the ``send`` scope is the password (any username),
PLAIN and LOGIN, only after TLS unless on loopback (or on the implicit-TLS port),
535 for anything else, a brake on guessing, and the key never shown anywhere."""

from __future__ import annotations

import base64
import logging
import smtplib
import ssl
from collections.abc import Callable

import pytest
import trustme
from django.utils import timezone

from postwarden.accounts.models import ApiKey
from postwarden.outbox.models import Event, Message
from postwarden.relay.auth import FailureThrottle, credential_digest
from tests.relay.helpers import RelayThread, Wire, message, simple_mail

pytestmark = pytest.mark.django_db(transaction=True)

Factory = Callable[..., RelayThread]
INVALID = "535 5.7.8 Authentication credentials invalid"


def plain(user: str, password: str) -> str:
    return base64.b64encode(f"\0{user}\0{password}".encode()).decode()


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def test_it_takes_an_api_key_as_the_password_whatever_the_username(
    relay_factory: Factory, key: tuple[ApiKey, str]
) -> None:
    row, secret = key
    relay = relay_factory(trusted=())
    with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as client:
        assert client.login("whoever", secret) == (235, b"2.7.0 Authentication successful")
        client.sendmail("app@example.com", ["alice@example.net"], simple_mail())
    stored = Message.objects.get()
    assert (stored.source, stored.api_key_id) == ("relay", row.pk)


def test_it_speaks_login_too(relay_factory: Factory, key: tuple[ApiKey, str]) -> None:
    _, secret = key
    relay = relay_factory(trusted=())
    wire = Wire("127.0.0.1", relay.port)
    assert "250-AUTH LOGIN PLAIN" in wire.command("EHLO client.test")
    assert wire.command("AUTH LOGIN") == "334 " + base64.b64encode(b"Username:").decode()
    assert (
        wire.command(base64.b64encode(b"mattermost").decode())
        == "334 " + base64.b64encode(b"Password:").decode()
    )
    assert wire.command(base64.b64encode(secret.encode()).decode()) == "235 2.7.0 Authentication successful"
    assert wire.command("MAIL FROM:<app@example.com>") == "250 2.1.0 Ok"


@pytest.mark.parametrize("which", ["unknown", "no send scope", "revoked", "garbage", "empty"])
def test_it_refuses_anything_but_an_active_send_key_with_535(relay_factory: Factory, which: str) -> None:
    _, good = ApiKey.issue("app", ["send"])
    _, reader = ApiKey.issue("reader", ["read"])
    revoked_row, revoked = ApiKey.issue("old", ["send"])
    ApiKey.objects.filter(pk=revoked_row.pk).update(revoked_at=timezone.now())
    password = {
        "unknown": good[:-4] + "AAAA",
        "no send scope": reader,
        "revoked": revoked,
        "garbage": "hunter2",
        "empty": "",
    }[which]
    relay = relay_factory(trusted=())
    wire = Wire("127.0.0.1", relay.port)
    wire.command("EHLO client.test")
    expected = "501 5.5.2 Error: PLAIN takes authzid NUL user NUL password" if which == "empty" else INVALID
    assert wire.command("AUTH PLAIN " + (plain("app", password) if password else "=")) == expected
    assert wire.command("MAIL FROM:<app@example.com>") == "530 5.7.0 Authentication required"


def test_it_asks_everyone_outside_the_trusted_networks_to_authenticate(relay_factory: Factory) -> None:
    relay = relay_factory(trusted=())
    wire = Wire("127.0.0.1", relay.port)
    wire.command("EHLO client.test")
    assert wire.command("MAIL FROM:<app@example.com>") == "530 5.7.0 Authentication required"


def test_it_wants_tls_before_auth_from_a_client_that_is_not_local(
    relay_factory: Factory, key: tuple[ApiKey, str], ca: trustme.CA
) -> None:
    _, secret = key
    relay = relay_factory(trusted=(), plain_auth=())  # as if the client were on another machine
    wire = Wire("127.0.0.1", relay.port)
    offered = wire.command("EHLO client.test")
    assert "AUTH" not in offered
    assert "250-STARTTLS" in offered
    assert wire.command("AUTH PLAIN " + plain("app", secret)) == (
        "538 5.7.11 Encryption required for requested authentication mechanism"
    )
    with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as client:
        client.starttls(context=client_context(ca))
        client.ehlo()
        assert "LOGIN PLAIN" in client.esmtp_features["auth"]
        assert client.login("app", secret)[0] == 235


def test_it_offers_auth_at_once_on_the_implicit_tls_port(
    relay_factory: Factory, key: tuple[ApiKey, str], ca: trustme.CA
) -> None:
    _, secret = key
    relay = relay_factory(trusted=(), plain_auth=())
    with smtplib.SMTP_SSL("127.0.0.1", relay.smtps_port, context=client_context(ca), timeout=10) as client:
        client.ehlo()
        assert "starttls" not in client.esmtp_features
        assert client.login("app", secret)[0] == 235
        client.sendmail("app@example.com", ["alice@example.net"], simple_mail())
    assert Message.objects.count() == 1


THROTTLED = "454 4.7.0 Error: this password failed too many times; try again later"
GUESSING = "421 4.7.0 Error: too many failed authentication attempts from this address; closing"


def test_a_stale_key_on_one_app_never_locks_out_the_other_apps_on_its_address(
    relay_factory: Factory, key: tuple[ApiKey, str]
) -> None:
    """Several apps on one host use the relay from 127.0.0.1; one has a stale key."""
    _, secret = key
    stale = secret[:-4] + "AAAA"
    relay = relay_factory(trusted=())
    codes = []
    for _ in range(5):  # the stale app retries, as apps do, on new connections
        with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as stale_app:
            # smtplib tries PLAIN, then LOGIN: two failures per login
            with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
                stale_app.login("metabase", stale)
            codes.append((refused.value.smtp_code, refused.value.smtp_error))
    invalid = (535, INVALID[4:].encode())
    assert codes == [invalid, invalid] + [(454, THROTTLED[4:].encode())] * 3
    # the other app, same address, right after: its good key passes and its mail is taken
    with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as good_app:
        assert good_app.login("mattermost", secret)[0] == 235
        assert good_app.sendmail("app@example.com", ["alice@example.net"], simple_mail()) == {}
    assert Message.objects.count() == 1


def test_a_throttled_password_is_not_looked_up_and_the_right_one_passes_on_the_same_session(
    relay_factory: Factory, key: tuple[ApiKey, str]
) -> None:
    _, secret = key
    relay = relay_factory(trusted=(), auth_failures=3)
    wire = Wire("127.0.0.1", relay.port)
    wire.command("EHLO client.test")
    for _ in range(3):
        assert wire.command("AUTH PLAIN " + plain("app", "pw_aaaa_x")) == INVALID
    assert wire.command("AUTH PLAIN " + plain("app", "pw_bbbb_y")) == INVALID  # another password: looked up
    assert wire.command("AUTH PLAIN " + plain("app", secret)) == "235 2.7.0 Authentication successful"
    again = Wire("127.0.0.1", relay.port)
    again.command("EHLO client.test")
    assert again.command("AUTH PLAIN " + plain("app", "pw_aaaa_x")) == THROTTLED
    assert again.command("AUTH PLAIN " + plain("app", secret)) == "235 2.7.0 Authentication successful"


def test_an_address_that_keeps_guessing_pays_a_connection_a_guess_but_a_good_key_passes(
    relay_factory: Factory, key: tuple[ApiKey, str]
) -> None:
    _, secret = key
    relay = relay_factory(trusted=(), auth_address_failures=4)
    wire = Wire("127.0.0.1", relay.port)
    wire.command("EHLO client.test")
    for guess in ("pw_aaaa_1", "pw_aaaa_2", "pw_aaaa_3"):
        assert wire.command("AUTH PLAIN " + plain("app", guess)) == INVALID
    assert wire.command("AUTH PLAIN " + plain("app", "pw_aaaa_4")) == GUESSING
    assert wire.closed()
    for guess in ("pw_aaaa_5", "pw_aaaa_6"):  # each new guess is looked up, then the session ends
        one = Wire("127.0.0.1", relay.port)
        one.command("EHLO client.test")
        assert one.command("AUTH PLAIN " + plain("app", guess)) == GUESSING
        assert one.closed()
    with smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as good_app:
        assert good_app.login("app", secret)[0] == 235
        assert good_app.sendmail("app@example.com", ["alice@example.net"], simple_mail()) == {}


def test_the_throttle_forgets_old_failures_and_stays_bounded() -> None:
    now = [0.0]
    throttle = FailureThrottle(limit=2, window=60.0, address_limit=3, clock=lambda: now[0], max_keys=100)
    stale = credential_digest(b"pw_stale")
    throttle.failed("192.0.2.1", stale)
    throttle.failed("192.0.2.1", stale)
    assert throttle.blocked(stale)
    assert not throttle.blocked(credential_digest(b"pw_other"))
    assert not throttle.exhausted("192.0.2.1")
    throttle.failed("192.0.2.1", credential_digest(b"pw_other"))
    assert throttle.exhausted("192.0.2.1")
    assert not throttle.exhausted("192.0.2.2")
    now[0] = 61.0
    assert not throttle.blocked(stale)
    assert not throttle.exhausted("192.0.2.1")
    for n in range(1000):  # a flood of addresses and passwords
        throttle.failed(f"10.0.{n // 256}.{n % 256}", credential_digest(str(n).encode()))
    assert len(throttle._credentials._times) <= 100
    assert len(throttle._addresses._times) <= 100
    assert stale not in throttle._credentials._times


def test_it_refuses_auth_inside_a_mail_transaction(relay_factory: Factory, key: tuple[ApiKey, str]) -> None:
    relay = relay_factory()  # loopback trusted: MAIL works without AUTH
    wire = Wire("127.0.0.1", relay.port)
    wire.command("EHLO client.test")
    wire.command("MAIL FROM:<app@example.com>")
    assert wire.command("AUTH PLAIN " + plain("app", key[1])) == (
        "503 5.5.1 Error: AUTH is not allowed during a mail transaction"
    )


def test_it_never_shows_the_key_in_replies_logs_or_stored_rows(
    relay_factory: Factory, key: tuple[ApiKey, str], caplog: pytest.LogCaptureFixture
) -> None:
    row, secret = key
    caplog.set_level(logging.DEBUG)  # aiosmtpd's own logger included
    relay = relay_factory(trusted=())
    wire = Wire("127.0.0.1", relay.port)
    replies = [wire.command("EHLO client.test")]
    replies.append(wire.command("AUTH PLAIN " + plain("app", secret + "x")))  # a wrong one first
    replies.append(wire.command("AUTH LOGIN " + base64.b64encode(b"app").decode()))
    replies.append(wire.command(base64.b64encode(secret.encode()).decode()))
    replies.append(wire.command("MAIL FROM:<app@example.com>"))
    replies.append(wire.command("RCPT TO:<alice@example.net>"))
    replies.append(wire.command("DATA"))
    wire.send(simple_mail() + b".\r\n")
    replies.append(wire.reply())
    replies.append(wire.command("QUIT"))
    stored = Message.objects.get(public_id=message(replies[-2]))
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    everything = "\n".join(
        [*replies, logged, repr(stored.__dict__), *Event.objects.values_list("detail", flat=True)]
    )
    assert replies[3] == "235 2.7.0 Authentication successful"
    assert secret not in everything
    # the key's random part: pw_<prefix>_<token_urlsafe>, whose alphabet has "_" too
    assert secret.split("_", 2)[2] not in everything
    accepted = [r for r in caplog.records if r.getMessage().startswith("relay accepted")]
    assert [(r.__dict__["key"], r.__dict__["client"], r.__dict__["recipients"]) for r in accepted] == [
        (row.name, "127.0.0.1", ["ali***@example.net"])
    ]
