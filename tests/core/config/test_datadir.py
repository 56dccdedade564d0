"""One data location per install (issue #19), whatever directory a command runs from:
POSTWARDEN_DATA_DIR, else systemd's STATE_DIRECTORY, else the checkout's data/, else
the XDG data directory of the user."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from types import ModuleType

import pytest

import postwarden.core.config.datadir as datadir
from postwarden.core.config.model import Origin
from postwarden.core.config.resolve import Layer, resolve

CHECKOUT = Path(__file__).resolve().parents[3]


def env(**values: str) -> Layer:
    return Layer(Origin.ENV, values)


def test_a_checkout_keeps_its_data_at_its_root_from_any_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = resolve(env(HOME=str(tmp_path)))
    assert settings.service.data_dir == CHECKOUT / "data"
    assert settings.service.database_url == f"sqlite:///{CHECKOUT / 'data' / 'postwarden.sqlite3'}"
    assert settings.source("POSTWARDEN_DATA_DIR").describe() == "default (the checkout's data/)"


def test_systemd_state_directory_comes_before_the_checkout() -> None:
    settings = resolve(env(STATE_DIRECTORY="/var/lib/postwarden:/var/lib/other"))
    assert settings.service.data_dir == Path("/var/lib/postwarden")
    assert "STATE_DIRECTORY" in settings.source("POSTWARDEN_DATA_DIR").describe()


def test_the_variable_wins_and_a_relative_one_is_taken_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = resolve(env(POSTWARDEN_DATA_DIR="here", STATE_DIRECTORY="/var/lib/postwarden"))
    assert settings.service.data_dir == tmp_path / "here"
    assert settings.source("POSTWARDEN_DATA_DIR").origin is Origin.ENV


def installed_copy(tmp_path: Path) -> ModuleType:
    """The same module file, placed as a pip-installed package places it."""
    target = tmp_path / "lib" / "python3" / "site-packages" / "postwarden" / "core" / "config" / "datadir.py"
    target.parent.mkdir(parents=True)
    shutil.copy(datadir.__file__, target)
    spec = importlib.util.spec_from_file_location("installed_datadir", target)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_an_installed_package_uses_the_users_data_directory(tmp_path: Path) -> None:
    installed = installed_copy(tmp_path)
    assert installed.checkout_root() is None
    home = tmp_path / "home"
    assert installed.default_data_dir({"HOME": str(home)})[0] == home / ".local/share/postwarden"
    xdg = installed.default_data_dir({"HOME": str(home), "XDG_DATA_HOME": str(tmp_path / "xdg")})
    assert xdg[0] == tmp_path / "xdg" / "postwarden"
    # the XDG spec: a relative XDG_DATA_HOME is invalid and ignored
    assert installed.default_data_dir({"HOME": str(home), "XDG_DATA_HOME": "rel"})[0] == (
        home / ".local/share/postwarden"
    )
    assert installed.default_data_dir({"STATE_DIRECTORY": "/var/lib/postwarden"})[0] == Path(
        "/var/lib/postwarden"
    )
