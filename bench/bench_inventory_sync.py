"""Inventory sync of the 100,000-resource account of issue 22 (80,000 droplets and the other
kinds: `generate.LARGE_ACCOUNT`) from the emulator: every sync target once (the first sync),
then again with nothing changed, through the real sync path (client → normalize → upsert →
mark_stale → attribution).

Figures: time and requests of each pass (the requests against DigitalOcean's 5,000 an hour),
rows written by the unchanged re-sync (per table: it must write no resource, event or history
row; each kind's listing mark is the only write), queries per resource. Targets: the first
sync ≤ 600 s (once, on a new account), the unchanged re-sync of every target ≤ 300 s (a sixth of
the shortest interval of the schedule, 30 minutes: a slow day on this machine still leaves room),
re-sync rows written on resources, events and history = 0, and one full sync's requests ≤ 5,000.
Also at 10,000 and 30,000 resources (1x / 3x / 10x)."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
from collections import Counter
from collections.abc import Iterator

from _common import counting_queries, cpu_figures, fresh_schema, report, timed, vs_ceiling
from django.db import connection

from integrations.digitalocean import DigitalOceanClient
from integrations.digitalocean.ratelimit import PER_HOUR
from integrations.digitalocean.sandbox import DigitalOceanEmulator, generate_account, run_emulator
from integrations.digitalocean.sandbox.generate import LARGE_ACCOUNT, with_backups
from inventory.models import CloudResource, CloudResourceEvent, KindListing, SyncStatus
from inventory.sync import SYNC_TARGETS, sync_target

# BENCH_SCALE=0.05 runs a twentieth of the account (a quick check of the script, not a figure).
SCALE = float(os.environ.get("BENCH_SCALE", "1"))
ACCOUNT = dict(LARGE_ACCOUNT)
NOW = dt.datetime(2026, 5, 2, tzinfo=dt.UTC)
INTERVAL_S = 30 * 60  # droplets and the other listings every 30 minutes (inventory/schedules.py)
FIRST_SYNC_TARGET_S = 600
RESYNC_TARGET_S = INTERVAL_S // 6
WRITE = re.compile(r'^\s*(?:INSERT INTO|UPDATE|DELETE FROM)\s+"(\w+)"', re.IGNORECASE)


@contextlib.contextmanager
def rows_written() -> Iterator[Counter[str]]:
    """Rows inserted, updated or deleted per table (the statements' row counts)."""
    written: Counter[str] = Counter()

    def count(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        match = WRITE.match(sql)
        if match:
            written[match.group(1)] += max(context["cursor"].rowcount, 0)
        return result

    with connection.execute_wrapper(count):
        yield written


def sync_everything(client: DigitalOceanClient, now: dt.datetime, seconds: dict) -> list:
    results = []
    for target in SYNC_TARGETS:
        with timed() as took:
            results.append(sync_target(target, client=client, now=now))
        seconds[target] = round(took["seconds"], 1)
    return results


def measure(scale: float) -> dict:
    """First sync and unchanged re-sync of the account at `scale` (1.0: 100,000 resources)."""
    fresh_schema()
    counts = {kind: int(n * scale) for kind, n in ACCOUNT.items()}
    account = with_backups(generate_account(seed=7, **counts), every=40, each=2)
    emulator = DigitalOceanEmulator(account, period=dt.date(2026, 4, 1), clock=NOW)
    run: dict = {"first_seconds_per_target": {}, "resync_seconds_per_target": {}}
    with run_emulator(emulator) as running:
        client = DigitalOceanClient(running.base_url, running.token)
        with timed() as first, counting_queries() as first_queries:
            results = sync_everything(client, NOW, run["first_seconds_per_target"])
        first_requests = len(running.request_log)
        events_before = CloudResourceEvent.objects.count()
        later = NOW + dt.timedelta(minutes=30)
        with timed() as again, counting_queries() as again_queries, rows_written() as written:
            resync = sync_everything(client, later, run["resync_seconds_per_target"])
        again_requests = len(running.request_log) - first_requests
    # Bookkeeping, not resources: each kind's listing mark and each sync target's outcome (its
    # last success, which metering reads to tell a day whose sync was failing).
    marks = {KindListing._meta.db_table, SyncStatus._meta.db_table}
    droplets = CloudResource.objects.filter(kind="droplet").count()
    assert droplets >= counts["droplets"], droplets
    run.update(
        resources=CloudResource.objects.filter(deleted_at=None).count(),
        droplets=droplets,
        first=first,
        again=again,
        first_requests=first_requests,
        again_requests=again_requests,
        first_queries=first_queries.count,
        again_queries=again_queries.count,
        written=dict(sorted(written.items())),
        resource_rows=sum(n for table, n in written.items() if table not in marks),
        new_events=CloudResourceEvent.objects.count() - events_before,
        skipped=[r.summary() for r in [*results, *resync] if r.skipped],
        listed={r.target: r.listed for r in results},
        resync_summary=[r.summary() for r in resync],
    )
    return run


def main() -> None:
    runs = [measure(SCALE * step) for step in (0.1, 0.3, 1.0)]  # 1x / 3x / 10x
    full = runs[-1]
    first, again, resources = full["first"], full["again"], full["resources"]
    again_requests = full["again_requests"]
    met = (
        first["seconds"] <= FIRST_SYNC_TARGET_S
        and again["seconds"] <= RESYNC_TARGET_S
        and full["resource_rows"] == 0
        and full["new_events"] == 0
        and again_requests <= PER_HOUR
        and not full["skipped"]
    )
    report(
        f"inventory sync, {resources:,} resources ({full['droplets']:,} droplets): first / "
        "unchanged re-sync",
        result=(
            f"{first['seconds']:.1f} s / {again['seconds']:.1f} s, {again_requests:,} requests a "
            f"full sync ({again_requests / PER_HOUR:.2f} of {PER_HOUR:,}/h), re-sync rows "
            f"written {full['resource_rows']}"
        ),
        target=(
            f"≤ {FIRST_SYNC_TARGET_S} s / ≤ {RESYNC_TARGET_S} s, re-sync writes 0 rows (listing "
            "marks and sync outcomes aside), ≤ 5,000 requests"
        ),
        met=met,
        vs_ceiling=[
            vs_ceiling(
                f"{again_requests:,} requests a full sync",
                f"DigitalOcean's {PER_HOUR:,}/h per token",
                again_requests / PER_HOUR,
                "of the hourly limit",
            ),
            vs_ceiling(
                f"re-sync {again['seconds']:.0f} s",
                f"the schedule's shortest interval, {INTERVAL_S // 60} min",
                again["seconds"] / INTERVAL_S,
                "of the interval",
            ),
        ],
        resources=resources,
        **{f"first_{key}": value for key, value in cpu_figures(first).items()},
        **{f"resync_{key}": value for key, value in cpu_figures(again).items()},
        first_requests=full["first_requests"],
        resync_requests=again_requests,
        resync_rows_written=full["resource_rows"],
        resync_rows_written_per_table=full["written"],
        resync_events=full["new_events"],
        first_queries=full["first_queries"],
        resync_queries=full["again_queries"],
        queries_per_resource_first=round(full["first_queries"] / resources, 4),
        queries_per_resource_resync=round(full["again_queries"] / resources, 4),
        listed_per_target=full["listed"],
        seconds_per_target_first=full["first_seconds_per_target"],
        seconds_per_target_resync=full["resync_seconds_per_target"],
        growth_seconds={
            f"{r['resources']:,} resources": [
                round(r["first"]["seconds"], 1),
                round(r["again"]["seconds"], 1),
            ]
            for r in runs
        },
        growth_requests={f"{r['resources']:,} resources": r["again_requests"] for r in runs},
        resync_summary=full["resync_summary"],
        skipped=full["skipped"],
    )


if __name__ == "__main__":
    main()
