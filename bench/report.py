"""From every run's raw numbers to the keys of issues #7 and #18, the targets' verdicts and the table
printed and written to bench/results.md (the README quotes it)."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

#: issue #7's keys in its order, with what each one measures
KEYS: tuple[tuple[str, str], ...] = (
    ("n", "messages per measurement"),
    ("ceiling_msgs_s", "`smtp-source -d -s 8` (C, 8 reused sessions) into smtp-sink"),
    ("naive_msgs_s", "Python: `EmailMessage` built per mail, new `smtplib` connection per mail (†)"),
    ("django_msgs_s", "Django `EmailBackend.send_messages`, one connection, chunks of 500 (†)"),
    (
        "delivery_msgs_s",
        "Postwarden, n already enqueued, SQLite, one worker: first claim → last result recorded",
    ),
    ("e2e_msgs_s", "Postwarden: first batch-API request → last result recorded"),
    ("delivery_vs_ceiling", "delivery ÷ ceiling of the same round (median of rounds)"),
    ("delivery_vs_django", "delivery ÷ django of the same round (median of rounds)"),
    ("pg_delivery_msgs_s", "as delivery, on PostgreSQL with two workers"),
    ("pg_delivery_1w_msgs_s", "the same with one worker"),
    ("pg_delivery_4w_msgs_s", "the same with four workers"),
    (
        "pg_server_cpu_us_per_msg",
        "PostgreSQL's own CPU (postmaster and every backend) per message, two workers",
    ),
    ("api_batch_msgs_s", "messages accepted by `POST /api/v1/messages/batch`, 8 clients × 500"),
    ("api_single_rps", "`POST /api/v1/messages`, one message each, 16 clients (≤ 3000 requests, ≤ 10 s)"),
    ("api_single_p99_ms", "99th-percentile latency of those requests"),
    ("relay_msgs_s", "`smtp-source -d -s 8` into `postwarden relay`, each committed before its 250"),
    (
        "postfix_accept_msgs_s",
        "the same into a private Postfix (smtpd → cleanup → fsync'd queue file → discard)",
    ),
    ("relay_vs_postfix", "relay ÷ Postfix of the same repeat (median of repeats)"),
    ("doctor_ms", "median wall time of `postwarden doctor` on a healthy local setup"),
    ("worker_rss_mb", "the worker's peak resident memory (VmHWM) during delivery (max of rounds)"),
    ("growth_delivery", "delivery with 2 million past messages ÷ with 10 thousand (bench/growth.py)"),
    ("growth_api_batch", "the batch API, the same ratio"),
    ("growth_relay", "the relay, the same ratio"),
    ("deliveries_page_ms_2m", "the console's Deliveries page, time to first byte, 2 million past messages"),
    ("doctor_page_ms_2m", "the console's Doctor page, the same"),
    ("db_bytes_per_msg", "SQLite file bytes per delivered message, bodies kept"),
    ("db_bytes_per_msg_after_retention", "the same after retention took the bodies (30 days)"),
)

#: the targets (this machine, SQLite, one worker): issue #18's, which raised issue #7's
#: delivery and single-request bounds; the doctor's time and the worker's memory are #7's
#: key -> (comparison, bound)
TARGETS: dict[str, tuple[str, float]] = {
    "delivery_vs_ceiling": (">=", 0.6),
    "delivery_vs_django": (">=", 8),
    "api_batch_msgs_s": (">=", 10_000),
    "api_single_p99_ms": ("<", 25),
    "relay_msgs_s": (">=", 3_000),
    "relay_vs_postfix": (">=", 3),
    "doctor_ms": ("<", 1000),
    "worker_rss_mb": ("<", 150),
    "growth_delivery": (">=", 0.8),
    "growth_api_batch": (">=", 0.8),
    "growth_relay": (">=", 0.8),
    "deliveries_page_ms_2m": ("<", 300),
    "doctor_page_ms_2m": ("<", 300),
}

#: the growth measurement's keys (bench/growth.py), copied as they are
GROWTH_KEYS = (
    "growth_delivery",
    "growth_api_batch",
    "growth_relay",
    "deliveries_page_ms_2m",
    "doctor_page_ms_2m",
    "db_bytes_per_msg",
    "db_bytes_per_msg_after_retention",
)

Runs = dict[str, list[dict[str, Any]]]


#: where each per-round key comes from: key -> (measurement, path to the figure in a run)
SOURCES: dict[str, tuple[str, tuple[str | int, ...]]] = {
    "ceiling_msgs_s": ("ceiling", ("msgs_s",)),
    "naive_msgs_s": ("naive", ("msgs_s",)),
    "django_msgs_s": ("django", ("msgs_s",)),
    "delivery_msgs_s": ("delivery", ("msgs_s",)),
    "e2e_msgs_s": ("e2e", ("msgs_s",)),
    "pg_delivery_msgs_s": ("pg_delivery", ("msgs_s",)),
    "pg_delivery_1w_msgs_s": ("pg_delivery_1w", ("msgs_s",)),
    "pg_delivery_4w_msgs_s": ("pg_delivery_4w", ("msgs_s",)),
    "pg_server_cpu_us_per_msg": ("pg_delivery", ("server_cpu_us_per_msg",)),
    "api_batch_msgs_s": ("api", ("batch", "msgs_s")),
    "api_single_rps": ("api", ("single", "rps")),
    "api_single_p99_ms": ("api", ("single", "p99_ms")),
    "worker_rss_mb": ("delivery", ("worker_rss_mb", 0)),
}


def path(*keys: str | int) -> Callable[[dict[str, Any]], float]:
    """A picker of ``run[keys[0]][keys[1]]…`` as a number."""

    def pick(run: dict[str, Any]) -> float:
        value: Any = run
        for key in keys:
            value = value[key]
        return float(value)

    return pick


def _ok(runs: Runs, name: str) -> list[dict[str, Any]]:
    return [r for r in runs.get(name, []) if r.get("ok")]


def median_of(runs: Runs, name: str, pick: Callable[[dict[str, Any]], float]) -> float | None:
    values = [pick(r) for r in _ok(runs, name)]
    return statistics.median(values) if values else None


def ratios(runs: Runs, subject: str, anchor: str) -> list[float]:
    """``subject ÷ anchor`` for each round in which both succeeded."""
    anchors = {r["round"]: r["msgs_s"] for r in _ok(runs, anchor)}
    return [r["msgs_s"] / anchors[r["round"]] for r in _ok(runs, subject) if anchors.get(r["round"])]


def summarize(
    n: int, runs: Runs, relay: dict[str, Any], doctor: dict[str, Any], growth: dict[str, Any]
) -> dict[str, Any]:
    """Issue #7's keys: medians of the rounds (the peak memory: the largest of them)."""
    values: dict[str, Any] = {
        key: median_of(runs, name, path(*keys)) for key, (name, keys) in SOURCES.items()
    }
    rss = [path(*SOURCES["worker_rss_mb"][1])(r) for r in _ok(runs, "delivery")]
    vs_ceiling, vs_django = ratios(runs, "delivery", "ceiling"), ratios(runs, "delivery", "django")
    values.update(
        n=n,
        delivery_vs_ceiling=statistics.median(vs_ceiling) if vs_ceiling else None,
        delivery_vs_django=statistics.median(vs_django) if vs_django else None,
        relay_msgs_s=relay.get("relay_msgs_s") if relay.get("ok") else None,
        postfix_accept_msgs_s=relay.get("postfix_accept_msgs_s") if relay.get("ok") else None,
        relay_vs_postfix=relay.get("relay_vs_postfix") if relay.get("ok") else None,
        doctor_ms=doctor.get("median_ms") if doctor.get("ok") else None,
        worker_rss_mb=max(rss) if rss else None,
    )
    values.update({key: growth.get(key) if growth.get("ok") else None for key in GROWTH_KEYS})
    return {key: _rounded(key, values[key]) for key, _ in KEYS}


