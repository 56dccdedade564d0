"""core/config/stored.unsealed: the one reading of saved settings rows, for Django and plain SQL."""

from __future__ import annotations

import pytest

from postwarden.core.config.stored import unsealed
from postwarden.core.sealing import Sealer, UnsealError
from postwarden.core.secrets import Secret

KEY = Secret("stored-settings-test-key-0123456789abcdef")


def test_plain_values_need_no_cipher() -> None:
    def no_cipher() -> Sealer:
        raise AssertionError("the cipher was made for rows without a secret")

    assert unsealed([("SMTP_HOST", "mail.example.com", False), ("SMTP_PORT", "587", False)], no_cipher) == {
        "SMTP_HOST": "mail.example.com",
        "SMTP_PORT": "587",
    }


def test_sealed_values_are_unsealed_once_each_and_reported() -> None:
    box = Sealer(KEY)
    made: list[Sealer] = []
    seen: list[str] = []

    def cipher() -> Sealer:
        made.append(Sealer(KEY))
        return made[-1]

    rows = [
        ("SMTP_PASSWORD", box.seal("pw-1"), True),
        ("SMTP_HOST", "mail.example.com", False),
        ("OAUTH2_CLIENT_SECRET", box.seal("cs-2"), True),
    ]
    assert unsealed(rows, cipher, seen.append) == {
        "SMTP_PASSWORD": "pw-1",
        "SMTP_HOST": "mail.example.com",
        "OAUTH2_CLIENT_SECRET": "cs-2",
    }
    assert len(made) == 1
    assert seen == ["pw-1", "cs-2"]


def test_a_value_sealed_with_another_key_is_an_error_not_a_value() -> None:
    other = Sealer(Secret("another-key-entirely-0123456789abcdef00"))
    with pytest.raises(UnsealError):
        unsealed([("SMTP_PASSWORD", other.seal("pw"), True)], lambda: Sealer(KEY))
