"""Structured logging: one JSON object per line, and the recent lines kept for the
console's Logs page.

Every process (web, worker, relay) appends to its own file under ``<data>/logs`` (one
writer per file, so rotation is safe); the console merges the tails. A last line of
defence redacts any secret value registered with :func:`register_secret` — log calls
must not pass secrets in the first place, this catches the one that slips.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Protocol, TextIO

_RESERVED: Final = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
_MAX_BYTES: Final = 4 * 1024 * 1024
_secrets: set[str] = set()
_secrets_lock = threading.Lock()
#: short secrets would redact ordinary words; none of ours are this short
_MIN_SECRET_LEN: Final = 6


def register_secret(value: str) -> None:
    if len(value) >= _MIN_SECRET_LEN:
        with _secrets_lock:
            _secrets.add(value)


def redact(text: str) -> str:
    for value in tuple(_secrets):
        if value in text:
            text = text.replace(value, "••••")
    return text


#: one encoder for every line: ``json.dumps`` with arguments builds a new one per call
_ENCODER: Final = json.JSONEncoder(ensure_ascii=False, default=str)


class JsonFormatter(logging.Formatter):
    """``{"ts": …, "level": …, "logger": …, "msg": …, <extra fields>}``."""

    def format(self, record: logging.LogRecord) -> str:
        # both handlers (stderr and the recent file) format every record: render it once
        cached = record.__dict__.get("_json_line")
        if cached is not None:
            return str(cached)
        line = self._render(record)
        record.__dict__["_json_line"] = line
        return line

    def _render(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return redact(_ENCODER.encode(entry))


def log_dir() -> Path:
    from django.conf import settings  # the data dir is a Django setting; imported late on purpose

    return Path(settings.DATA_DIR) / "logs"


#: seconds a log line may wait in a buffer before it is written out (a warning or an error
#: is written at once)
FLUSH_EVERY: Final = 0.25


class _Flusher:
    """One daemon thread that flushes the buffered handlers a few times a second.

    The worker writes a line per attempt, thousands a second; a write system call per
    line (twice: stderr and the recent file) cost more than sending the mail. Lines are
    buffered instead and written within :data:`FLUSH_EVERY`; ``logging.shutdown`` flushes
    the rest at exit. A SIGKILL may lose the last quarter second of info lines."""

    def __init__(self) -> None:
        self._handlers: list[logging.Handler] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def register(self, handler: logging.Handler) -> None:
        with self._lock:
            self._handlers.append(handler)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="log-flusher", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(FLUSH_EVERY)
            with self._lock:
                handlers = list(self._handlers)
            for handler in handlers:
                with contextlib.suppress(Exception):
                    handler.flush()


_flusher = _Flusher()


class BufferedStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """stderr, written a few times a second instead of once per line; warnings and
    errors at once."""

    def __init__(self, stream: Any = None) -> None:
        super().__init__(stream)
        _flusher.register(self)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._write(self.format(record) + self.terminator, record.levelno >= logging.WARNING)
        except Exception:  # logging must never take the process down
            self.handleError(record)

    def write_lines(self, text: str) -> None:
        """Append rendered lines (``text`` ends with a newline); see :func:`info_lines`."""
        self._write(text, False)

    def _write(self, text: str, flush: bool) -> None:
        with self.lock or contextlib.nullcontext():
            self.stream.write(text)
            if flush:
                self.stream.flush()


class RecentHandler(logging.Handler):
    """Appends to ``<data>/logs/<process>-<pid>.jsonl``, keeping one rotated file.

    The file stays open between records and is flushed a few times a second (warnings
    and errors at once), for the reason :class:`_Flusher` gives."""

    def __init__(self) -> None:
        super().__init__()
        self._path: Path | None = None
        self._handle: TextIO | None = None
        self._size = 0
        _flusher.register(self)

    def _file(self) -> Path:
        if self._path is None:
            directory = log_dir()
            directory.mkdir(parents=True, exist_ok=True)
            name = os.environ.get("POSTWARDEN_PROCESS", "cli")
            self._path = directory / f"{name}-{os.getpid()}.jsonl"
        return self._path

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._write(self.format(record) + "\n", record.levelno >= logging.WARNING)
        except Exception:  # logging must never take the process down
            self.handleError(record)

    def write_lines(self, text: str) -> None:
        """Append rendered lines (``text`` ends with a newline); see :func:`info_lines`."""
        self._write(text, False)

    def _write(self, text: str, flush: bool) -> None:
        with self.lock or contextlib.nullcontext():
            if self._handle is None:
                path = self._file()
                self._handle = path.open("a", encoding="utf-8")
                self._size = self._handle.tell()
            self._handle.write(text)
            if flush:
                self._handle.flush()
            self._size += len(text)
            if self._size > _MAX_BYTES:
                self._rotate(self._handle)

    def flush(self) -> None:
        with self.lock or contextlib.nullcontext():
            if self._handle is not None:
                self._handle.flush()

    def _rotate(self, handle: TextIO) -> None:
        handle.close()
        self._handle = None
        path = self._file()
        path.replace(path.with_suffix(".jsonl.1"))

    def close(self) -> None:
        with self.lock or contextlib.nullcontext():
            if self._handle is not None:
                self._handle.close()
                self._handle = None
        super().close()


class _LineSink(Protocol):
    def write_lines(self, text: str) -> None: ...


def info_lines(logger: logging.Logger, entries: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
    """Log ``(msg, fields)`` entries at INFO, exactly as ``logger.info(msg, extra=fields)``
    would print them, without the logging machinery when it adds nothing.

    The worker logs a line per attempt, ten thousand a second; a LogRecord, the handler
    chain and a ``json.dumps`` per line cost more than delivering the message. When
    every handler the records would reach is one of ours with our formatter and no
    filter (the configured case), the lines are rendered here with one timestamp for
    the batch and handed to each handler's buffer in one write; otherwise (a test's
    ``caplog``, an operator's own handler) each entry goes through ``logger.info``."""
    if not entries or not logger.isEnabledFor(logging.INFO):
        return
    sinks = _direct_sinks(logger)
    if sinks is None:
        for msg, fields in entries:
            logger.info(msg, extra=dict(fields))
        return
    head = {"ts": _now_ms(), "level": "info", "logger": logger.name}
    text = "".join(redact(_ENCODER.encode({**head, "msg": msg, **fields})) + "\n" for msg, fields in entries)
    for sink in sinks:
        sink.write_lines(text)


