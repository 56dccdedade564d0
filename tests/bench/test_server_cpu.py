"""The PostgreSQL server's CPU per message (``pg_server_cpu_us_per_msg``) leaves out the
backend that serves the benchmark's own connection (its release of the held messages and
its polls every 20 ms), which is the measurement's work, not Postwarden's."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.procs import cpu_seconds, server_cpu_seconds
from bench.stack import PostgresOutbox, SqliteOutbox

from bench import pipeline
from tests.pg import Cluster, pg_cluster  # noqa: F401 - a session fixture

pytestmark = [pytest.mark.postgres]


def _parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])


def test_the_benchmarks_own_backend_is_named_and_left_out(pg_cluster: Cluster) -> None:  # noqa: F811
    postmaster = int((pg_cluster.directory / "data" / "postmaster.pid").read_text().split()[0])
    outbox = PostgresOutbox(pg_cluster.url)
    try:
        own = outbox.server_process()
        assert own is not None
        assert _parent(own) == postmaster  # a backend of this server, counted in its CPU
        outbox._one("SELECT count(*) FROM generate_series(1, 2000000)")  # some work of its own
        spent = cpu_seconds(own)
        assert spent > 0
        # the server's figure is its CPU less that backend's (readings a tick apart at most)
        left = pipeline._server_cpu(postmaster, own)
        assert left == pytest.approx(server_cpu_seconds(postmaster) - spent, abs=0.05)
    finally:
        outbox.close()


def test_sqlite_has_no_server_process(tmp_path: Path) -> None:
    outbox = SqliteOutbox(tmp_path / "x.sqlite3")
    try:
        assert outbox.server_process() is None
    finally:
        outbox.close()
