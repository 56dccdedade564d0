"""Stored secrets are sealed with a key derived from POSTWARDEN_SECRET_KEY: they read back
with that key only, tampering is detected, and neither key nor value ever shows."""

from __future__ import annotations

import base64
import re

import pytest

from postwarden.core.sealing import PREFIX, Sealer, UnsealError, generate_secret_key, is_sealed
from postwarden.core.secrets import Secret

KEY = Secret("k3y-for-tests-7f0e9c1d2b3a4e5f6a7b8c9d0e1f2a3b4c5d6e7f")
OTHER_KEY = Secret("another-key-0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b")
#: distinctive, so that a leak anywhere is found by a plain substring search
PASSWORD = "Ωmega-p4ss-ZQX-314159"
WRONG_KEY_MESSAGE = (
    "this value was encrypted with another POSTWARDEN_SECRET_KEY (or was altered); re-enter it in the console"
)


def test_it_reads_back_what_it_sealed() -> None:
    box = Sealer(KEY)
    assert box.unseal(box.seal(PASSWORD)) == Secret(PASSWORD)
    assert box.unseal(box.seal(Secret(PASSWORD))).reveal() == PASSWORD
    assert box.unseal(box.seal("")).reveal() == ""


def test_it_names_its_scheme_and_never_repeats_a_token() -> None:
    box = Sealer(KEY)
    first, second = box.seal(PASSWORD), box.seal(PASSWORD)
    assert first.startswith("pw1:")
    assert first != second
    assert is_sealed(first)
    assert not is_sealed(PASSWORD)


def test_it_keeps_the_plaintext_out_of_the_token() -> None:
    token = Sealer(KEY).seal(PASSWORD)
    encoded = [
        PASSWORD,
        base64.b64encode(PASSWORD.encode()).decode(),
        base64.urlsafe_b64encode(PASSWORD.encode()),
    ]
    assert not any(str(form).strip("=") in token for form in encoded)
    assert "4ss" not in token


def test_it_refuses_a_token_made_with_another_key() -> None:
    token = Sealer(OTHER_KEY).seal(PASSWORD)
    with pytest.raises(UnsealError) as info:
        Sealer(KEY).unseal(token)
    assert str(info.value) == WRONG_KEY_MESSAGE


@pytest.mark.parametrize("position", [len(PREFIX) + 2, 40, -5])
def test_it_detects_a_tampered_token(position: int) -> None:
    token = Sealer(KEY).seal(PASSWORD)
    at = position % len(token)
    tampered = token[:at] + ("A" if token[at] != "A" else "B") + token[at + 1 :]
    with pytest.raises(UnsealError) as info:
        Sealer(KEY).unseal(tampered)
    assert str(info.value) == WRONG_KEY_MESSAGE


@pytest.mark.parametrize("token", ["pw1:", "pw1:not-base64-!!", "pw1:Ωmega"])
def test_it_refuses_garbage_after_the_prefix(token: str) -> None:
    with pytest.raises(UnsealError) as info:
        Sealer(KEY).unseal(token)
    assert str(info.value) == WRONG_KEY_MESSAGE


def test_it_refuses_a_value_that_was_never_sealed() -> None:
    with pytest.raises(UnsealError) as info:
        Sealer(KEY).unseal(PASSWORD)
    assert str(info.value) == "this value is not a sealed secret (it does not start with 'pw1:')"
    assert PASSWORD not in str(info.value)


def test_it_unseals_with_a_previous_key_after_rotation() -> None:
    old_token = Sealer(OTHER_KEY).seal(PASSWORD)
    rotated = Sealer(KEY, previous_keys=[OTHER_KEY])
    assert rotated.unseal(old_token).reveal() == PASSWORD
    resealed = rotated.reseal(old_token)
    assert Sealer(KEY).unseal(resealed).reveal() == PASSWORD
    with pytest.raises(UnsealError):
        Sealer(OTHER_KEY).unseal(resealed)


def test_it_does_not_show_its_key() -> None:
    box = Sealer(KEY)
    shown = [repr(box), str(box), f"{box}"]
    assert shown == ["Sealer(secret_key=Secret('••••'))"] * 3
    assert not hasattr(box, "__dict__")


def test_it_refuses_an_empty_key() -> None:
    with pytest.raises(ValueError, match=r"^POSTWARDEN_SECRET_KEY is empty: stored secrets cannot be sealed"):
        Sealer(Secret(""))


def test_it_generates_long_url_safe_keys() -> None:
    keys = {generate_secret_key() for _ in range(20)}
    assert len(keys) == 20
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{64}", key) for key in keys)