def _direct_sinks(logger: logging.Logger) -> list[_LineSink] | None:
    """The handlers ``logger``'s INFO records reach, when all of them can take rendered
    lines; None when any cannot (or a filter is in the way)."""
    sinks: list[_LineSink] = []
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters:
            return None
        for handler in current.handlers:
            if not isinstance(handler, BufferedStreamHandler | RecentHandler):
                return None
            if type(handler.formatter) is not JsonFormatter or handler.filters:
                return None
            if handler.level <= logging.INFO:
                sinks.append(handler)
        current = current.parent if current.propagate else None
    return sinks


_last_ms: list[Any] = [-1, ""]


def _now_ms() -> str:
    """The JSON lines' ``ts`` for now, rendered once per millisecond."""
    now = time.time()
    ms = int(now * 1000)
    if ms != _last_ms[0]:
        _last_ms[:] = [ms, datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")]
    return str(_last_ms[1])


def recent_lines(limit: int = 500) -> list[dict[str, Any]]:
    """The newest ``limit`` lines across every process, newest first."""
    directory = log_dir()
    if not directory.is_dir():
        return []
    entries: list[dict[str, Any]] = []
    for path in directory.glob("*.jsonl*"):
        entries.extend(_tail(path, limit))
    entries.sort(key=lambda e: str(e.get("ts", "")), reverse=True)
    return entries[:limit]


def _tail(path: Path, limit: int) -> Iterator[dict[str, Any]]:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - limit * 600))
            lines = handle.read().splitlines()[-limit:]
    except OSError:
        return
    for raw in lines:
        try:
            entry = json.loads(raw)
        except ValueError:
            continue  # a partial first line after seeking
        if isinstance(entry, dict):
            yield entry
