"""In-process cost of each call of the API mix (bench_api_load.py), for finding where a
request's time goes: the estate of bench/_dataset.py (BENCH_PROFILE_TENANTS tenants, default
the full 5,000), then each kind of call driven straight through the WSGI handler gunicorn
serves (no socket, no load tool), timed in this process's CPU time, with its query count.
`--profile` adds a cProfile of each kind (top functions by cumulative time).

    bin/with-postgres .venv/bin/python bench/profile_api.py [--profile] [--calls 300]

Not part of bench/run_all: a tool for the person optimising, not a figure to report."""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from collections import defaultdict

os.environ.setdefault("DATABASE_CONN_MAX_AGE", "60")  # as bench_api_load runs gunicorn

import bench_api_load
from _ceiling import application
from _common import counting_queries, fresh_schema, postgres_cpu_seconds
from _dataset import Estate, build_estate, last_complete_month
from bench_api_load import Call, ceiling_calls, request_mix
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.seed import catalog_seed


def label(call: Call) -> str:
    if call.path.startswith("/api/v1/inventory?kind="):
        return "admin droplets"
    return f"{call.method} {call.path.split('?')[0]}"


def environ(call: Call) -> dict:
    path, _, query = call.path.partition("?")
    body = call.body.encode()
    return {
        "REQUEST_METHOD": call.method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "HTTP_HOST": "127.0.0.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_AUTHORIZATION": f"Bearer {call.token}",
        "CONTENT_TYPE": "application/json" if body else "",
        "CONTENT_LENGTH": str(len(body)) if body else "",
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }


def serve(call: Call) -> tuple[str, bytes]:
    box = {}

    def start_response(status, headers, exc_info=None):
        box["status"] = status

    body = b"".join(application(environ(call), start_response))
    return box["status"], body


def explain(queries: list[dict]) -> None:
    with connection.cursor() as cursor:
        for query in queries:
            cursor.execute(f"EXPLAIN (ANALYZE, COSTS OFF) {query['sql']}")
            plan = "\n    ".join(row[0] for row in cursor.fetchall())
            print(f"  {query['sql'][:160]}\n    {plan}")


def prepared_statements() -> None:
    """What this connection has prepared and how PostgreSQL plans each: a generic plan (no
    planning per run) or a custom plan per run."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans, custom_plans,"
            " left(regexp_replace(statement, '\\s+', ' ', 'g'), 90)"
            " FROM pg_prepared_statements ORDER BY generic_plans + custom_plans DESC"
        )
        for generic, custom, statement in cursor.fetchall():
            print(f"  prepared: {generic} generic / {custom} custom plans  {statement}")


def by_package(stats: pstats.Stats, calls: int) -> str:
    """Each package's own CPU time per call (ms): where the request's time is spent."""
    totals: dict[str, float] = defaultdict(float)
    for (filename, _, _), (_, _, own, _, _) in stats.stats.items():
        path = filename.split("site-packages/")[-1].replace("/work/wt/", "")
        parts = path.split("/")
        package = "/".join(parts[:2]) if parts[0] == "django" else parts[0]
        totals[package] += own
    ranked = sorted(totals.items(), key=lambda item: -item[1])[:10]
    return ", ".join(f"{name} {own / calls * 1000:.2f}" for name, own in ranked)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--calls", type=int, default=300, help="per kind of call")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE each query")
    parser.add_argument("--sort", default="cumulative", help="the profile's order (tottime: own)")
    parser.add_argument("--only", default="", help="profile only the calls whose label has this")
    parser.add_argument(
        "--callers", default="", help="also print who calls the functions matching this"
    )
    parser.add_argument(
        "--server-side-binding",
        action="store_true",
        help="an experiment: psycopg binds parameters server-side (and prepares repeated queries)",
    )
    parser.add_argument(
        "--prepared", action="store_true", help="print the connection's prepared statements"
    )
    args = parser.parse_args()
    if args.server_side_binding:
        connection.settings_dict.setdefault("OPTIONS", {})["server_side_binding"] = True
    fresh_schema()
    catalog_seed()
    tenants = int(os.environ.get("BENCH_PROFILE_TENANTS", "5000"))
    bench_api_load.TENANTS = tenants  # the mix's callers among this estate's tenants
    estate = Estate(tenants=tenants, period=last_complete_month())
    build_estate(estate, usage=False)
    mix = request_mix(f"{estate.period:%Y-%m}")
    kinds: dict[str, list[Call]] = defaultdict(list)
    for call in [*mix, *ceiling_calls(mix[:10])]:
        kinds[label(call)].append(call)
    for name, calls in kinds.items():
        for call in calls[:20]:  # warm: imports, the connection, caches
            status, body = serve(call)
            assert status.startswith("200"), (name, status, body[:300])
        with counting_queries() as queries, CaptureQueriesContext(connection) as captured:
            serve(calls[0])
        if args.explain:
            explain(captured.captured_queries)
        began, pg_began = time.process_time(), postgres_cpu_seconds() or 0.0
        for n in range(args.calls):
            serve(calls[n % len(calls)])
        cpu_ms = (time.process_time() - began) / args.calls * 1000
        pg_ms = ((postgres_cpu_seconds() or 0.0) - pg_began) / args.calls * 1000
        print(
            f"{name:28s} {cpu_ms:6.2f} ms CPU/call (PostgreSQL {pg_ms:4.2f} ms)  "
            f"{queries.count} queries  {len(body)} bytes"
        )
        if args.prepared:
            prepared_statements()
        if args.profile and args.only in name:
            profiler = cProfile.Profile(time.process_time)  # CPU, not waiting
            profiler.enable()
            for n in range(args.calls):
                serve(calls[n % len(calls)])
            profiler.disable()
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats(args.sort).print_stats(45)
            if args.callers:
                stats.print_callers(args.callers)
            print(out.getvalue())
            print("  own time by package:", by_package(stats, args.calls))


if __name__ == "__main__":
    sys.exit(main())
