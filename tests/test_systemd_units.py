"""The systemd units of deploy/systemd/ (issue #19): ``systemd-analyze verify`` accepts
every instance of the template and the split form's target without a single warning (an
unknown or misspelt key is only a warning there), ``systemd-analyze security`` rates the
hardening, and each instance runs a start-up command the CLI has."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from postwarden.cli.main import START_UP
from tests import system

ROOT = Path(__file__).resolve().parents[1]
UNITS = ROOT / "deploy" / "systemd"
#: where the units expect the install (docs/deploy.md)
INSTALLED = "/opt/postwarden/bin/postwarden"
INSTANCES = ("serve", "web", "worker", "relay", "monitor")
#: systemd-analyze security's scale: 0 is locked down, 10 is unprotected; below 2 is "OK"
MOST_EXPOSURE = 2.0


@pytest.fixture
def units(tmp_path: Path) -> Path:
    """The units with ExecStart pointing at this suite's postwarden (verify checks that the
    program exists), and a link per instance as `systemctl enable` makes them."""
    program = Path(sys.executable).parent / "postwarden"
    assert program.is_file()
    for unit in UNITS.iterdir():
        text = unit.read_text()
        assert INSTALLED in text or unit.suffix == ".target"
        (tmp_path / unit.name).write_text(text.replace(INSTALLED, str(program)))
    for instance in INSTANCES:
        (tmp_path / f"postwarden@{instance}.service").symlink_to("postwarden@.service")
    return tmp_path


def analyze(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    tool = system.command("systemd-analyze", package="systemd")
    return subprocess.run([tool, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def test_verify_accepts_every_unit_without_a_warning(units: Path) -> None:
    names = [f"postwarden@{i}.service" for i in INSTANCES] + ["postwarden.target"]
    done = analyze("verify", *names, cwd=units)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr


def test_verify_notices_a_misspelt_key(units: Path) -> None:
    """The check above would see a typo: verify names it (and still exits 0)."""
    template = units / "postwarden@.service"
    template.write_text(template.read_text().replace("ProtectSystem=strict", "ProtectSystm=strict"))
    done = analyze("verify", "postwarden@web.service", cwd=units)
    assert "Unknown key 'ProtectSystm'" in done.stderr


@pytest.mark.parametrize("instance", INSTANCES)
def test_the_hardening_is_rated_ok(units: Path, instance: str) -> None:
    done = analyze("security", "--offline=yes", f"postwarden@{instance}.service", cwd=units)
    found = re.search(r"Overall exposure level for \S+: ([0-9.]+)", done.stdout)
    assert found, done.stdout[-2000:] + done.stderr
    assert float(found.group(1)) <= MOST_EXPOSURE, done.stdout


def test_the_template_keeps_to_its_state_directory() -> None:
    text = (UNITS / "postwarden@.service").read_text()
    for line in (
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "StateDirectory=postwarden",
        "NoNewPrivileges=yes",
        f"ExecStart={INSTALLED} %i",
    ):
        assert re.search(rf"^{re.escape(line)}$", text, re.M), line
    assert set(INSTANCES) <= START_UP  # each instance makes the install when it is the first
    target = (UNITS / "postwarden.target").read_text()
    units = " ".join(f"postwarden@{name}.service" for name in ("web", "worker", "relay", "monitor"))
    assert f"Wants={units}" in target
