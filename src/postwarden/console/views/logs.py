"""Logs: the recent structured lines of every process (web, worker, relay), filterable."""

from __future__ import annotations

import json
import logging
from typing import Any, Final

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from postwarden.logs import recent_lines

LEVELS: Final = ("debug", "info", "warning", "error", "critical")
#: fields every line has; the rest are shown as key=value
BASE_FIELDS: Final = frozenset({"ts", "level", "logger", "msg", "exc"})
LIMIT: Final = 1000


def logs(request: HttpRequest) -> HttpResponse:
    level = request.GET.get("level", "")
    logger = request.GET.get("logger", "").strip()
    text = request.GET.get("q", "").strip().lower()
    minimum = LEVELS.index(level) if level in LEVELS else 0
    # info lines are buffered for a fraction of a second (postwarden.logs); this
    # process's own are written out now so the page shows what just happened
    for handler in logging.getLogger().handlers:
        handler.flush()
    lines = []
    for entry in recent_lines(LIMIT):
        if _rank(entry) < minimum:
            continue
        if logger and not str(entry.get("logger", "")).startswith(logger):
            continue
        if text and text not in json.dumps(entry, ensure_ascii=False, default=str).lower():
            continue
        lines.append(_row(entry))
    context = {
        "lines": lines[:500],
        "levels": LEVELS,
        "level": level,
        "logger": logger,
        "q": request.GET.get("q", ""),
        "total": len(lines),
    }
    return render(request, "console/logs.html", context)


def _rank(entry: dict[str, Any]) -> int:
    level = str(entry.get("level", "info")).lower()
    return LEVELS.index(level) if level in LEVELS else 1


def _row(entry: dict[str, Any]) -> dict[str, Any]:
    extra = {k: v for k, v in entry.items() if k not in BASE_FIELDS}
    return {
        "ts": entry.get("ts", ""),
        "level": entry.get("level", ""),
        "logger": entry.get("logger", ""),
        "msg": entry.get("msg", ""),
        "exc": entry.get("exc", ""),
        "extra": " ".join(f"{k}={v}" for k, v in sorted(extra.items())),
    }
