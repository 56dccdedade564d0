"""The outbox's data access reads and writes rows by name (issue #13): no ``row[5]`` to
count against a SELECT list, no sixteen-slot tuple to count against a column list. A
row is a NamedTuple (or a dataclass) built where its SQL is, or unpacked into names
right there. This checks the source of every module under ``outbox/`` and ``webhooks/``
that touches the database."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "postwarden"
#: names a database row goes by in these modules
ROW_NAMES = re.compile(r"^(r|row|rows|found|fetched|rec|record|hit|existing)\d*$")
#: reads that hand back rows
FETCHES = frozenset({"fetchone", "fetchall", "fetchmany", "first", "last", "get"})
#: a tuple this long is a row written by position: name its fields instead
LONGEST_TUPLE = 8
#: what touches the database
DATABASE = re.compile(r"\bconnection\b|\.objects\b|\bbulk\.|\bcursor\b")


def data_access_modules() -> list[Path]:
    modules = [
        path
        for area in ("outbox", "webhooks")
        for path in sorted((SRC / area).rglob("*.py"))
        if "migrations" not in path.parts and DATABASE.search(path.read_text())
    ]
    assert len(modules) > 10, modules  # the scan found the outbox
    return modules


def index_reads(tree: ast.AST) -> list[tuple[int, str]]:
    """``row[3]``, ``cursor.fetchone()[0]``: an integer index into a row."""
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant)):
            continue
        if not isinstance(node.slice.value, int) or isinstance(node.slice.value, bool):
            continue
        target = node.value
        if (isinstance(target, ast.Name) and ROW_NAMES.match(target.id)) or (
            isinstance(target, ast.Call)
            and isinstance(target.func, ast.Attribute)
            and target.func.attr in FETCHES
        ):
            found.append((node.lineno, ast.unparse(node)))
    return found


def long_tuples(tree: ast.AST) -> list[tuple[int, str]]:
    """A tuple display of more than :data:`LONGEST_TUPLE` values that are not all
    constants (a list of column names or bounds is fine: it is not a row)."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Tuple) or isinstance(node.ctx, ast.Store):
            continue
        if len(node.elts) > LONGEST_TUPLE and not all(isinstance(e, ast.Constant) for e in node.elts):
            found.append((node.lineno, ast.unparse(node)[:80]))
    return found


def test_no_row_is_read_by_index_or_written_as_a_long_tuple() -> None:
    problems = []
    for path in data_access_modules():
        tree = ast.parse(path.read_text())
        name = path.relative_to(SRC).as_posix()
        problems += [f"{name}:{line}: index read {text}" for line, text in index_reads(tree)]
        problems += [f"{name}:{line}: long tuple {text}" for line, text in long_tuples(tree)]
    assert problems == []


@pytest.mark.parametrize(
    "source",
    [
        "found = {row[0]: tuple(row) for row in cursor.fetchall()}",
        "raw = bytes(found[5])",
        "Claimed(r[0], r[1], aware(r[5]))",
        "free = int(raw.execute('PRAGMA freelist_count').fetchone()[0])",
        "first = Recipient.objects.values_list('pk', 'address').first()[1]",
    ],
)
def test_the_check_sees_an_index_read(source: str) -> None:
    assert index_reads(ast.parse(source)) != []


@pytest.mark.parametrize(
    "source",
    [
        "rows.append((landing, reason, retry_at, None, '', code, enhanced, words, finding, pk))",
        "bulk.insert(Recipient, COLUMNS, [(pk, a, k, s, r, f, 0, 0, now, now, '') for a in x])",
    ],
)
def test_the_check_sees_a_long_tuple(source: str) -> None:
    assert long_tuples(ast.parse(source)) != []


@pytest.mark.parametrize(
    "source",
    [
        "for pk, message_pk, address in cursor.fetchall(): pass",
        "(value,) = cursor.fetchone()",
        "first = jobs[0]",
        "COLUMNS = ('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j')",
        "Row(pk, message_pk, address, attempt, base, queued_at, now, now, '')",
    ],
)
def test_the_check_lets_named_rows_through(source: str) -> None:
    tree = ast.parse(source)
    assert index_reads(tree) == []
    assert long_tuples(tree) == []
