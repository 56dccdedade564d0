"""schemathesis names each operation's test ``test_x[POST /path]``, but under pytest 9.2's
structured node ids every one of them keeps the same id (``test_x``): the name's brackets are
not the id's parameters. pytest-xdist's ``--dist loadgroup`` (make test) schedules by node id,
so all but one operation per test silently never ran. Give each its operation in the id."""

from __future__ import annotations

from collections import Counter

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        label = item.name.partition("[")[2].removesuffix("]")
        structured = getattr(item, "_id", None)
        if label and structured is not None and getattr(structured, "params", "") is None:
            item._id = structured.with_params(label)


def pytest_collection_finish(session: pytest.Session) -> None:
    counts = Counter(item.nodeid for item in session.items)
    duplicated = sorted(nodeid for nodeid, count in counts.items() if count > 1)
    assert not duplicated, f"tests sharing a node id would be skipped by xdist: {duplicated}"
