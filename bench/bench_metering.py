"""meter_day over 100,000 deployment-attributed resources, beside the raw SQL ceiling: a bare
`INSERT … SELECT … ON CONFLICT DO NOTHING` of the same number of rows, measured in the same run.
Also 1x / 3x / 10x data (10k, 30k, 100k resources) to show how the cost grows.

Each resource has a realistic billed history (issue 17): CHANGES_PER_MONTH changes (power off /
on, resize) spread over the metered month, so meter_day integrates several intervals per
resource on some days and the history holds CHANGES_PER_MONTH + 1 intervals per resource-month.

Target: meter_day ≥ 50% of the ceiling's speed (ceiling time / meter_day time ≥ 0.5)."""

from __future__ import annotations

import datetime as dt
import statistics
import time
from decimal import Decimal

from _common import counting_queries, fresh_schema, report, vs_ceiling
from django.db import connection

from arcadia_cloud.clock import utc_today
from arcadia_cloud.periods import day_bounds, previous_month
from deployments.models import Deployment
from inventory.models import CloudResource, CloudResourceHistory
from invoicing.models import UsageRecord
from invoicing.usage.metering import meter_day

KINDS = ["droplet"] * 8 + ["snapshot"] * 4 + ["volume"] * 2 + ["dns_zone"] * 2 + ["floating_ip"] * 2
KINDS += ["load_balancer", "droplet_backup"]
# Metered days sit in last month: usage older than LATE_USAGE_HORIZON_DAYS is refused, so the
# benchmark's days move with the clock; the resources were first seen a month before.
METERED_MONTH = previous_month(utc_today())
FIRST_SEEN = dt.datetime.combine(previous_month(METERED_MONTH), dt.time(), tzinfo=dt.UTC)
MONTH_START = dt.datetime.combine(METERED_MONTH, dt.time(), tzinfo=dt.UTC)
CHANGES_PER_MONTH = 3
CEILING = """
INSERT INTO usage_records (deployment_id, resource_id, resource_kind, period_start, granularity,
                           qty, qty_numerator, qty_denominator, source, sub_attribution, created_at)
SELECT r.deployment_id, r.id, 'droplet_hours', %s, 'daily', 24, 24, 1, 'manual', '{}'::jsonb, now()
FROM cloud_resources r
WHERE r.deployment_id IS NOT NULL AND r.first_seen_at < %s
  AND (r.deleted_at IS NULL OR r.deleted_at >= %s)
ON CONFLICT DO NOTHING"""


def build(resources: int) -> None:
    fresh_schema()
    deployments = Deployment.objects.bulk_create(
        Deployment(tenant_id=f"t{i % 200}", slug=f"d{i}", display_name="d") for i in range(1000)
    )
    rows = []
    for i in range(resources):
        kind = KINDS[i % len(KINDS)]
        sized = kind in ("snapshot", "volume", "droplet_backup")
        status = {
            "droplet": "active" if i % 7 else "off",
            "floating_ip": "unassigned" if i % 3 else "assigned",
        }
        rows.append(
            CloudResource(
                kind=kind,
                provider_id=f"{kind}-{i}",
                name=f"r{i}",
                status=status.get(kind, "active"),
                attrs={"size_gb": str(10 + i % 90)} if sized else {"nodes": 1},
                deployment=deployments[i % 1000],
                first_seen_at=FIRST_SEEN,
                last_seen_at=FIRST_SEEN,
            )
        )
    created = CloudResource.objects.bulk_create(rows, batch_size=5000)
    CloudResourceHistory.objects.bulk_create(
        (interval for i, resource in enumerate(created) for interval in _history(i, resource)),
        batch_size=5000,
    )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # the timed part must not share the CPU with autovacuum


def _history(i: int, resource: CloudResource) -> list[CloudResourceHistory]:
    """CHANGES_PER_MONTH changes in the metered month, at hours that vary by resource: a
    droplet toggles active / off, a sized kind grows 10 GB, the others change status only."""
    changes = [
        MONTH_START + dt.timedelta(days=(i + 9 * n) % 27 + 1, hours=(i * 7 + n * 5) % 24)
        for n in range(CHANGES_PER_MONTH)
    ]
    starts = [FIRST_SEEN, *sorted(changes)]
    size = Decimal(resource.attrs["size_gb"]) if "size_gb" in resource.attrs else Decimal(1)
    intervals = []
    for n, start in enumerate(starts):
        status = resource.status
        if resource.kind == "droplet" and n % 2:
            status = "off" if status == "active" else "active"
        grown = size + 10 * n if "size_gb" in resource.attrs else size
        intervals.append(
            CloudResourceHistory(
                resource=resource,
                kind=resource.kind,
                valid_from=start,
                valid_to=starts[n + 1] if n + 1 < len(starts) else None,
                status=status,
                size=grown,
                deployment_id=resource.deployment_id,
                tenant_id=resource.tenant_id,
            )
        )
    return intervals


def checkpoint() -> None:
    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")


def measure(resources: int, reps: int) -> tuple[float, float, int]:
    build(resources)
    ceiling, ours, queries = [], [], 0
    for rep in range(reps):
        ceiling_day = METERED_MONTH + dt.timedelta(days=2 * rep)
        start, end = day_bounds(ceiling_day)
        checkpoint()
        began = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(CEILING, [start, end, start])
        ceiling.append(time.perf_counter() - began)
        checkpoint()
        began = time.perf_counter()
        with counting_queries() as counter:
            result = meter_day(ceiling_day + dt.timedelta(days=1))
        ours.append(time.perf_counter() - began)
        queries = counter.count
        assert result.records_created == resources, result.summary()
    return statistics.median(ceiling), statistics.median(ours), queries


def main() -> None:
    growth = {}
    for resources, reps in ((10_000, 3), (30_000, 3)):
        growth[resources] = measure(resources, reps)[1]
    ceiling, ours, queries = measure(100_000, 5)
    growth[100_000] = ours
    rerun_started = time.perf_counter()
    again = meter_day(METERED_MONTH + dt.timedelta(days=1))
    rerun = time.perf_counter() - rerun_started
    assert again.records_created == 0
    ratio = ceiling / ours
    rows_per_s = 100_000 / ours
    report(
        "meter_day, 100,000 attributed resources",
        result=f"{ours:.2f} s ({rows_per_s:,.0f} rows/s) vs ceiling {ceiling:.2f} s = {ratio:.0%}",
        target="≥ 50% of the raw SQL ceiling",
        met=ratio >= 0.5,
        vs_ceiling=vs_ceiling(
            f"meter_day {ours:.2f} s", f"raw INSERT … SELECT {ceiling:.2f} s", ratio, "of its speed"
        ),
        queries=queries,
        rerun_seconds=round(rerun, 3),
        growth_seconds={f"{n:,}": round(s, 3) for n, s in growth.items()},
        usage_rows=UsageRecord.objects.count(),
        history_intervals_per_resource_month=CHANGES_PER_MONTH + 1,
        history_bytes_per_resource_month=_history_bytes_per_resource(),
    )


def _history_bytes_per_resource() -> int:
    """The history table and its indexes, per resource (one month of CHANGES_PER_MONTH)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_total_relation_size('cloud_resource_history')")
        (size,) = cursor.fetchone()
    return round(size / CloudResource.objects.count())


if __name__ == "__main__":
    main()
