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

from arcadia_cloud.runtime import freeze_startup_objects  # noqa: E402

# The product's code runs here as in a served process (gunicorn's and Celery's workers freeze
# their start-up objects: arcadia_cloud.runtime), so the in-process figures are theirs.
freeze_startup_objects()


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
    """Wall seconds, and the CPU seconds spent by this process (`python_cpu`) and by the
    PostgreSQL server (`postgres_cpu`, when its processes are readable in /proc): on a shared
    machine the wall time grows with other people's load, the CPU time much less."""
    box = {}
    start, cpu, server = time.perf_counter(), time.process_time(), postgres_cpu_seconds()
    try:
        yield box
    finally:
        box["seconds"] = time.perf_counter() - start
        box["python_cpu"] = time.process_time() - cpu
        after = postgres_cpu_seconds()
        box["postgres_cpu"] = after - server if after is not None and server is not None else None


def _proc_stat(pid: int) -> list[str]:
    """/proc/<pid>/stat after the command name: [state, ppid, pgrp, ...]."""
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()


def _cpu_of(fields: list[str], *, children: bool = False) -> float:
    """utime + stime (and the reaped children's, when asked) in seconds."""
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def processes() -> Iterator[tuple[int, list[str]]]:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                yield int(entry), _proc_stat(int(entry))


def postgres_cpu_seconds() -> float | None:
    """CPU seconds used so far by the server this connection talks to: the postmaster (with
    its exited backends, which it reaps) and its live children. None when not readable."""
    require_postgres()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (backend,) = cursor.fetchone()
    try:
        postmaster = int(_proc_stat(backend)[1])
        total = _cpu_of(_proc_stat(postmaster), children=True)
    except OSError:
        return None  # the server runs on another machine
    return total + sum(_cpu_of(fields) for _, fields in processes() if int(fields[1]) == postmaster)


def group_cpu_seconds(process_group: int) -> float:
    """CPU seconds of the live processes of a process group (e.g. gunicorn and its workers)."""
    return sum(_cpu_of(fields) for _, fields in processes() if int(fields[2]) == process_group)


def cpu_figures(box: dict) -> dict:
    """The CPU part of a `timed()` box, rounded, for a report line."""
    figures = {"python_cpu_s": round(box["python_cpu"], 2)}
    if box.get("postgres_cpu") is not None:
        figures["postgres_cpu_s"] = round(box["postgres_cpu"], 2)
    return figures


def vs_ceiling(figure: str, ceiling: str, ratio: float, means: str) -> dict:
    """A figure beside its ceiling measured in the same run (issue 22): what was measured, the
    ceiling (raw SQL, raw COPY, the bare endpoint, the 1-worker run, the old selector, an
    external limit), their ratio and what the ratio means ("of the ceiling's speed", ...).
    Pass one, or a list, to `report(..., vs_ceiling=...)`; bench/run_all prints the columns."""
    return {"figure": figure, "ceiling": ceiling, "ratio": round(ratio, 3), "means": means}


def raw_copy_ceiling(table: str, where: str = "TRUE", params: list | None = None) -> dict:
    """The ceiling of writing `table`'s rows (those matching `where`): the same rows, read out
    first (untimed), COPYed raw into an empty table with the same columns, defaults, indexes and
    checks (LIKE … INCLUDING ALL: no foreign keys), timed; the copy is dropped after."""
    require_postgres()
    scratch = f"bench_ceiling_{table}"
    chunks: list[bytes] = []
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg's own cursor (COPY)
        with raw.copy(f"COPY (SELECT * FROM {table} WHERE {where}) TO STDOUT", params) as out:
            chunks.extend(bytes(chunk) for chunk in out)
        cursor.execute(f"DROP TABLE IF EXISTS {scratch}")
        cursor.execute(f"CREATE TABLE {scratch} (LIKE {table} INCLUDING ALL)")
        try:
            began = time.perf_counter()
            with raw.copy(f"COPY {scratch} FROM STDIN") as into:
                for chunk in chunks:
                    into.write(chunk)
            seconds = time.perf_counter() - began
            cursor.execute(f"SELECT count(*) FROM {scratch}")
            (rows,) = cursor.fetchone()
        finally:
            cursor.execute(f"DROP TABLE IF EXISTS {scratch}")
    return {"table": table, "rows": rows, "seconds": seconds}


def report(workload: str, *, result: str, target: str, met: bool, **figures) -> None:
    """The one line a benchmark prints (`vs_ceiling=` one or a list of `vs_ceiling(...)`)."""
    line = {"workload": workload, "result": result, "target": target, "met": met, **figures}
    print("BENCH " + json.dumps(line, default=str), flush=True)
