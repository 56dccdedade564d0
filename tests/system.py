"""System components the tests need (chromium, swaks, initdb, smtp-sink …).

Missing locally: the test skips and says what to install. Under CI=true a missing
component is a failure: CI must install everything (issue #2)."""

from __future__ import annotations

import glob
import os
import shutil

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(what: str, how: str) -> None:
    """Skip (locally) or fail (CI) because ``what`` is not installed; ``how`` says how to get it."""
    message = f"{what} is not installed ({how})"
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)


def command(name: str, *, package: str | None = None, search: tuple[str, ...] = ()) -> str:
    """The path of ``name`` (also looked for in ``search`` globs), or skip/fail."""
    found = shutil.which(name)
    for pattern in search:
        if found:
            break
        hits = sorted(glob.glob(pattern))
        found = hits[-1] if hits else None
    if not found:
        missing(name, f"apt-get install {package or name}, or run make test as root")
    assert found is not None
    return found
