"""VERP return paths: the token names message and recipient and cannot be forged."""

from __future__ import annotations

import pytest

from postwarden.core.secrets import Secret
from postwarden.core.verp import PREFIX, BadToken, Target, Verp

KEY = Secret("k" * 48)


def test_a_return_path_names_its_message_and_recipient_and_survives_case_folding() -> None:
    verp = Verp("Bounces.Example.com", KEY)
    address = verp.address(12345, 987654321)
    assert address.startswith(PREFIX)
    assert address.endswith("@bounces.example.com")
    local = address.partition("@")[0]
    assert len(local) <= 64  # RFC 5321 4.5.3.1.1
    assert verp.check(address) == Target(12345, 987654321)
    assert verp.check(address.upper()) == Target(12345, 987654321)
    assert verp.check(f"<{address}>") == Target(12345, 987654321)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda a: a.replace(".", ".1", 1),  # another message id, same MAC
        lambda a: a[: a.index("@") - 1] + ("a" if a[a.index("@") - 1] != "a" else "b") + a[a.index("@") :],
        lambda a: a.replace("@bounces.example.com", "@other.example.com"),
        lambda a: a.replace(PREFIX, "bounce+"),
        lambda a: a.split(".", 1)[0] + "@bounces.example.com",
        lambda a: PREFIX + "zz.zz.zzzzzzzzzzzzzzzz@bounces.example.com",
        lambda a: PREFIX + "1.2.3.4@bounces.example.com",
        lambda a: PREFIX + "-1.2.aaaaaaaaaaaaaaaa@bounces.example.com",
        lambda a: PREFIX + "ë.2.aaaaaaaaaaaaaaaa@bounces.example.com",
    ],
)
def test_a_changed_or_invented_token_is_refused(mangle: object) -> None:
    verp = Verp("bounces.example.com", KEY)
    address = verp.address(7, 8)
    assert callable(mangle)
    with pytest.raises(BadToken):
        verp.check(mangle(address))


def test_a_token_made_with_another_secret_key_is_refused() -> None:
    address = Verp("bounces.example.com", Secret("another key " * 4)).address(7, 8)
    with pytest.raises(BadToken, match="does not verify"):
        Verp("bounces.example.com", KEY).check(address)


def test_the_key_is_not_the_secret_key_itself() -> None:
    import hashlib
    import hmac

    verp = Verp("bounces.example.com", KEY)
    token = verp.token(7, 8)
    raw_mac = hmac.new(KEY.reveal().encode(), b"7.8", hashlib.sha256).hexdigest()
    assert raw_mac[:16] not in token
    assert "k" * 8 not in repr(verp)


def test_it_needs_a_key_and_a_domain() -> None:
    with pytest.raises(ValueError, match="SECRET_KEY"):
        Verp("bounces.example.com", Secret(""))
    with pytest.raises(ValueError, match="BOUNCE_DOMAIN"):
        Verp("", KEY)
