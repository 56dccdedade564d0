"""Cost as the data grows (issue #18): each figure with 10 thousand and with 2 million past
messages in the database, and the database's bytes per message before and after retention.

    python -m bench.growth [--n 20000] [--pairs 2] [--large 2000000]

The past is real rows, not invented ones: ``--small`` messages (10 thousand) are delivered
by a real worker into a sink, and that database is the small history. The large one is
that history copied into a fresh migrated database ``large ÷ small`` times, ids and
foreign keys offset, unique text made unique, every time moved into the past so that the
copies spread evenly over the last :data:`HISTORY_DAYS` days (what an install keeping its
timelines for ``POSTWARDEN_RETENTION_DAYS`` holds) — oldest copy first, so ids grow with
time as they do in an install — and bodies kept only for copies younger than
:data:`BODY_DAYS` (``POSTWARDEN_RETENTION_BODY_DAYS``: older bodies are gone). One
recipient in 50 is a permanent failure and one in 97 a bounce, so the console's filters
and the doctor's failure counts have something to count. Copying, not the API: seeding
2 million messages through the product would take the whole run.

Then in ``--pairs`` interleaved pairs (small, large): delivery of ``n`` messages (SQLite,
one worker), the batch API, the relay (each on its own copy of the history), the time to
the first byte of the console's Deliveries page and Overview (signed in, median of
:data:`PAGE_REQUESTS`), and ``postwarden doctor`` on that database. ``growth_*`` is the
large rate ÷ the small rate of the same pair, median of pairs.

Every loop is bounded by count; every process started is stopped by its PID.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import pipeline, relay, stack
from bench.procs import Processes

HISTORY_DAYS = 180
BODY_DAYS = 30
#: every this many recipients of the history one is a permanent failure, one a bounce
FAILED_EVERY, BOUNCED_EVERY = 50, 97
PAGE_REQUESTS = 5
PAGE_TIMEOUT = 120.0
DOCTOR_RUNS = 3
ADMIN = ("bench@example.com", "bench-console-password-0123456789")


# -- the histories ---------------------------------------------------------------------------


def small_history(root: Path, template: Path, count: int) -> Path:
    """``count`` messages delivered for real; the database they leave behind."""
    result = pipeline.delivery(root / "history", count, 1, sqlite_template=template)
    if not result["ok"]:
        raise RuntimeError(f"the history's delivery did not match its counts: {result}")
    database = root / "history" / "data" / "postwarden.sqlite3"
    with contextlib.closing(sqlite3.connect(database, isolation_level=None)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return database


@dataclass(frozen=True)
class Copier:
    """One table's ``INSERT … SELECT`` from the small history, for copy ``j``."""

    table: str
    columns: list[str]
    expressions: list[str]

    def sql(self) -> str:
        names = ", ".join(f'"{c}"' for c in self.columns)
        values = ", ".join(self.expressions)
        return f'INSERT INTO main."{self.table}" ({names}) SELECT {values} FROM src."{self.table}"'  # noqa: S608


def _message_tables(db: sqlite3.Connection) -> list[str]:
    """outbox_message and every table whose rows hang from it, parents first."""
    tables = [r[0] for r in db.execute("SELECT name FROM src.sqlite_master WHERE type = 'table'")]
    found = ["outbox_message"]
    for _ in range(len(tables)):  # bounded: each pass adds at least one table or stops
        more = [
            t
            for t in tables
            if t not in found
            and any(fk[2] in found for fk in db.execute(f'PRAGMA src.foreign_key_list("{t}")'))
        ]
        if not more:
            break
        found += more
    return found


def _unique_columns(db: sqlite3.Connection, table: str) -> set[str]:
    unique: set[str] = set()
    for index in db.execute(f'PRAGMA src.index_list("{table}")'):
        if index[2] and index[3] != "pk":  # unique, not the primary key
            unique |= {info[2] for info in db.execute(f'PRAGMA src.index_info("{index[1]}")')}
    return unique


def _copier(db: sqlite3.Connection, table: str, spans: dict[str, int]) -> Copier:
    """Offsets by named parameters: ``:j`` the copy, ``:age`` seconds into the past."""
    references = {fk[3]: fk[2] for fk in db.execute(f'PRAGMA src.foreign_key_list("{table}")')}
    unique = _unique_columns(db, table)
    columns, expressions = [], []
    for _cid, name, kind, _notnull, _default, pk in db.execute(f'PRAGMA src.table_info("{table}")'):
        column = f'"{name}"'
        if name in references and references[name] in spans:
            expression = f"{column} + :j * {spans[references[name]]}"
        elif pk:
            expression = f"{column} + :j * {spans[table]}"
        elif kind.lower() == "datetime":
            expression = f"strftime('%Y-%m-%d %H:%M:%f', {column}, '-' || :age || ' seconds')"
        elif name in unique:
            expression = f"{column} || '-' || :j"
        else:
            expression = column
        columns.append(name)
        expressions.append(expression)
    return Copier(table, columns, expressions)


