"""Many rows in one statement, without building a model instance per row.

The outbox's hot paths (a batch of 500 messages through the API, a worker recording
thousands of results a second) would spend most of their time in the ORM's per-object
work (docs/reference/send-baselines.md: forty times what the database itself spends per row,
through ``bulk_create``). These helpers take plain tuples, adapt only the columns that
need it (datetimes, JSON) with the connection's own adapters, and hand the rest to the
driver's ``executemany``. They run in the caller's transaction.

On PostgreSQL a batched ``UPDATE`` is one statement whatever the batch's size: the rows
travel as one array per column and ``unnest`` joins them to the table. Run once per row
(``executemany``), the server parses and plans the same statement for every row, which
cost it as much as the update itself (docs/performance.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from django.db import connection, models

Adapter = Callable[[Any], Any]


def insert(
    model: type[models.Model], columns: Sequence[str], rows: Iterable[Sequence[Any]], *, adapted: bool = False
) -> int:
    """``INSERT`` one row per tuple (values in ``columns`` order, field names); returns the
    count. ``adapted``: the values are in the driver's form already (see
    :func:`datetime_adapter`). Nothing is done for no rows."""
    batch = rows if isinstance(rows, list) else list(rows)
    if not batch:
        return 0
    sql, adapters = _statement("insert", model, tuple(columns), ())
    return _executemany(sql, None if adapted else adapters, batch)


def update(
    model: type[models.Model],
    columns: Sequence[str],
    where: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    adapted: bool = False,
) -> int:
    """``UPDATE … SET columns WHERE where`` for each tuple (``columns`` values, then ``where``
    values); returns the number of rows changed (a tuple whose ``where`` matches no row
    changes none). ``where`` must name at most one row per tuple, and no row twice in a
    batch (a key). ``adapted`` as for :func:`insert`."""
    batch = rows if isinstance(rows, list) else list(rows)
    if not batch:
        return 0
    if connection.vendor != "postgresql":
        sql, adapters = _statement("update", model, tuple(columns), tuple(where))
        return _executemany(sql, None if adapted else adapters, batch, changed=True)
    sql, adapters = _statement("update_unnest", model, tuple(columns), tuple(where))
    prepared = batch if adapted else _adapt(adapters, batch)
    with connection.cursor() as cursor:
        cursor.execute(sql, [list(column) for column in zip(*prepared, strict=True)])
        return int(cursor.rowcount)


def table(model: type[models.Model]) -> str:
    """``model``'s table name, quoted for hand-written SQL."""
    return str(connection.ops.quote_name(model._meta.db_table))


def datetime_adapter() -> Adapter:
    """The connection's own conversion of an aware datetime, for callers that adapt their
    rows themselves (once per distinct value)."""
    if connection.vendor == "sqlite" and connection.timezone_name == "UTC":
        return _sqlite_utc
    return connection.ops.adapt_datetimefield_value


#: (vendor, kind, model, columns, where) -> (sql, fields): the hot paths run the same few
#: statements thousands of times a minute
_statements: dict[tuple[Any, ...], tuple[str, list[Any]]] = {}


def _statement(
    kind: str, model: type[models.Model], columns: tuple[str, ...], where: tuple[str, ...]
) -> tuple[str, list[Adapter | None]]:
    key = (connection.vendor, kind, model, columns, where)
    found = _statements.get(key)
    if found is None:
        found = _statements[key] = _build(kind, model, columns, where)
    sql, fields = found
    # adapters belong to this connection: looked up per statement, not cached
    return sql, [_adapter(field) for field in fields]


def _build(
    kind: str, model: type[models.Model], columns: tuple[str, ...], where: tuple[str, ...]
) -> tuple[str, list[Any]]:
    fields = [model._meta.get_field(name) for name in (*columns, *where)]
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    # identifiers come from the model, values travel as parameters
    if kind == "insert":
        names = ", ".join(quote(_column(field)) for field in fields)
        marks = ", ".join(["%s"] * len(fields))
        return f"INSERT INTO {table} ({names}) VALUES ({marks})", fields  # noqa: S608
    if kind == "update_unnest":
        return _update_unnest(table, fields, len(columns)), fields
    sets = ", ".join(f"{quote(_column(f))} = %s" for f in fields[: len(columns)])
    conditions = " AND ".join(f"{quote(_column(f))} = %s" for f in fields[len(columns) :])
    return f"UPDATE {table} SET {sets} WHERE {conditions}", fields  # noqa: S608


