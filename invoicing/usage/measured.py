"""Metering what was measured at the source (issue 17): one daily usage row per resource and
measured metric (`pricing.kinds.MEASURED_METRICS`), from inventory's complete measurements.

- spaces_storage_gb → spaces_gb_month: the day's size in GB ÷ days in the month;
- public_outbound_gb → bandwidth_gb: the day's outbound GB.

Only a `complete` measurement is metered. A deployment-attributed resource alive that day
without one is not given a guess: it is counted in `skipped` under its reason (no measurement
yet, partial, failed: …) and metered by a later run once a measurement exists. Rows are daily
whatever the kind's granularity setting (a measurement is a day's). Idempotent like the state
metering: a resource's row of the day, once written, is left alone. A constant number of
queries per day on both databases (bulk insert, ON CONFLICT DO NOTHING).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from arcadia_cloud.money import quantize_qty
from arcadia_cloud.periods import day_bounds, days_in_month
from inventory.models import MeasurementStatus
from inventory.selectors import attributed_intervals, measurements_of_day
from invoicing.models import Granularity, UsageRecord, UsageSource
from pricing.kinds import GPU_DROPLET, K8S_WORKER, MEASURED_METRICS

BULK_BATCH_SIZE = 1000
NO_MEASUREMENT = "no measurement yet"
# Bandwidth is re-measured for the 3 days before yesterday (inventory.measurements); metering
# catches up one day further so the last retry is metered too.
CATCH_UP_DAYS = 4


@dataclass(frozen=True)
class MeasuredResult:
    resources: int = 0  # resource-metric pairs the day concerns
    records_created: int = 0
    already_metered: int = 0
    skipped: int = 0
    skipped_reasons: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "resources": self.resources,
            "records_created": self.records_created,
            "already_metered": self.already_metered,
            "skipped": self.skipped,
            "skipped_reasons": dict(self.skipped_reasons),
        }

    def summary(self) -> str:
        text = f"measured usage: {self.records_created} records created"
        if self.skipped:
            reasons = "; ".join(f"{n} {why}" for why, n in sorted(self.skipped_reasons.items()))
            text += f", {self.skipped} skipped ({reasons})"
        return text

    def __add__(self, other: MeasuredResult) -> MeasuredResult:
        reasons = Counter(self.skipped_reasons)
        reasons.update(other.skipped_reasons)
        return MeasuredResult(
            self.resources + other.resources,
            self.records_created + other.records_created,
            self.already_metered + other.already_metered,
            self.skipped + other.skipped,
            dict(reasons),
        )


# The billed-history kinds a measured resource kind appears as: a GPU droplet and a Kubernetes
# worker bill their hours as their own kinds, but their traffic is a droplet's like any other
# (the tenant's egress, whichever droplet sent it).
_HISTORY_KINDS = {
    "droplet": ("droplet", GPU_DROPLET, K8S_WORKER),
    "spaces_bucket": ("spaces_bucket",),
}


def _attributed_on(
    day_start: dt.datetime, day_end: dt.datetime, kinds: list[str]
) -> list[tuple[int, int, str]]:
    """(resource, deployment, resource kind) of the measured kinds attributed to a deployment
    during the day, from the billed history (one query): a day's one measured value goes to the
    deployment that held the resource longest that day, the later holder on a tie."""
    history_kinds = {hk: kind for kind in kinds for hk in _HISTORY_KINDS.get(kind, (kind,))}
    # resource -> (its resource kind, {deployment: (seconds held, latest start)})
    held: dict[int, tuple[str, dict[int, tuple[int, dt.datetime]]]] = {}
    for (
        resource_id,
        deployment_id,
        kind,
        _status,
        _size,
        valid_from,
        valid_to,
        _size_slug,
    ) in attributed_intervals(start=day_start, end=day_end, kinds=list(history_kinds)):
        begins = max(valid_from, day_start)
        seconds = int((min(valid_to or day_end, day_end) - begins).total_seconds())
        _, by_deployment = held.setdefault(resource_id, (history_kinds[kind], {}))
        before, latest = by_deployment.get(deployment_id, (0, begins))
        by_deployment[deployment_id] = (before + seconds, max(latest, begins))
    return [
        (resource_id, max(by_deployment, key=by_deployment.__getitem__), kind)
        for resource_id, (kind, by_deployment) in sorted(held.items())
    ]


def meter_measured(day: dt.date) -> MeasuredResult:
    """Write `day`'s measured usage rows; runs inside the caller's transaction (meter_day's)."""
    day_start, day_end = day_bounds(day)
    metrics_by_kind: dict[str, list] = {}
    for metric in MEASURED_METRICS.values():
        metrics_by_kind.setdefault(metric.resource_kind, []).append(metric)
    resources = _attributed_on(day_start, day_end, list(metrics_by_kind))
    measurements = {
        (m.resource_id, m.metric): m
        for m in measurements_of_day(day=day, metrics=list(MEASURED_METRICS)).only(
            "resource_id", "metric", "value", "status", "reason"
        )
    }
    metered_that_day = UsageRecord.objects.filter(
        source=UsageSource.MEASURED, period_start__gte=day_start, period_start__lt=day_end
    )
    already = set(metered_that_day.values_list("resource_id", "resource_kind"))
    rows: list[UsageRecord] = []
    total = already_count = 0
    reasons: Counter[str] = Counter()
    for resource_id, deployment_id, kind in resources:
        for metric in metrics_by_kind[kind]:
            total += 1
            if (resource_id, metric.billing_kind) in already:
                already_count += 1
                continue
            measurement = measurements.get((resource_id, metric.code))
            if measurement is None:
                reasons[f"{metric.code}: {NO_MEASUREMENT}"] += 1
                continue
            if measurement.status != MeasurementStatus.COMPLETE or measurement.value is None:
                reasons[f"{metric.code}: {measurement.status}"] += 1
                continue
            denominator = days_in_month(day) if metric.per_month else 1
            rows.append(
                UsageRecord(
                    deployment_id=deployment_id,
                    resource_id=resource_id,
                    resource_kind=metric.billing_kind,
                    period_start=day_start,
                    granularity=Granularity.DAILY,
                    qty=quantize_qty(measurement.value / denominator),
                    qty_numerator=measurement.value,
                    qty_denominator=denominator,
                    source=UsageSource.MEASURED,
                )
            )
    before = metered_that_day.count()
    UsageRecord.objects.bulk_create(rows, batch_size=BULK_BATCH_SIZE, ignore_conflicts=True)
    created = metered_that_day.count() - before
    return MeasuredResult(total, created, already_count, sum(reasons.values()), dict(reasons))


@transaction.atomic(durable=True)
def measured_usage_catch_up(*, day: dt.date, days_back: int = CATCH_UP_DAYS) -> MeasuredResult:
    """Meter the measurements that arrived late for the `days_back` days before `day` (a
    droplet the monitoring API failed for, measured by a later run). Idempotent."""
    result = MeasuredResult()
    for back in range(days_back, 0, -1):
        result += meter_measured(day - dt.timedelta(days=back))
    return result
