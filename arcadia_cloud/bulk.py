"""Inserting many rows whose ids nobody reads back.

`bulk_create` prepares every value of every row through its field in Python and, on
PostgreSQL, sends each column as an array literal quoted element by element: about 150 µs a
row for a cost line, most of the time of a large invoice ingest (docs/performance.md). When the
caller does not need the new primary keys, `COPY … FROM STDIN` streams the same rows with
psycopg's own (compiled) adapters instead.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection
from django.db.models import JSONField, Model


def bulk_insert(model: type[Model], objs: Sequence[Model], *, batch_size: int = 1000) -> None:
    """Insert unsaved instances of `model` in order; their `pk` stays unset.

    PostgreSQL: one COPY. Each value is what `save()` would write: `pre_save` (auto_now and the
    like), JSON through the field's own adapter, everything else (str, int, bool, Decimal,
    datetime, date, None) as psycopg adapts it. A database-side default or expression is not a
    value COPY can carry: such rows, and other databases, go through `bulk_create`.
    """
    if not objs:
        return
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    rows = [[field.pre_save(obj, True) for field in fields] for obj in objs]
    if connection.vendor != "postgresql" or any(
        hasattr(value, "resolve_expression") for row in rows for value in row
    ):
        model._default_manager.bulk_create(objs, batch_size=batch_size)
        return
    json_columns = [n for n, field in enumerate(fields) if isinstance(field, JSONField)]
    for row in rows:
        for n in json_columns:
            row[n] = fields[n].get_db_prep_save(row[n], connection)
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    table = connection.ops.quote_name(model._meta.db_table)
    # The raw psycopg cursor: its errors are turned into Django's (IntegrityError, ...) here, as
    # for any other statement, so callers handle a COPY like the INSERT it replaces.
    with (
        connection.cursor() as cursor,
        connection.wrap_database_errors,
        cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)
