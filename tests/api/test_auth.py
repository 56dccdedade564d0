"""API key lookup (postwarden.api.auth) against the database: every request reads the key's
row, so a changed scope, a new name or a revocation counts from the next request on even
though the key's model instance is cached; a key's first use is recorded; anything that is
not a stored key is None, never an error."""

from __future__ import annotations

import pytest
from django.utils import timezone

from postwarden.accounts.models import ApiKey
from postwarden.api import auth

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_caches() -> None:
    # the caches are per process: another test's keys (same primary keys) must not leak in
    auth._instances.clear()
    auth._touched.clear()


def test_a_changed_scope_counts_from_the_next_lookup() -> None:
    row, plain = ApiKey.issue("app", ["send"])
    first = auth.lookup(plain)
    assert first is not None
    assert (first.allows("send"), first.allows("read")) == (True, False)
    ApiKey.objects.filter(pk=row.pk).update(scopes=["read"])
    second = auth.lookup(plain)
    assert second is not None
    assert (second.allows("send"), second.allows("read")) == (False, True)
    ApiKey.objects.filter(pk=row.pk).update(scopes=["admin"])
    third = auth.lookup(plain)
    assert third is not None
    assert third.allows("suppressions")


def test_a_renamed_key_is_read_again_and_a_revoked_one_is_refused() -> None:
    row, plain = ApiKey.issue("app", ["send"])
    assert auth.lookup(plain) is not None
    ApiKey.objects.filter(pk=row.pk).update(name="renamed")
    renamed = auth.lookup(plain)
    assert renamed is not None
    assert renamed.name == "renamed"
    ApiKey.objects.filter(pk=row.pk).update(revoked_at=timezone.now())
    assert auth.lookup(plain) is None


def test_the_first_use_is_recorded() -> None:
    row, plain = ApiKey.issue("app", ["send"])
    assert ApiKey.objects.get(pk=row.pk).last_used_at is None
    assert auth.lookup(plain) is not None
    assert ApiKey.objects.get(pk=row.pk).last_used_at is not None


@pytest.mark.parametrize(
    "key",
    ["", "pw", "pw_", "pw_x", "pw_unknownprefix_secret", "sk_live_abc", "pw__", "_pw_a_b"],
)
def test_what_is_not_a_stored_key_is_none(key: str) -> None:
    ApiKey.issue("app", ["send"])
    assert auth.lookup(key) is None


def test_a_key_with_the_right_prefix_and_a_wrong_secret_is_none() -> None:
    _, plain = ApiKey.issue("app", ["send"])
    # the secret itself may hold "_" (URL-safe base64): split after the prefix, and change
    # its last character, so the wrong key is never the right one (a reversed tail of one
    # character after a "_" was)
    pw, prefix, secret = plain.split("_", 2)
    wrong = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    assert auth.lookup(f"{pw}_{prefix}_{wrong}") is None
    assert auth.lookup(plain) is not None