def _rounded(key: str, value: float | None) -> float | None:
    if value is None:
        return None
    if key.endswith(("_vs_ceiling", "_vs_django", "_vs_postfix")) or key.startswith("growth_"):
        return round(value, 3)
    if key.endswith(("_ms", "_mb", "_ms_2m")):
        return round(value, 1)
    return round(value)


def verdicts(values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for key, (op, bound) in TARGETS.items():
        value = values.get(key)
        passed = value is not None and (value >= bound if op == ">=" else value < bound)
        out[key] = {"target": f"{op} {bound:g}", "value": value, "pass": passed}
    return out


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 10 else f"{value:,.1f}"
    return f"{int(value):,}"


def _run_values(results: dict[str, Any], key: str) -> str:
    """Each round's raw figure behind a key, for the table's last column."""
    runs: Runs = results["runs"]
    if key == "relay_msgs_s":
        return ", ".join(_fmt(v) for v in results["relay"].get("relay_runs_msgs_s", []))
    if key in ("postfix_accept_msgs_s", "relay_vs_postfix"):
        field = "postfix_runs_msgs_s" if key == "postfix_accept_msgs_s" else "relay_vs_postfix_runs"
        return ", ".join(_fmt(v) for v in results["relay"].get(field, []))
    if key == "doctor_ms" and results["doctor"].get("ok"):
        return f"min {_fmt(results['doctor']['min_ms'])}, max {_fmt(results['doctor']['max_ms'])}"
    if key in GROWTH_KEYS:
        return _growth_values(results.get("growth", {}), key)
    if key in ("delivery_vs_ceiling", "delivery_vs_django"):
        return ", ".join(f"{v:.3f}" for v in ratios(runs, "delivery", key.rsplit("_", 1)[1]))
    if key not in SOURCES:
        return ""
    name, keys = SOURCES[key]
    return ", ".join(_fmt(round(path(*keys)(r), 1)) if r.get("ok") else "failed" for r in runs.get(name, []))


#: a growth key -> the figure of each side of a pair it is made of
_GROWTH_SIDES = {
    "growth_delivery": "delivery_msgs_s",
    "growth_api_batch": "api_batch_msgs_s",
    "growth_relay": "relay_msgs_s",
    "deliveries_page_ms_2m": "deliveries_ms",
    "doctor_page_ms_2m": "doctor_page_ms",
}


def _growth_values(growth: dict[str, Any], key: str) -> str:
    """Each pair's small → large figures (msg/s or ms), or the retention pass's counts."""
    if not growth.get("ok"):
        return "failed" if growth else ""
    if key.startswith("db_bytes"):
        pruned = growth.get("retention_pruned", {})
        return f"{growth['history_small']:,} messages; retention took {pruned.get('bodies', '?'):,} bodies"
    side = _GROWTH_SIDES[key]
    return ", ".join(f"{_fmt(p['small'][side])} → {_fmt(p['large'][side])}" for p in growth.get("pairs", []))


def table(results: dict[str, Any]) -> str:
    """The Markdown that ``make bench`` prints and writes to bench/results.md."""
    values = {key: results[key] for key, _ in KEYS}
    targets, machine = results["targets"], results["machine"]
    lines = [
        f"Measured {results['started_at']} (took {results['duration_s'] / 60:.1f} min): n = {values['n']} "
        f"messages of ~{results['bytes_per_msg'] or '?'} B per measurement, "
        f"{results['rounds']} interleaved round(s), medians.",
        f"Load average (1/5/15 min) at start {'/'.join(map(str, machine['load_start']))}, at end "
        f"{'/'.join(map(str, machine['load_end']))}; {machine['nproc']} × {machine['cpu_model']}, "
        f"Python {machine['python']}, SQLite {machine['sqlite']}, commit {machine['commit']}"
        f"{' with uncommitted changes' if machine['uncommitted_changes'] else ''}.",
        "",
        "| key | value | target | | what | runs |",
        "|---|---:|---|---|---|---|",
    ]
    for key, what in KEYS:
        verdict = targets.get(key)
        mark = "" if verdict is None else ("pass" if verdict["pass"] else "**FAIL**")
        target = verdict["target"] if verdict else ""
        lines.append(
            f"| `{key}` | {_fmt(values[key])} | {target} | {mark} | {what} | {_run_values(results, key)} |"
        )
    lines.append(
        f"\n(†) {results['anchor_n']} messages a run: their cost per message does not depend on the count."
    )
    checks = results["checks"]
    lines += ["", f"Every measurement's count matched: {'yes' if checks['all_ok'] else '**NO**'} "
              f"({checks['ok']} of {checks['measurements']}). {checks['notes']}"]  # fmt: skip
    lines += ["", *details(results)]
    return "\n".join(lines) + "\n"


def details(results: dict[str, Any]) -> list[str]:
    """Where the CPU went, per measurement (medians), so a reader can judge each figure."""
    runs: Runs = results["runs"]
    rows = [
        ("ceiling", "client_cpu_us_per_msg", "smtp-source CPU µs/msg"),
        ("naive", "client_cpu_us_per_msg", "client CPU µs/msg"),
        ("django", "client_cpu_us_per_msg", "client CPU µs/msg"),
        ("delivery", "worker_cpu_us_per_msg", "worker CPU µs/msg"),
        ("pg_delivery", "worker_cpu_us_per_msg", "CPU µs/msg, both workers"),
        ("pg_delivery", "server_cpu_us_per_msg", "PostgreSQL server CPU µs/msg, two workers"),
        ("pg_delivery_1w", "server_cpu_us_per_msg", "PostgreSQL server CPU µs/msg, one worker"),
        ("pg_delivery_4w", "server_cpu_us_per_msg", "PostgreSQL server CPU µs/msg, four workers"),
    ]
    lines = ["| measurement | CPU per message | sink CPU share |", "|---|---:|---:|"]
    for name, field, label in rows:
        cpu = median_of(runs, name, path(field))
        sink = median_of(runs, name, path("sink_cpu_share"))
        lines.append(f"| {name} | {_fmt(cpu)} ({label}) | {_fmt(sink)} |")
    for kind in ("batch", "single"):
        cpu = median_of(runs, "api", path(kind, "client_cpu_us_per_request"))
        server = median_of(runs, "api", path(kind, "server_cpu_share"))
        lines.append(
            f"| api {kind} | {_fmt(cpu)} (HTTP client CPU µs/request) | web CPU share {_fmt(server)} |"
        )
    relay = results["relay"]
    if relay.get("ok"):
        lines.append(
            f"| relay | {_fmt(relay.get('relay_cpu_us_per_msg'))} (relay CPU µs/msg) | aiosmtpd discard "
            f"anchor {_fmt(relay.get('aiosmtpd_discard_msgs_s'))} msg/s, relay ÷ anchor "
            f"{_fmt(relay.get('relay_vs_aiosmtpd'))} |"
        )
    return lines
