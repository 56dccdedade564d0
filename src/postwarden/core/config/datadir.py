"""Where an install keeps its data when ``POSTWARDEN_DATA_DIR`` is not set (docs/deploy.md).

One place per install, whatever directory a command is run from: a command run from
another directory used to make and use a second, empty install in ``./data`` there.

- a system service under systemd: ``$STATE_DIRECTORY`` (``StateDirectory=postwarden``
  makes it ``/var/lib/postwarden``);
- a git checkout (``make run``, an editable install): ``data/`` at the checkout's root;
- an installed package (pip, pipx): ``$XDG_DATA_HOME/postwarden``, by default
  ``~/.local/share/postwarden``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


def checkout_root() -> Path | None:
    """The git checkout this code runs from (``src/postwarden/core/config`` of one), or
    None for an installed package."""
    src = Path(__file__).resolve().parents[3]
    if src.name == "src" and (src.parent / "pyproject.toml").is_file():
        return src.parent
    return None


def default_data_dir(environ: Mapping[str, str]) -> tuple[Path, str]:
    """The data directory and a few words on why it is that one (shown as its source)."""
    state = environ.get("STATE_DIRECTORY", "").split(":")[0].strip()
    if state:
        return Path(state), "systemd's STATE_DIRECTORY"
    root = checkout_root()
    if root is not None:
        return root / "data", "the checkout's data/"
    xdg = environ.get("XDG_DATA_HOME", "").strip()
    if xdg and Path(xdg).is_absolute():  # the XDG spec: a relative value is ignored
        return Path(xdg) / "postwarden", "XDG_DATA_HOME/postwarden"
    home = environ.get("HOME", "").strip()
    base = Path(home) if home else Path.home()
    return base / ".local" / "share" / "postwarden", "~/.local/share/postwarden"
