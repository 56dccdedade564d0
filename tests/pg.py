"""A throwaway PostgreSQL cluster for the tests that need several processes on one database.

``initdb`` + ``pg_ctl`` into a temporary directory, listening on a free loopback port,
run as the ``postgres`` user when the tests run as root (PostgreSQL refuses to run as
root). Missing locally: the test skips and says what to install; under CI=true it fails
(tests/system.py). The cluster is always stopped at teardown: ``pg_ctl stop``, then the
postmaster's pid if that did not work.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import system
from tests.ports import free_port

#: seconds pg_ctl may take to start or stop the cluster
PG_TIMEOUT = 60


@dataclass(frozen=True)
class Cluster:
    directory: Path
    port: int
    bin_dir: Path

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def database_url(self, name: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def createdb(self, name: str) -> str:
        """A new empty database; returns its URL."""
        _run(
            self,
            [str(self.bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name],
        )
        return self.database_url(name)


def _as_postgres() -> list[str]:
    """The prefix that runs a command as ``postgres`` when we are root."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        system.missing("the postgres system user", "apt-get install postgresql creates it")
    runuser = shutil.which("runuser") or shutil.which("su")
    assert runuser is not None
    return [runuser, "-u", "postgres", "--"] if runuser.endswith("runuser") else [runuser, "postgres", "-c"]


def _run(cluster: Cluster | None, argv: list[str], timeout: float = PG_TIMEOUT) -> None:
    done = subprocess.run(
        [*_as_postgres(), *argv], capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{argv[0]} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}"
        )


def start_cluster() -> Cluster:
    initdb = Path(
        system.command("initdb", package="postgresql", search=("/usr/lib/postgresql/*/bin/initdb",))
    )
    bin_dir = initdb.resolve().parent
    directory = Path(tempfile.mkdtemp(prefix="postwarden-pg-"))
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(directory, entry.pw_uid, entry.pw_gid)
    data = directory / "data"
    _run(None, [str(initdb), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"])
    cluster = Cluster(directory, free_port(), bin_dir)
    _start_server(cluster)
    return cluster


def _start_server(cluster: Cluster) -> None:
    options = (
        f"-c listen_addresses=127.0.0.1 -c port={cluster.port} "
        f"-c unix_socket_directories={cluster.directory} -c max_connections=100 -c fsync=off"
    )
    _run(
        cluster,
        [
            str(cluster.bin_dir / "pg_ctl"),
            "-D",
            str(cluster.directory / "data"),
            "-o",
            options,
            "-l",
            str(cluster.directory / "log"),
            "-w",
            "-t",
            str(PG_TIMEOUT),
            "start",
        ],
    )


def restart_cluster(cluster: Cluster, down_for: float) -> None:
    """Stop the server (fast: clients are disconnected), leave it down ``down_for``
    seconds, start it again on the same port with the same data."""
    data = cluster.directory / "data"
    _run(cluster, [str(cluster.bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"])
    time.sleep(down_for)
    _start_server(cluster)


def stop_cluster(cluster: Cluster) -> None:
    data = cluster.directory / "data"
    try:
        _run(cluster, [str(cluster.bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"])
    except (RuntimeError, subprocess.TimeoutExpired):
        _kill_postmaster(data)
    shutil.rmtree(cluster.directory, ignore_errors=True)


def _kill_postmaster(data: Path) -> None:
    try:
        pid = int((data / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    for sig in (signal.SIGQUIT, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        time.sleep(1.0)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """A running cluster for this test session (stopped at the end, whatever happens)."""
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        stop_cluster(cluster)
