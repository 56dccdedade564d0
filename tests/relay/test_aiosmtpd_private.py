"""A tripwire for what the relay takes from aiosmtpd's private side
(relay/aiosmtpd_private.py): it fails, naming the name, when the installed aiosmtpd is not
the pinned one, when a private method the relay overrides or calls is gone or has other
arguments, when a private attribute it reads is no longer set by aiosmtpd, or when a
session class overrides or sets one of aiosmtpd's private names without it being listed."""

from __future__ import annotations

import inspect
import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP

from postwarden.bounces.listener import BounceSMTP
from postwarden.relay import aiosmtpd_private as private
from postwarden.relay.protocol import RelaySMTP

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
AIOSMTPD_SOURCE = inspect.getsource(SMTP)


def assigned(source: str) -> set[str]:
    """The ``self._name`` attributes a class's source assigns."""
    return set(re.findall(r"self\.(_[a-z]\w*)\s*(?::[^=\n]+)?=(?!=)", source))


def test_the_installed_aiosmtpd_is_the_pinned_one() -> None:
    pins = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    assert f"aiosmtpd=={private.PINNED}" in pins, (
        "pyproject pins another aiosmtpd than aiosmtpd_private.PINNED"
    )
    assert version("aiosmtpd") == private.PINNED, (
        f"aiosmtpd {version('aiosmtpd')} is installed; relay/aiosmtpd_private.py was read against "
        f"{private.PINNED}: check its names in the new smtp.py, then raise PINNED"
    )


@pytest.mark.parametrize(("name", "signature"), sorted(private.OVERRIDDEN.items()))
def test_the_private_methods_it_overrides_are_there_with_their_signatures(name: str, signature: str) -> None:
    theirs = getattr(SMTP, name, None)
    assert theirs is not None, f"aiosmtpd's SMTP.{name} is gone: SessionHooks overrides nothing"
    assert str(inspect.signature(theirs)) == signature, f"aiosmtpd's SMTP.{name} changed its arguments"
    ours = private.SessionHooks.__dict__[name]
    assert inspect.iscoroutinefunction(ours) == inspect.iscoroutinefunction(theirs), name


@pytest.mark.parametrize("name", sorted(private.CALLED))
def test_the_private_methods_it_calls_are_there_with_their_signatures(name: str) -> None:
    theirs = getattr(SMTP, name, None)
    assert theirs is not None, f"aiosmtpd's SMTP.{name} is gone"
    assert str(inspect.signature(theirs)) == private.CALLED[name][0], f"aiosmtpd's SMTP.{name} changed"


@pytest.mark.parametrize("name", sorted(private.USED))
def test_the_private_attributes_it_reads_are_still_set_by_aiosmtpd(name: str) -> None:
    assert name in assigned(AIOSMTPD_SOURCE), f"aiosmtpd's SMTP no longer sets self.{name}"


def test_only_session_hooks_overrides_aiosmtpds_private_methods_and_only_the_listed_ones() -> None:
    def private_overrides(cls: type) -> set[str]:
        return {
            name
            for name in vars(cls)
            if name.startswith("_") and not name.startswith("__") and hasattr(SMTP, name)
        }

    assert private_overrides(private.SessionHooks) == set(private.OVERRIDDEN)
    assert private_overrides(RelaySMTP) == set()
    assert private_overrides(BounceSMTP) == set()


def test_the_sessions_set_no_private_attribute_of_aiosmtpd_that_is_not_listed() -> None:
    theirs = assigned(AIOSMTPD_SOURCE)
    for cls in (private.SessionHooks, RelaySMTP, BounceSMTP):
        clashes = (assigned(inspect.getsource(cls)) & theirs) - set(private.USED)
        assert clashes == set(), f"{cls.__name__} sets aiosmtpd's own {sorted(clashes)}"


def test_the_recorded_names_are_all_used_by_the_relay() -> None:
    """No stale entry: each listed name appears in the relay's session code."""
    code = inspect.getsource(private.SessionHooks) + inspect.getsource(RelaySMTP)
    for name in [*private.CALLED, *private.USED]:
        assert f"self.{name}" in code or f'"{name}"' in code, name
