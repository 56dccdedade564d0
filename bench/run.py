"""``make bench``: Postwarden measured against its anchors in one run (issue #7).

    python -m bench.run [--n 20000] [--rounds 3] [--quick] [--out bench]

Everything runs on loopback, on this machine, with throwaway state (temporary data
directories, a throwaway PostgreSQL cluster, one Postfix ``smtp-sink`` per measurement).
Measurements run in interleaved rounds — round k runs every anchor, then every
Postwarden figure — so that a ratio pairs figures taken moments apart and holds when the
machine's speed drifts; each figure is the median of the rounds (at least 3, except
``--quick``). Then the relay (with its own interleaved aiosmtpd anchor) and the doctor.

Writes ``bench/results.json`` (the keys of issues #7 and #18, issue #18's targets and their verdicts, the
machine, every run's raw numbers) and ``bench/results.md`` (the table it prints). Exit
status 1 when a measurement failed or a count did not match (a target missed is
reported, not an error: the targets are goals, and this is a measurement).

Every loop is bounded by count and by a deadline; every process started is stopped by
its PID when its measurement ends, and on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from bench import anchors, growth, machine, pg, pipeline, relay, report, stack

OUT = Path(__file__).resolve().parent
DOCTOR_TIMEOUT = 300.0
#: messages per Python anchor run (send-baselines.md's N): their cost per message does not
#: depend on the count, and the naive loop alone would take minutes of the budget at 20k
ANCHOR_N = 5000


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, help="messages per measurement (default 20000; --quick: 300)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 3; --quick: 1)")
    parser.add_argument("--quick", action="store_true", help="a small smoke run: every key, little time")
    parser.add_argument(
        "--budget",
        type=float,
        default=1080.0,
        help="seconds after which no new measurement starts (default 18 min)",
    )
    parser.add_argument("--out", type=Path, default=OUT, help="where results.json and results.md go")
    args = parser.parse_args(argv)
    args.n = args.n or (300 if args.quick else 20_000)
    args.rounds = args.rounds or (1 if args.quick else 3)
    if args.n < 10 or args.rounds < 1:
        parser.error("--n must be at least 10 and --rounds at least 1")
    #: single-message API load: at most this many requests, for at most this long
    args.singles, args.single_deadline = (args.n, 5.0) if args.quick else (min(args.n, 3000), 10.0)
    args.anchor_n = min(args.n, ANCHOR_N)
    args.doctor_runs = 3 if args.quick else 5
    #: past messages for the growth figures (small, large) and their interleaved pairs
    args.history, args.growth_pairs = ((300, 3000), 1) if args.quick else ((10_000, 2_000_000), 2)
    return args


class Progress:
    """One line per measurement, with the time since the start."""

    def __init__(self, budget: float) -> None:
        self.started = time.monotonic()
        #: seconds after which no new measurement starts (each one has its own deadlines)
        self.budget = budget

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def say(self, text: str) -> None:
        elapsed = int(self.elapsed())
        print(f"[{elapsed // 60:02d}:{elapsed % 60:02d}] {text}", flush=True)


def attempt(progress: Progress, label: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run one measurement; a failure is recorded (with its reason) and the run goes on."""
    if progress.elapsed() > progress.budget:
        result = {
            "ok": False,
            "error": f"skipped: the run's budget of {progress.budget / 60:.0f} min was spent",
        }
        progress.say(f"{label}: {result['error']}")
        return result
    progress.say(f"{label} …")
    try:
        result = fn()
    except Exception as exc:
        traceback.print_exc()
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:3000]}
    progress.say(f"{label}: {_summary(result)}")
    return result


