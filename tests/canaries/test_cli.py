"""``postwarden canary list|run``: a run driven from the command line to its end, while a
worker sends: here the worker's round runs where the command waits between its passes
(one SQLite test database cannot take a second writer thread)."""

from __future__ import annotations

import io

import pytest

from postwarden.canaries import runner
from postwarden.cli import canary as cli
from postwarden.cli.django_setup import CommandError
from tests.canaries.conftest import Path

pytestmark = pytest.mark.django_db(transaction=True)


def test_run_waits_for_the_result_and_prints_it_in_words(
    canary_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "FIRST_POLL", 0.0)
    monkeypatch.setattr(runner, "MAX_POLL", 0.0)
    canary = canary_path.canary(name="home")
    drive = runner.drive
    monkeypatch.setattr(
        runner,
        "drive",
        lambda ids: drive(ids, settings=canary_path.settings, wait=lambda _: canary_path.send()),
    )
    out = io.StringIO()
    status = cli.run(["run", "--id", str(canary.pk)], out=out)
    lines = out.getvalue().splitlines()
    assert status == 0, lines
    assert lines[0] == "running 1 canary; a worker must be running to send"
    assert lines[1].startswith("home: arrived in inbox in ")
    assert lines[1].endswith(" s, SPF pass, DKIM pass, DMARC pass")
    listing = io.StringIO()
    assert cli.run(["list"], out=listing) == 0
    assert listing.getvalue().startswith(f"{canary.pk}  home  {canary.address}  ok: arrived in inbox in ")


def test_an_unknown_id_is_named(canary_path: Path) -> None:
    with pytest.raises(CommandError, match="no canary with id 999"):
        cli.run(["run", "--id", "999"], out=io.StringIO())