def large_history(small: Path, template: Path, target: Path, copies: int) -> int:
    """``copies`` copies of ``small`` spread over the last HISTORY_DAYS days; messages made."""
    with contextlib.closing(sqlite3.connect(template)) as empty:
        empty.execute("VACUUM INTO ?", (str(target),))
    with contextlib.closing(sqlite3.connect(target, isolation_level=None)) as db:
        db.execute("PRAGMA journal_mode = OFF")  # a bench artefact: rebuilt if the run dies
        db.execute("PRAGMA synchronous = OFF")
        db.execute("ATTACH DATABASE ? AS src", (str(small),))
        tables = _message_tables(db)
        spans = {
            t: int(db.execute(f'SELECT coalesce(max(rowid), 0) FROM src."{t}"').fetchone()[0])  # noqa: S608
            for t in tables
        }
        copiers = [_copier(db, t, spans) for t in tables]
        step = HISTORY_DAYS * 86400 / copies
        for j in range(copies):  # j = 0 is the oldest copy: ids grow with time
            age = (copies - 1 - j) * step
            db.execute("BEGIN")
            for copier in copiers:
                if copier.table == "outbox_content" and age > BODY_DAYS * 86400:
                    continue  # retention took these bodies
                db.execute(copier.sql(), {"j": j, "age": f"{age:.0f}"})
            db.execute("COMMIT")
        db.execute(
            "UPDATE outbox_recipient SET state = 'failed', last_code = 550, last_enhanced = '5.1.1', "
            "last_reply = '550 5.1.1 <address>: Recipient address rejected: User unknown', "
            "reason = 'permanent failure' WHERE id % ? = 0",
            (FAILED_EVERY,),
        )
        db.execute(
            "UPDATE outbox_recipient SET state = 'bounced', reason = 'bounced: 5.1.1 user unknown' "
            "WHERE id % ? = 0 AND state = 'sent'",
            (BOUNCED_EVERY,),
        )
        db.execute("DETACH DATABASE src")
        db.execute("PRAGMA journal_mode = DELETE")
        return int(db.execute("SELECT count(*) FROM outbox_message").fetchone()[0])


# -- bytes per message, before and after retention ----------------------------------------


