"""The machine and software a benchmark ran on, so a reader can compare figures fairly
(send-baselines.md's "Machine" table, gathered by the run itself)."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

PACKAGES = ("django", "django-ninja", "waitress", "aiosmtpd", "psycopg", "pydantic")


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _first(path: str, prefix: str) -> str | None:
    with contextlib.suppress(OSError), open(path) as lines:
        for line in lines:
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip() if ":" in line else line.split("=", 1)[1].strip('"\n')
    return None


def _output(argv: list[str]) -> str | None:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
        if done.returncode == 0:
            return done.stdout.strip()
    return None


def _version(package: str) -> str | None:
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        return importlib.metadata.version(package)
    return None


def source_tree() -> dict[str, Any]:
    """The commit measured, and whether the measured code differed from it."""
    root = Path(__file__).resolve().parent.parent
    commit = _output(["git", "-C", str(root), "rev-parse", "--short", "HEAD"])
    changed = _output(["git", "-C", str(root), "status", "--porcelain", "--", "src", "bench"])
    return {"commit": commit, "uncommitted_changes": bool(changed) if changed is not None else None}


def facts(postgres_bin: Path | None = None) -> dict[str, Any]:
    import postwarden

    memory_kb = _first("/proc/meminfo", "MemTotal")
    return {
        "nproc": os.cpu_count(),
        "cpu_model": _first("/proc/cpuinfo", "model name"),
        "memory_gib": round(int(memory_kb.split()[0]) / 2**20, 1) if memory_kb else None,
        "kernel": platform.release(),
        "os": _first("/etc/os-release", "PRETTY_NAME="),
        "python": platform.python_version(),
        "postwarden": postwarden.__version__,
        **source_tree(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": _output([str(postgres_bin / "postgres"), "--version"]) if postgres_bin else None,
        "postfix": _output(["dpkg-query", "-W", "-f", "${Version}", "postfix"]),
        "packages": {name: _version(name) for name in PACKAGES},
    }
