"""The JSON log lines and the recent-lines file the console reads."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from postwarden import logs


@pytest.fixture
def recent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> logs.RecentHandler:
    monkeypatch.setattr(logs, "log_dir", lambda: tmp_path)
    monkeypatch.setenv("POSTWARDEN_PROCESS", "worker")
    handler = logs.RecentHandler()
    handler.setFormatter(logs.JsonFormatter())
    return handler


def record(message: str, **extra: object) -> logging.LogRecord:
    return logging.getLogger("postwarden.test").makeRecord(
        "postwarden.test", logging.INFO, __file__, 1, message, (), None, extra=extra
    )


def test_it_appends_one_json_object_per_line_and_reads_them_back_newest_first(
    recent: logs.RecentHandler, tmp_path: Path
) -> None:
    for number in range(3):
        recent.emit(record(f"attempt {number}", outcome="sent", code=250))
    recent.close()
    [path] = tmp_path.glob("worker-*.jsonl")
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(e["msg"], e["outcome"], e["code"]) for e in lines] == [
        ("attempt 0", "sent", 250),
        ("attempt 1", "sent", 250),
        ("attempt 2", "sent", 250),
    ]
    # lines of the same millisecond have no order between them
    assert sorted(e["msg"] for e in logs.recent_lines(2)) == ["attempt 1", "attempt 2"]


def test_it_rotates_into_one_older_file(
    recent: logs.RecentHandler, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logs, "_MAX_BYTES", 300)
    for number in range(6):
        recent.emit(record(f"line {number}"))
    assert [p.name.split(".", 1)[1] for p in tmp_path.iterdir()] == ["jsonl.1"]
    recent.emit(record("line 6"))
    recent.close()
    current = sorted(p.name.split(".", 1)[1] for p in tmp_path.iterdir())
    assert current == ["jsonl", "jsonl.1"]
    every = [
        json.loads(line)["msg"]
        for p in sorted(tmp_path.iterdir(), reverse=True)
        for line in p.read_text().splitlines()
    ]
    # only one older file is kept: what remains is the newest lines, in order
    assert every == [f"line {n}" for n in range(7 - len(every), 7)]
    assert 2 <= len(every) < 7


def test_it_renders_a_record_once_for_every_handler() -> None:
    formatter = logs.JsonFormatter()
    item = record("once", extra_field="x")
    first = formatter.format(item)
    assert formatter.format(item) is first
    assert json.loads(first)["extra_field"] == "x"
    assert "_json_line" not in json.loads(first)


def test_it_masks_a_registered_secret_that_slips_into_a_line() -> None:
    logs.register_secret("s3cr3t-distinctive-value")
    line = logs.JsonFormatter().format(record("password was s3cr3t-distinctive-value"))
    assert "s3cr3t-distinctive-value" not in line
    assert json.loads(line)["msg"] == "password was ••••"


def test_it_writes_info_lines_within_a_moment_and_warnings_at_once(
    recent: logs.RecentHandler, tmp_path: Path
) -> None:
    recent.emit(record("an attempt"))
    warning = record("a problem")
    warning.levelno, warning.levelname = logging.WARNING, "WARNING"
    recent.emit(warning)  # flushes what came before it too
    [path] = tmp_path.glob("worker-*.jsonl")
    assert [json.loads(line)["msg"] for line in path.read_text().splitlines()] == ["an attempt", "a problem"]
    recent.emit(record("later"))
    recent.flush()
    assert path.read_text().splitlines()[-1].endswith('"msg": "later"}')
    recent.close()


def test_the_stderr_handler_buffers_info_and_flushes_errors() -> None:
    import io

    class Counting(io.StringIO):
        flushes = 0

        def flush(self) -> None:
            self.flushes += 1
            super().flush()

    stream = Counting()
    handler = logs.BufferedStreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    handler.emit(record("quiet"))
    assert stream.flushes == 0
    error = record("loud")
    error.levelno, error.levelname = logging.ERROR, "ERROR"
    handler.emit(error)
    assert stream.flushes == 1
    assert [json.loads(line)["msg"] for line in stream.getvalue().splitlines()] == ["quiet", "loud"]
