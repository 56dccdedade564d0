"""``make bench`` must not rot: a small run of the real benchmark (``python -m bench.run
--quick --n 300``) produces every key of issue #7 as a positive number, and every
measurement's count matched (smtp-sink's own counter, the outbox's sent rows, the stored
messages). No figure is compared with a target here: speed is for ``make bench``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests import system

ROOT = Path(__file__).resolve().parents[2]
#: the quick run takes well under a minute on a quiet machine; four times that when busy
TIMEOUT = 480
KEYS = (
    "n", "ceiling_msgs_s", "naive_msgs_s", "django_msgs_s", "delivery_msgs_s", "e2e_msgs_s",
    "delivery_vs_ceiling", "delivery_vs_django", "pg_delivery_msgs_s", "pg_delivery_1w_msgs_s",
    "pg_delivery_4w_msgs_s", "pg_server_cpu_us_per_msg", "api_batch_msgs_s",
    "api_single_rps", "api_single_p99_ms", "relay_msgs_s", "postfix_accept_msgs_s", "relay_vs_postfix",
    "doctor_ms", "worker_rss_mb", "growth_delivery", "growth_api_batch", "growth_relay",
    "deliveries_page_ms_2m", "doctor_page_ms_2m", "db_bytes_per_msg", "db_bytes_per_msg_after_retention",
)  # fmt: skip
SMTP_MEASUREMENTS = (
    "ceiling",
    "naive",
    "django",
    "delivery",
    "e2e",
    "pg_delivery",
    "pg_delivery_1w",
    "pg_delivery_4w",
)

#: one group: the module's run is shared, and two at once would only slow each other down
pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.xdist_group("bench")]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    system.command("smtp-sink", package="postfix")
    system.command("smtp-source", package="postfix")
    system.command("initdb", package="postgresql", search=("/usr/lib/postgresql/*/bin/initdb",))
    system.command("postfix", package="postfix")
    if os.geteuid() != 0:
        system.missing("root (the Postfix anchor's master starts as root)", "run make test as root")
    out = tmp_path_factory.mktemp("bench")
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "POSTWARDEN_", "DATABASE_URL"))
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    argv = [sys.executable, "-m", "bench.run", "--quick", "--n", "300", "--out", str(out)]
    done = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    table = (out / "results.md").read_text()
    assert [key for key in KEYS if f"| `{key}` |" not in table] == []
    return dict(json.loads((out / "results.json").read_text()))


def test_it_writes_every_key_of_the_issue_as_a_positive_number(results: dict[str, Any]) -> None:
    missing = [key for key in KEYS if not isinstance(results.get(key), int | float)]
    assert missing == []
    assert [key for key in KEYS if results[key] <= 0] == []
    assert results["n"] == 300


def test_it_checks_every_count_against_the_sink_and_the_outbox(results: dict[str, Any]) -> None:
    runs = results["runs"]
    for name in SMTP_MEASUREMENTS:
        (run,) = runs[name]
        assert run["ok"] is True, (name, run)
        assert run["sink_counted"] == run["messages"] == 300, (name, run)
    for name in ("delivery", "e2e", "pg_delivery", "pg_delivery_1w", "pg_delivery_4w"):
        assert runs[name][0]["db_sent"] == 300
    (api,) = runs["api"]
    assert api["stored"] == 300 + api["single"]["accepted"]
    assert results["checks"]["all_ok"] is True
    assert results["checks"]["sink_counts_matched"] is True


def test_it_states_the_targets_and_the_machine(results: dict[str, Any]) -> None:
    targets = results["targets"]
    assert sorted(targets) == sorted(
        ["delivery_vs_ceiling", "delivery_vs_django", "api_batch_msgs_s", "api_single_p99_ms", "relay_msgs_s",
         "relay_vs_postfix", "doctor_ms", "worker_rss_mb", "growth_delivery", "growth_api_batch",
         "growth_relay", "deliveries_page_ms_2m", "doctor_page_ms_2m"]
    )  # fmt: skip
    assert all(isinstance(t["pass"], bool) and t["value"] == results[key] for key, t in targets.items())
    machine = results["machine"]
    assert machine["nproc"] == os.cpu_count()
    assert len(machine["load_start"]) == len(machine["load_end"]) == 3


def test_the_growth_figures_stand_on_a_copied_history_and_a_real_retention_pass(
    results: dict[str, Any],
) -> None:
    growth = results["growth"]
    assert growth["ok"] is True
    # --quick: 300 delivered messages copied ten times over the last 180 days
    assert (growth["history_small"], growth["history_large"]) == (300, 3000)
    assert growth["retention_pruned"]["bodies"] == 300
    assert results["db_bytes_per_msg_after_retention"] < results["db_bytes_per_msg"]
