"""``postwarden monitor`` as real processes on one database (issue #14): two monitors,
as on two nodes, run each job once per interval between them (SQLite file and
PostgreSQL); a restart does not run a job before its time; a job that raises is logged
without its secret while the others go on; ``postwarden serve`` starts a monitor."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from postwarden.cli.serve import children
from tests.pg import Cluster, pg_cluster, restart_cluster, start_cluster, stop_cluster  # noqa: F401
from tests.processes import stop_group
from tests.serving import start, tail

pytestmark = pytest.mark.slow
SECRET = "hooktoken-5d41402abc4b2a76"
#: seconds to wait for what the processes must do (start-up migrates a new database)
WAIT = 120.0
SOURCE = "tests.monitor.jobs_for_tests:jobs"
ROOT = Path(__file__).resolve().parents[2]


def node_env(data: Path, database_url: str, log: Path, every: float) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("POSTWARDEN_", "DJANGO_", "MONITOR_TEST_"))
    }
    env.update(
        POSTWARDEN_DATA_DIR=str(data),
        POSTWARDEN_SECRET_KEY="monitor-test-secret-key-0123456789abcdef",
        DATABASE_URL=database_url,
        MONITOR_TEST_LOG=str(log),
        MONITOR_TEST_EVERY=str(every),
        MONITOR_TEST_SECRET=SECRET,
        PYTHONPATH=str(ROOT),
    )
    return env


def runs(log: Path) -> list[tuple[str, int, float]]:
    if not log.exists():
        return []
    found = []
    for line in log.read_text().splitlines():
        name, pid, at = line.split()
        found.append((name, int(pid), float(at)))
    return found


Process = subprocess.Popen[bytes]


def wait_for(condition: Callable[[], bool], what: str, processes: list[Process]) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        for process in processes:
            assert process.poll() is None, f"a monitor exited: {what}"
        time.sleep(0.1)


@pytest.fixture
def monitors(tmp_path: Path) -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in started:
        stop_group(process)


def monitor(env: dict[str, str], cwd: Path, output: Path, *extra: str) -> Process:
    argv = [sys.executable, "-m", "postwarden", "monitor", "--source", SOURCE, *extra]
    return start(argv, env, cwd, output)


def two_monitors_share_the_jobs(tmp_path: Path, database_url: str, started: list[Process]) -> None:
    every = 1.5
    record = tmp_path / "runs.txt"
    for name in ("a", "b"):
        env = node_env(tmp_path / name, database_url, record, every)
        started.append(monitor(env, tmp_path, tmp_path / f"{name}.out", "--only", "test.tick"))
    wait_for(lambda: len(runs(record)) >= 6, "six runs of test.tick", started)
    times = sorted(at for name, _, at in runs(record) if name == "test.tick")
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    # run twice in one interval (by two nodes at once), a gap would be near 0
    assert min(gaps) > every * 0.75, gaps


def test_two_monitors_on_one_sqlite_database_run_each_job_once(
    tmp_path: Path, monitors: list[Process]
) -> None:
    database = tmp_path / "shared.sqlite3"
    two_monitors_share_the_jobs(tmp_path, f"sqlite:///{database}", monitors)


@pytest.mark.postgres
def test_two_monitors_on_one_postgres_database_run_each_job_once(
    pg_cluster: Cluster,  # noqa: F811
    tmp_path: Path,
    monitors: list[Process],
) -> None:
    two_monitors_share_the_jobs(tmp_path, pg_cluster.createdb("monitor_two"), monitors)


@pytest.mark.postgres
def test_the_database_going_away_and_back_does_not_stop_the_monitor(
    tmp_path: Path, monitors: list[Process]
) -> None:
    """PostgreSQL restarted under a running monitor: it says it cannot reach its schedule
    (no traceback, no exit, which would make serve give up after a few restarts) and runs
    its jobs again once the database is back."""
    cluster = start_cluster()
    try:
        record = tmp_path / "runs.txt"
        env = node_env(tmp_path / "data", cluster.createdb("monitor_away"), record, 0.3)
        output = tmp_path / "monitor.out"
        monitors.append(monitor(env, tmp_path, output, "--only", "test.tick"))
        wait_for(lambda: len(runs(record)) >= 2, "two runs", monitors)
        restart_cluster(cluster, down_for=2.0)
        wait_for(
            lambda: "monitor cannot reach its schedule; trying again" in output.read_text(),
            "the error",
            monitors,
        )
        before = len(runs(record))
        wait_for(lambda: len(runs(record)) >= before + 2, "runs after the restart", monitors)
        text = output.read_text()
        assert "Traceback" not in text
    finally:
        for process in monitors:
            stop_group(process)
        stop_cluster(cluster)


def test_a_restart_does_not_run_a_job_before_its_time(tmp_path: Path, monitors: list[Process]) -> None:
    record = tmp_path / "runs.txt"
    env = node_env(tmp_path / "data", f"sqlite:///{tmp_path / 'db.sqlite3'}", record, 3600)
    first = monitor(env, tmp_path, tmp_path / "first.out", "--only", "test.tick")
    monitors.append(first)
    wait_for(lambda: len(runs(record)) == 1, "the first run", monitors)
    stop_group(first)
    assert first.returncode == 0, tail(tmp_path / "first.out")
    monitors.remove(first)
    # the second start runs both jobs' look in one pass: test.crash (never run) runs, so
    # test.tick was looked at too and found not due
    second = monitor(env, tmp_path, tmp_path / "second.out")
    monitors.append(second)
    wait_for(lambda: any(name == "test.crash" for name, _, _ in runs(record)), "test.crash", monitors)
    assert [name for name, _, _ in runs(record)].count("test.tick") == 1


def test_a_crashing_job_is_logged_without_its_secret_and_the_others_go_on(
    tmp_path: Path, monitors: list[Process]
) -> None:
    record = tmp_path / "runs.txt"
    env = node_env(tmp_path / "data", f"sqlite:///{tmp_path / 'db.sqlite3'}", record, 0.5)
    output = tmp_path / "monitor.out"
    monitors.append(monitor(env, tmp_path, output))

    def both_ran_three_times() -> bool:
        names = [name for name, _, _ in runs(record)]
        return names.count("test.crash") >= 3 and names.count("test.tick") >= 3

    wait_for(both_ran_three_times, "three runs of each job", monitors)
    wait_for(lambda: output.read_text().count('"job failed"') >= 3, "three failures logged", monitors)
    text = output.read_text()
    assert '"error": "RuntimeError: cannot reach mmost://alerts.example/…' in text
    assert SECRET not in text
    assert "Traceback" not in text
    logs = "".join(p.read_text() for p in (tmp_path / "data" / "logs").glob("monitor-*.jsonl"))
    assert '"job failed"' in logs
    assert SECRET not in logs
    listing = tmp_path / "list.out"
    lister = start(
        [sys.executable, "-m", "postwarden", "monitor", "--source", SOURCE, "--list"], env, tmp_path, listing
    )
    assert lister.wait(WAIT) == 0, tail(listing)
    shown = listing.read_text()
    assert "test.crash  every 0.5 s  last " in shown
    assert ", failed: RuntimeError: cannot reach" in shown
    assert "test.later  every 3600 s  first run after " in shown
    assert "test.later" not in {name for name, _, _ in runs(record)}
    assert SECRET not in shown


def test_serve_supervises_a_monitor() -> None:
    assert [kid.argv for kid in children(with_relay=True)][-1] == ["monitor"]
    assert "monitor" in [kid.name for kid in children(with_relay=False)]
