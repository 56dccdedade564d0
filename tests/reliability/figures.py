"""The figures a suite reports (issue #8 asks for them in the closing note): counts from
the crash runs, the number of generated inputs tried.

A test calls :func:`report`; the figures travel with its report (``user_properties``,
which pytest-xdist carries from its workers to the controller) and are printed in a
"figures" section at the end of the run, and appended as JSON lines to ``PW_FIGURES_FILE``
when that is set. A pytest plugin, registered in tests/conftest.py.
"""

from __future__ import annotations

import json
import os
from typing import Any, Final

import pytest

KEY: Final = "pw_figures"


def report(request: pytest.FixtureRequest, what: str, **figures: Any) -> None:
    """Attach ``figures`` (JSON-able values) to the running test's report under ``what``."""
    request.node.user_properties.append((KEY, {"what": what, **figures}))


def _collected(terminalreporter: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for reports in terminalreporter.stats.values():
        for rep in reports:
            # a test's teardown report carries every property it gathered, fixtures' included
            if getattr(rep, "when", None) != "teardown":
                continue
            found += [value for key, value in getattr(rep, "user_properties", ()) if key == KEY]
    return found


def summed(figures: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per ``what``: the only one as it is; several (one per operation or
    parameter) with their whole numbers added up and ``tests`` counting them."""
    by_what: dict[str, list[dict[str, Any]]] = {}
    for entry in figures:
        by_what.setdefault(str(entry["what"]), []).append(entry)
    lines = []
    for what, entries in sorted(by_what.items()):
        if len(entries) == 1:
            lines.append(entries[0])
            continue
        total: dict[str, Any] = {"what": what, "tests": len(entries)}
        for entry in entries:
            for key, value in entry.items():
                if isinstance(value, int) and not isinstance(value, bool):
                    total[key] = total.get(key, 0) + value
        lines.append(total)
    return lines


def pytest_terminal_summary(terminalreporter: Any) -> None:
    figures = _collected(terminalreporter)
    if not figures:
        return
    terminalreporter.section("figures (issue #8)")
    for entry in summed(figures):
        rest = ", ".join(f"{k}={v}" for k, v in entry.items() if k != "what")
        terminalreporter.write_line(f"{entry['what']}: {rest}")
    path = os.environ.get("PW_FIGURES_FILE")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            for entry in figures:
                out.write(json.dumps(entry, default=str) + "\n")