def _summary(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"FAILED — {result['error'].splitlines()[0]}"
    if "growth_delivery" in result:
        ratios = ", ".join(
            f"{k} {result[k]}" for k in ("growth_delivery", "growth_api_batch", "growth_relay")
        )
        page, ok = result["deliveries_page_ms_2m"], "ok" if result["ok"] else "COUNT MISMATCH"
        return f"{ratios}; Deliveries page {page} ms with {result['history_large']:,} past messages ({ok})"
    if "median_ms" in result:
        return f"median {result['median_ms']} ms ({'all clear' if result['ok'] else 'NOT all clear'})"
    if "batch" in result:
        batch, single = result["batch"], result["single"]
        text = f"batch {batch['msgs_s']:,.0f} msg/s; single {single['rps']:,.0f} req/s"
        text += f", p99 {single['p99_ms']} ms"
    else:
        text = f"{result['msgs_s']:,.0f} msg/s in {result['seconds']:.2f} s"
    counted = result.get("sink_counted", result.get("stored"))
    return f"{text} (counted {counted}, {'ok' if result['ok'] else 'COUNT MISMATCH'})"


#: the PostgreSQL measurements of a round: name -> workers (``pg_delivery`` keeps issue #7's two)
PG_WORKERS: tuple[tuple[str, int], ...] = (("pg_delivery", 2), ("pg_delivery_1w", 1), ("pg_delivery_4w", 4))


def _pg_delivery(
    directory: Path, n: int, workers: int, cluster: Any, database: str
) -> Callable[[], dict[str, Any]]:
    """Delivery on a fresh copy of the migrated template, the server's CPU measured too."""
    return lambda: pipeline.delivery(
        directory / database,
        n,
        workers,
        server_pid=pg.postmaster_pid(cluster),
        database_url=pg.fresh_database(cluster, database),
    )


def one_round(
    k: int,
    args: argparse.Namespace,
    root: Path,
    sqlite: Path,
    cluster: Any,
    runs: report.Runs,
    progress: Progress,
) -> None:
    """Round ``k``: the anchors, then Postwarden's figures, each tagged with the round."""
    n, directory = args.n, root / f"round{k}"
    steps: list[tuple[str, Callable[[], dict[str, Any]]]] = [
        ("ceiling", lambda: anchors.ceiling(n)),
        ("naive", lambda: anchors.python_anchor("naive", args.anchor_n)),
        ("django", lambda: anchors.python_anchor("django", args.anchor_n)),
        ("delivery", lambda: pipeline.delivery(directory / "delivery", n, 1, sqlite_template=sqlite)),
        ("e2e", lambda: pipeline.end_to_end(directory / "e2e", n, sqlite)),
        *(
            (name, _pg_delivery(directory, n, workers, cluster, f"pw_round{k}_{workers}w"))
            for name, workers in PG_WORKERS
        ),
        ("api", lambda: pipeline.api(directory / "api", n, args.singles, args.single_deadline, sqlite)),
    ]
    for name, fn in steps:
        result = attempt(progress, f"round {k}/{args.rounds} {name}", fn)
        runs.setdefault(name, []).append({"round": k, **result})


def measure_relay(args: argparse.Namespace) -> dict[str, Any]:
    result = relay.run(args.n, 8, max(args.rounds, 1), anchor=True, postfix=True)
    return {**result, "ok": bool(result.get("stored_ok")), "msgs_s": result["relay_msgs_s"],
            "seconds": args.n / result["relay_msgs_s"], "stored": args.n}  # fmt: skip


def measure_doctor(args: argparse.Namespace) -> dict[str, Any]:
    argv = [sys.executable, "-m", "bench.doctor", "--runs", str(args.doctor_runs), "--json"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=DOCTOR_TIMEOUT, check=False)
    lines = done.stdout.strip().splitlines()
    if not lines:
        raise RuntimeError(f"bench.doctor printed nothing ({done.returncode}): {done.stderr[-2000:]}")
    result = json.loads(lines[-1])
    ok = done.returncode == 0 and result.get("all_clear") is True
    return {**result, "ok": ok, "msgs_s": 1000 / result["median_ms"], "seconds": result["median_ms"] / 1000}


def measure_all(args: argparse.Namespace, progress: Progress) -> tuple[report.Runs, dict[str, Any], Path]:
    runs: report.Runs = {}
    with tempfile.TemporaryDirectory(prefix="pw-bench-") as tmp:
        root = Path(tmp)
        progress.say("migrating a template SQLite database; starting a throwaway PostgreSQL cluster")
        sqlite = stack.migrated_sqlite(root)
        cluster = pg.start_cluster()
        pg_bin = cluster.bin_dir
        try:
            template = cluster.createdb(pg.TEMPLATE)
            stack.run_cli(stack.environment(root / "pg-template", 25, template), stack.postwarden("migrate"))
            for k in range(1, args.rounds + 1):
                one_round(k, args, root, sqlite, cluster, runs, progress)
        finally:
            pg.stop_cluster(cluster)
    extra = {
        "relay": attempt(
            progress,
            f"relay ({args.rounds} runs, aiosmtpd and Postfix anchors interleaved)",
            lambda: measure_relay(args),
        ),
        "doctor": attempt(progress, f"doctor ({args.doctor_runs} runs)", lambda: measure_doctor(args)),
        "growth": attempt(
            progress,
            f"growth ({args.history[0]:,} / {args.history[1]:,} past messages, {args.growth_pairs} pair(s))",
            lambda: growth.run(args.n, args.growth_pairs, *args.history),
        ),
    }
    return runs, extra, pg_bin


def checks(runs: report.Runs, extra: dict[str, Any]) -> dict[str, Any]:
    every = [r for rs in runs.values() for r in rs] + list(extra.values())
    ok = sum(1 for r in every if r.get("ok"))
    return {
        "measurements": len(every),
        "ok": ok,
        "all_ok": ok == len(every),
        "sink_counts_matched": all(r.get("ok") for rs in runs.values() for r in rs if "sink_counted" in r),
        "notes": "smtp-sink's own counter for every SMTP measurement (and the outbox's sent rows for "
        "Postwarden's); stored rows for the API and the relay; an all-clear exit for the doctor.",
    }


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # unwinds through every finally: servers stop


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    progress, started_at, load_start = Progress(args.budget), datetime.now(UTC), machine.load_average()
    progress.say(f"bench: n={args.n}, {args.rounds} round(s), load average {load_start}")
    runs, extra, pg_bin = measure_all(args, progress)
    values = report.summarize(args.n, runs, extra["relay"], extra["doctor"], extra["growth"])
    sizes = [r["bytes_per_msg"] for r in runs.get("delivery", []) if r.get("ok")]
    results = {
        **values,
        "targets": report.verdicts(values),
        "checks": checks(runs, extra),
        "rounds": args.rounds,
        "anchor_n": args.anchor_n,
        "api_single_requests_max": args.singles,
        "quick": args.quick,
        "bytes_per_msg": sizes[0] if sizes else None,
        "started_at": started_at.strftime("%Y-%m-%d %H:%M UTC"),
        "duration_s": round(progress.elapsed(), 1),
        "machine": {**machine.facts(pg_bin), "load_start": load_start, "load_end": machine.load_average()},
        "runs": runs,
        **extra,
    }
    text = report.table(results)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "results.md").write_text(text)
    print("\n" + text + f"\nwritten: {args.out / 'results.json'}, {args.out / 'results.md'}")
    return 0 if results["checks"]["all_ok"] else 1


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt as stopped:
        print(
            f"bench: interrupted ({stopped or 'Ctrl-C'}); every process it started was stopped",
            file=sys.stderr,
        )
        raise SystemExit(130) from None
