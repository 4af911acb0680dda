"""Shared scaffolding for the benchmarks: Django setup on PostgreSQL, a clean schema, query
counting and the one result line each script prints (`BENCH {json}`), which bench/run_all.py
collects into docs/performance.md."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arcadia_cloud.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402


def require_postgres() -> None:
    if connection.vendor != "postgresql":
        sys.exit(
            "benchmarks run on PostgreSQL: use bench/run_all (it starts one) or set DATABASE_URL"
        )


def fresh_schema() -> None:
    """An empty, fully migrated database."""
    require_postgres()
    with connection.cursor() as cursor:
        cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    call_command("migrate", verbosity=0, interactive=False)


class QueryCounter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


@contextlib.contextmanager
def counting_queries() -> Iterator[QueryCounter]:
    counter = QueryCounter()
    with connection.execute_wrapper(counter):
        yield counter


@contextlib.contextmanager
def timed() -> Iterator[dict]:
    box = {}
    start = time.perf_counter()
    try:
        yield box
    finally:
        box["seconds"] = time.perf_counter() - start


def report(workload: str, *, result: str, target: str, met: bool, **figures) -> None:
    """The one line a benchmark prints."""
    line = {"workload": workload, "result": result, "target": target, "met": met, **figures}
    print("BENCH " + json.dumps(line, default=str), flush=True)