def _update_unnest(table: str, fields: list[Any], set_count: int) -> str:
    """PostgreSQL: ``UPDATE table SET … FROM unnest(%s::type[], …) AS v(…) WHERE …``, one
    array parameter per field (the ``columns``, then the ``where``), named ``v0``, ``v1`` …
    in the join (a column may be both set and compared: the state a move starts from)."""
    quote = connection.ops.quote_name
    names = [f"v{index}" for index in range(len(fields))]
    arrays = ", ".join(f"%s::{_array_type(field)}" for field in fields)
    sets = ", ".join(f"{quote(_column(f))} = v.{n}" for f, n in zip(fields[:set_count], names, strict=False))
    keys = zip(fields[set_count:], names[set_count:], strict=True)
    conditions = " AND ".join(f"t.{quote(_column(f))} = v.{n}" for f, n in keys)
    return (
        f"UPDATE {table} AS t SET {sets} FROM unnest({arrays}) AS v({', '.join(names)}) "  # noqa: S608
        f"WHERE {conditions}"
    )


def _array_type(field: Any) -> str:
    """The array type one field's values travel in. Text goes as ``text[]`` rather than
    ``varchar(n)[]``, whose cast would cut a value too long for its column where the
    assignment to the column refuses it, as a row-at-a-time UPDATE does."""
    if isinstance(field, models.CharField | models.TextField):
        return "text[]"
    return f"{field.db_type(connection)}[]"


def _executemany(
    sql: str, adapters: list[Adapter | None] | None, rows: list[Sequence[Any]], *, changed: bool = False
) -> int:
    """Runs ``sql`` once per row; the number of rows, or with ``changed`` the rows the
    statements changed (both drivers sum their counts over an executemany)."""
    prepared = rows if adapters is None else _adapt(adapters, rows)
    if not prepared:
        return 0
    with connection.cursor() as cursor:
        cursor.executemany(sql, prepared)
        return int(cursor.rowcount) if changed else len(prepared)


def _column(field: Any) -> str:
    return str(field.column)


def _adapter(field: Any) -> Adapter | None:
    if isinstance(field, models.DateTimeField):
        return datetime_adapter()
    if isinstance(field, models.JSONField):
        if connection.vendor == "postgresql":
            from psycopg.types.json import Jsonb

            return Jsonb
        # what JSONField stores on SQLite (json.dumps with the default encoder), without
        # its per-value checks: these values are built from plain str/dict/list above
        return _compact_json
    return None


def _sqlite_utc(value: datetime) -> str:
    """What Django stores on SQLite for an aware datetime (naive UTC text), without its
    generic conversion: every row the worker writes carries a timestamp or two."""
    if value.tzinfo is UTC:
        return str(value.replace(tzinfo=None))
    return str(connection.ops.adapt_datetimefield_value(value))


def _compact_json(value: Any) -> str:
    if not value:
        return "[]" if isinstance(value, list) else "{}" if isinstance(value, dict) else json.dumps(value)
    return json.dumps(value)


def _adapt(adapters: list[Adapter | None], rows: Iterable[Sequence[Any]]) -> list[Sequence[Any]]:
    """Rows with the columns that need it adapted; the others are passed as they are.
    Each distinct value is adapted once per call: a batch's rows share their timestamps."""
    todo: list[tuple[int, Adapter, dict[Any, Any]]] = [
        (index, adapt, {}) for index, adapt in enumerate(adapters) if adapt is not None
    ]
    if not todo:
        return list(rows)
    prepared: list[Sequence[Any]] = []
    for row in rows:
        if len(row) != len(adapters):
            raise ValueError(f"a row has {len(row)} values for {len(adapters)} columns")
        values = list(row)
        for index, adapt, seen in todo:
            value = values[index]
            if value is None:
                continue
            try:
                values[index] = seen[value]
            except (KeyError, TypeError):  # TypeError: an unhashable value (a JSON list or dict)
                values[index] = adapted = adapt(value)
                if isinstance(value, datetime):
                    seen[value] = adapted
        prepared.append(values)
    return prepared
