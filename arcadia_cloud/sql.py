"""Hand-written SQL for the API's hottest reads (docs/performance.md, "API under load").

On a page of 20 inventory rows or one tenant's invoice, building and compiling the ORM query
cost more than the rest of the request together. The few lists read most often therefore have
a second, hand-written form of their query in their app's selectors: the same columns, the same
conditions and the same keyset order, written out as SQL and run with `page_rows`. The ORM
queryset stays the definition: the other databases (SQLite, the quick start's) use it, the
detail views and exports use it, and a property test per list holds the SQL's pages equal to
the queryset's for random data, filters and callers — tenant isolation included.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from django.db import connection


def hand_sql_enabled() -> bool:
    """The hand-written reads are PostgreSQL's (the production database); elsewhere the ORM
    reads, whose conversions (SQLite keeps datetimes as text) the raw cursor would skip."""
    return connection.vendor == "postgresql"


@dataclass(frozen=True)
class KeysetPage:
    """Which rows a keyset page holds, as SQL: after the cursor's row (a condition with its
    parameters, or none for the first page), in the list's order, at most `limit` of them."""

    after: tuple[str, list[Any]] | None
    order_by: str
    limit: int


def page_rows(
    select_from: str,
    conditions: Sequence[tuple[str, Sequence[Any]]],
    page: KeysetPage,
    *,
    select_params: Sequence[Any] = (),
) -> list[dict[str, Any]]:
    """`select_from WHERE <conditions AND after> ORDER BY … LIMIT …` as dicts keyed by the
    selected columns' names. Each condition is SQL with `%s` placeholders and its parameters
    (`select_params` are those of `select_from`); no value but the integer limit is ever put
    into the SQL text."""
    clauses = [clause for clause, _ in conditions]
    params = [*select_params, *(param for _, each in conditions for param in each)]
    if page.after is not None:
        clauses.append(page.after[0])
        params.extend(page.after[1])
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    # The limit is written into the text (an int, the page size the paginator bounded): a
    # prepared statement's generic plan guesses 10% of the table for `LIMIT $n`, so PostgreSQL
    # would plan a long list afresh on every run rather than take its generic plan.
    sql = f"{select_from}{where} ORDER BY {page.order_by} LIMIT {int(page.limit)}"
    return fetch_dicts(sql, params)


def utc_timestamp_text(column: str) -> str:
    """SQL for a `timestamptz` column as the API prints it (DRF's and the renderer's form:
    UTC, `YYYY-MM-DDTHH:MM:SS`, `.ffffff` only when there are microseconds, `Z`), NULL for NULL.
    Formatting in PostgreSQL spares the page a Python datetime per value, parsed only to be
    printed again; tests/test_hand_sql_pages.py holds the text to the renderer's, byte for byte."""
    # '.000000' can only be the fraction (nothing else in the text has a dot).
    return (
        f"replace(to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'),"
        " '.000000', '') || 'Z'"
    )


def json_value(text: str | None) -> Any:
    """A `jsonb` column's text as the JSONField gives it (`json.loads`), read by orjson; what
    orjson refuses (an integer beyond 64 bits) by the standard library, as the field would."""
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _preparing_cursor():
    """A cursor that binds its parameters on the server, so psycopg prepares a statement run
    often on this connection (settings.DATABASE_PREPARE_THRESHOLD) and PostgreSQL stops planning
    it on every request. Django's own cursors bind on the client, which cannot be prepared; this
    one is wrapped like them (query logging, error translation)."""
    from django.db.backends.postgresql.base import ServerBindingCursor

    connection.ensure_connection()
    return connection._prepare_cursor(ServerBindingCursor(connection.connection))


def fetch_dicts(sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
    with _preparing_cursor() as cursor:
        cursor.execute(sql, params)
        # The names straight from the result (`description` builds a Column object per column).
        result = cursor.cursor.pgresult
        names = [result.fname(n).decode() for n in range(result.nfields)]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
