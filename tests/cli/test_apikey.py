"""``postwarden apikey``: the key is the last line of ``create``, works for the API,
is listed without its secret, and stops working when revoked."""

from __future__ import annotations

import io
import logging

import pytest

from postwarden.accounts.models import ApiKey
from postwarden.api.auth import lookup
from postwarden.cli.apikey import run
from postwarden.cli.main import main

pytestmark = pytest.mark.django_db


def call(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return run(list(argv), out=out, err=err), out.getvalue(), err.getvalue()


def test_it_prints_a_working_key_as_the_last_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    status, out, _ = call("create", "--name", "billing", "--scope", "send", "--scope", "read")
    key = out.splitlines()[-1]
    assert status == 0
    assert key.startswith("pw_")
    row = lookup(key)
    assert row is not None
    assert (row.name, row.scopes) == ("billing", ["read", "send"])
    assert key not in row.key_hash
    assert key not in caplog.text
    assert (
        out.splitlines()[0]
        == f"Created API key {row.pk} 'billing': scopes read, send, prefix pw_{row.prefix}"
    )


def test_it_is_reached_through_the_postwarden_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["apikey", "create", "--name", "ci", "--scope", "admin"]) == 0
    key = capsys.readouterr().out.splitlines()[-1]
    assert lookup(key) is not None


def test_it_lists_keys_without_their_secret() -> None:
    _, out, _ = call("create", "--name", "crm", "--scope", "read")
    key = out.splitlines()[-1]
    status, listing, _ = call("list")
    assert status == 0
    lines = listing.splitlines()
    assert lines[0].split() == ["ID", "PREFIX", "NAME", "SCOPES", "CREATED", "LAST", "USED", "STATE"]
    row = ApiKey.objects.get()
    assert lines[1].split()[:4] == [str(row.pk), f"pw_{row.prefix}", "crm", "read"]
    assert lines[1].split()[-1] == "active"
    assert key not in listing


@pytest.mark.parametrize("by", ["id", "prefix", "pw_prefix"])
def test_it_revokes_by_id_or_prefix(by: str) -> None:
    _, out, _ = call("create", "--name", "old", "--scope", "send")
    key = out.splitlines()[-1]
    row = ApiKey.objects.get()
    target = {"id": str(row.pk), "prefix": row.prefix, "pw_prefix": f"pw_{row.prefix}"}[by]
    status, said, _ = call("revoke", target)
    assert (status, said) == (0, f"Revoked API key {row.pk} 'old'\n")
    assert lookup(key) is None
    assert "revoked" in call("list", "--all")[1]
    assert call("list")[1].count("\n") == 1  # the header only


def test_a_prefix_of_decimal_digits_is_taken_as_the_prefix() -> None:
    """8 hex digits are all decimal ones about one time in 43: such a prefix was read as an
    id and matched no key (or another one)."""
    call("create", "--name", "other", "--scope", "send")
    call("create", "--name", "digits", "--scope", "send")
    ApiKey.objects.filter(name="digits").update(prefix="12345678")
    row = ApiKey.objects.get(name="digits")
    status, said, _ = call("revoke", "12345678")
    assert (status, said) == (0, f"Revoked API key {row.pk} 'digits'\n")
    assert ApiKey.objects.get(name="other").revoked_at is None


def test_it_says_when_no_key_matches_without_echoing_a_pasted_key() -> None:
    status, _, err = call("revoke", "pw_deadbeef_thisIsTheSecretPart")
    assert status == 1
    assert err == "postwarden apikey: no key with id or prefix 'pw_deadbeef'\n"


def test_it_refuses_an_unknown_scope(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run(["create", "--name", "x", "--scope", "everything"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'everything'" in capsys.readouterr().err
    assert not ApiKey.objects.exists()
