"""A throwaway PostgreSQL cluster for ``pg_delivery_msgs_s``: tests/pg.py's way (``initdb``
+ ``pg_ctl`` into a temporary directory, a free loopback port, run as ``postgres`` when we
are root, stopped by ``pg_ctl stop`` or the postmaster's PID), with one difference that
matters for a throughput figure: ``fsync`` stays on (PostgreSQL's default), so every
commit is as durable as SQLite's ``synchronous=FULL`` (send-baselines.md measured
PostgreSQL that way too). The tests run with ``fsync=off``; they measure no speed.

Each measurement gets a fresh database copied from a migrated template
(``CREATE DATABASE … TEMPLATE``), which takes a fraction of a second.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import tempfile
from pathlib import Path

from tests import pg as test_pg

#: the database every measurement's database is copied from
TEMPLATE = "pw_template"


def _initdb() -> Path:
    found = shutil.which("initdb") or next(
        iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))[-1:]), None
    )
    if not found:
        raise RuntimeError("initdb is not installed: apt-get install postgresql (make system-deps does)")
    return Path(found).resolve()


def start_cluster() -> test_pg.Cluster:
    """A running cluster with durable commits; stop it with :func:`stop_cluster`."""
    initdb = _initdb()
    directory = Path(tempfile.mkdtemp(prefix="pw-bench-pg-"))
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(directory, entry.pw_uid, entry.pw_gid)
    data = directory / "data"
    cluster = test_pg.Cluster(directory, test_pg.free_port(), initdb.parent)
    try:
        test_pg._run(
            None, [str(initdb), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"]
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={cluster.port} "
            f"-c unix_socket_directories={directory} -c max_connections=100"
        )
        pg_ctl = [
            str(cluster.bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(directory / "log"),
        ]
        test_pg._run(cluster, [*pg_ctl, "-w", "-t", str(test_pg.PG_TIMEOUT), "start"])
    except BaseException:
        stop_cluster(cluster)
        raise
    return cluster


def stop_cluster(cluster: test_pg.Cluster) -> None:
    test_pg.stop_cluster(cluster)


def postmaster_pid(cluster: test_pg.Cluster) -> int:
    """The server's pid, from the first line of its data directory's ``postmaster.pid``."""
    return int((cluster.directory / "data" / "postmaster.pid").read_text().split()[0])


def fresh_database(cluster: test_pg.Cluster, name: str) -> str:
    """A new database copied from :data:`TEMPLATE`; returns its URL."""
    import psycopg

    with psycopg.connect(cluster.url, autocommit=True) as db:
        db.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"'.encode())
    return cluster.database_url(name)