def _bytes_per_message(database: Path) -> float:
    with contextlib.closing(sqlite3.connect(database, isolation_level=None)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        messages = int(db.execute("SELECT count(*) FROM outbox_message").fetchone()[0])
    return database.stat().st_size / max(messages, 1)


def retention_bytes(root: Path, small: Path) -> dict[str, Any]:
    """The small history's bytes per message, then after the product's retention pass has
    taken the bodies (run as if BODY_DAYS + 1 days had passed: bench/retain.py)."""
    copy = stack.new_stack(root / "retention", 25, sqlite_template=small)
    try:
        before = _bytes_per_message(copy.data / "postwarden.sqlite3")
        out = stack.run_cli(copy.env, [sys.executable, "-m", "bench.retain", str(BODY_DAYS + 1)])
        after = _bytes_per_message(copy.data / "postwarden.sqlite3")
    finally:
        copy.outbox.close()
    return {
        "before": round(before),
        "after": round(after),
        "pruned": json.loads(out.strip().splitlines()[-1]),
    }


# -- one pair's measurements --------------------------------------------------------------------


def _cookies(response: http.client.HTTPResponse, jar: dict[str, str]) -> None:
    for header in response.headers.get_all("Set-Cookie") or []:
        name, _, rest = header.partition("=")
        jar[name.strip()] = rest.split(";", 1)[0]


def _request(
    port: int, method: str, path: str, jar: dict[str, str], body: str | None = None
) -> tuple[int, bytes, float]:
    """One request; its status, body and the seconds to its first byte (headers read)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=PAGE_TIMEOUT)
    headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())}
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        started = time.perf_counter()
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        first_byte = time.perf_counter() - started
        data = response.read()
        _cookies(response, jar)
        return response.status, data, first_byte
    finally:
        connection.close()


def _signed_in(port: int) -> dict[str, str]:
    jar: dict[str, str] = {}
    _status, page, _ = _request(port, "GET", "/login/", jar)
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    if token is None:
        raise RuntimeError("the login page has no CSRF token")
    form = f"csrfmiddlewaretoken={token.group(1).decode()}&username={ADMIN[0]}&password={ADMIN[1]}&next=/"
    status, _, _ = _request(port, "POST", "/login/", jar, form)
    if status != 302 or "sessionid" not in jar:
        raise RuntimeError(f"signing in answered {status}")
    return jar


def _first_byte_ms(port: int, path: str, jar: dict[str, str]) -> float:
    times = []
    for _ in range(PAGE_REQUESTS):
        status, _, first_byte = _request(port, "GET", path, jar)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}")
        times.append(first_byte * 1000)
    return round(statistics.median(times), 1)


def pages_and_doctor(directory: Path, history: Path) -> dict[str, Any]:
    """Deliveries and Overview time to first byte, signed in; ``postwarden doctor`` wall time."""
    with Processes() as procs:
        installed = stack.new_stack(directory, 25, sqlite_template=history)
        try:
            subprocess.run(
                [*stack.postwarden("createadmin", "--email", ADMIN[0], "--password-stdin")],
                env=installed.env, input=ADMIN[1].encode(), capture_output=True, timeout=120, check=True,
            )  # fmt: skip
            _web, port = stack.start_web(procs, installed)
            jar = _signed_in(port)
            _request(port, "GET", "/deliveries/", jar)  # the first request loads the URL map
            deliveries = _first_byte_ms(port, "/deliveries/", jar)
            overview = _first_byte_ms(port, "/", jar)
            doctor_page = _first_byte_ms(port, "/doctor/", jar)
            doctor = []
            for _ in range(DOCTOR_RUNS):
                started = time.perf_counter()
                # exits 1 with findings (no SMTP server set): only its time counts here
                argv = stack.postwarden("doctor", "--json")
                subprocess.run(argv, env=installed.env, capture_output=True, timeout=120, check=False)
                doctor.append((time.perf_counter() - started) * 1000)
        finally:
            installed.outbox.close()
    return {
        "deliveries_ms": deliveries,
        "overview_ms": overview,
        "doctor_page_ms": doctor_page,
        "doctor_ms": round(statistics.median(doctor), 1),
    }


def one_side(directory: Path, history: Path, n: int) -> dict[str, Any]:
    delivery = pipeline.delivery(directory / "delivery", n, 1, sqlite_template=history)
    api = pipeline.api(directory / "api", n, 100, 2.0, history)
    relayed = relay.run(n, 8, 1, anchor=False, template=history)
    pages = pages_and_doctor(directory / "pages", history)
    return {
        "delivery_msgs_s": delivery["msgs_s"],
        "api_batch_msgs_s": api["batch"]["msgs_s"],
        "relay_msgs_s": relayed["relay_msgs_s"],
        **pages,
        "ok": bool(delivery["ok"] and api["ok"] and relayed["stored_ok"]),
    }


def _ratio(pairs: list[dict[str, Any]], key: str) -> float | None:
    each = [p["large"][key] / p["small"][key] for p in pairs if p["small"].get(key)]
    return round(statistics.median(each), 3) if each else None


def run(n: int, pairs: int, small: int, large: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="pw-growth-") as tmp:
        root = Path(tmp)
        template = stack.migrated_sqlite(root)
        small_db = small_history(root, template, small)
        retention = retention_bytes(root, small_db)
        started = time.monotonic()
        made = large_history(small_db, template, root / "large.sqlite3", max(1, large // small))
        built_s = time.monotonic() - started
        large_db = root / "large.sqlite3"
        measured = []
        for k in range(pairs):
            measured.append(
                {
                    "small": one_side(root / f"pair{k}" / "small", small_db, n),
                    "large": one_side(root / f"pair{k}" / "large", large_db, n),
                }
            )
        large_bytes = _bytes_per_message(large_db)
    every = [p[side] for p in measured for side in ("small", "large")]
    return {
        "n": n,
        "history_small": small,
        "history_large": made,
        "large_build_s": round(built_s, 1),
        "large_bytes_per_msg": round(large_bytes),
        "growth_delivery": _ratio(measured, "delivery_msgs_s"),
        "growth_api_batch": _ratio(measured, "api_batch_msgs_s"),
        "growth_relay": _ratio(measured, "relay_msgs_s"),
        "deliveries_page_ms_10k": statistics.median(p["small"]["deliveries_ms"] for p in measured),
        "deliveries_page_ms_2m": statistics.median(p["large"]["deliveries_ms"] for p in measured),
        "overview_page_ms_2m": statistics.median(p["large"]["overview_ms"] for p in measured),
        "doctor_page_ms_2m": statistics.median(p["large"]["doctor_page_ms"] for p in measured),
        "doctor_ms_10k": statistics.median(p["small"]["doctor_ms"] for p in measured),
        "doctor_ms_2m": statistics.median(p["large"]["doctor_ms"] for p in measured),
        "db_bytes_per_msg": retention["before"],
        "db_bytes_per_msg_after_retention": retention["after"],
        "retention_pruned": retention["pruned"],
        "pairs": measured,
        "ok": all(side["ok"] for side in every),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.growth", description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="messages per measurement")
    parser.add_argument("--pairs", type=int, default=2, help="interleaved (small, large) pairs")
    parser.add_argument("--small", type=int, default=10_000, help="past messages, small history")
    parser.add_argument("--large", type=int, default=2_000_000, help="past messages, large history")
    args = parser.parse_args(argv)
    result = run(args.n, max(1, args.pairs), args.small, args.large)
    print(json.dumps({k: v for k, v in result.items() if k != "pairs"}, indent=2))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
