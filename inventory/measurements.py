"""Measurements at the source (issue 17): what a resource used that its state does not say.

- Spaces storage: each bucket's size, summed from its object listing through the S3 API
  (`integrations.spaces`), recorded as the size of the day that just ended (the daily run reads
  it shortly after midnight UTC). A past day cannot be read again: a bucket that failed is
  retried by the next run, which measures ITS day; the failed day stays unmetered (`skipped`).
- Droplet bandwidth: each droplet's public outbound series for the day from DigitalOcean's
  monitoring API (Mbps), integrated over time into GB (`integrate_mbps`). One request per
  droplet-day: at 80,000 droplets that is 3,333 an hour of DigitalOcean's 5,000, so the day is
  measured in SLICES_PER_DAY hourly slices (`measure_bandwidth_slice`): slice h of the next
  day asks for the droplets whose slot (`pk % SLICES_PER_DAY`) is h, plus every earlier slot's
  droplet still without a complete measurement (a failure is retried by the next slice, at most
  MAX_BANDWIDTH_ATTEMPTS times). One run at a time measures (`inventory.locks.measurement_lock`:
  a second worker skips), and a complete measurement is final, so each droplet is asked for once
  a day. The last slice reports the droplets left unmeasured (`bandwidth_unmeasured`); they are
  never given a value (metering skips them with the reason).

One resource failing is logged and recorded as `failed` with its reason; it never stops the
others and is never given a value. Writes go through `inventory.services.measurement_record`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings

from integrations.digitalocean import DigitalOceanClient, DigitalOceanError, DOBudgetExhausted
from integrations.spaces import DEFAULT_REGION, SpacesClient, SpacesError
from inventory.locks import measurement_lock
from inventory.models import MeasurementStatus, ResourceKind
from inventory.selectors import (
    measurement_attempts,
    resources_due,
    resources_to_measure,
    unmeasured_resources,
)
from inventory.services import measurement_record

logger = logging.getLogger(__name__)

SPACES_METRIC = "spaces_storage_gb"
BANDWIDTH_METRIC = "public_outbound_gb"
SOURCE_SPACES = "spaces_s3"
SOURCE_MONITORING = "do_monitoring"
BYTES_PER_GB = Decimal(10) ** 9
SECONDS_PER_DAY = 86_400
BANDWIDTH_RETRY_DAYS = 3
SLICES_PER_DAY = 24
LAST_SLICE = SLICES_PER_DAY - 1
MAX_BANDWIDTH_ATTEMPTS = 3  # failed this many slices: left for the day's report


@dataclass
class MeasureResult:
    metric: str
    days: list[str] = field(default_factory=list)
    measured: int = 0
    partial: int = 0
    failed: int = 0
    deferred: int = 0  # not attempted: the rate budget ran out (measured by the next run)
    skipped: str = ""
    slice: int | None = None  # the hourly slice measured through (measure_bandwidth_slice)
    unmeasured: list[dict[str, Any]] = field(default_factory=list)  # the last slice's report

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def summary(self) -> str:
        if self.skipped:
            return f"{self.metric}: skipped ({self.skipped})"
        text = (
            f"{self.metric} {', '.join(self.days)}: {self.measured} measured, "
            f"{self.partial} partial, {self.failed} failed, {self.deferred} deferred"
        )
        if self.slice is not None:
            text += f" (through slice {self.slice} of {SLICES_PER_DAY})"
        if self.unmeasured:
            text += f"; {len(self.unmeasured)} droplets unmeasured at the day's end"
        return text


def integrate_mbps(points: Sequence[tuple[int, Decimal]], *, start: int, end: int) -> Decimal:
    """GB transferred in [start, end) by a series of (UNIX second, Mbps) points: each point's
    rate holds until the next point (the last until `end`); time before the first point counts
    nothing. Mbps x seconds = megabits; ÷ 8 = megabytes; ÷ 1000 = GB."""
    inside = [(t, rate) for t, rate in points if start <= t < end]
    megabits = Decimal(0)
    for index, (t, rate) in enumerate(inside):
        until = inside[index + 1][0] if index + 1 < len(inside) else end
        megabits += rate * (until - t)
    return megabits / 8 / 1000


def measure_spaces(*, client: SpacesClient, day: dt.date) -> MeasureResult:
    """Every bucket alive on `day` without a complete measurement of it: its size now."""
    result = MeasureResult(SPACES_METRIC, days=[day.isoformat()])
    default_region = str(getattr(settings, "SPACES_DEFAULT_REGION", "") or DEFAULT_REGION)
    buckets = resources_to_measure(kind=ResourceKind.SPACES_BUCKET, metric=SPACES_METRIC, day=day)
    for bucket in buckets.only("id", "name", "provider_id", "region"):
        name = bucket.name or bucket.provider_id
        region = bucket.region or default_region
        record = {"resource_id": bucket.id, "day": day, "metric": SPACES_METRIC}
        try:
            size = client.bucket_size(name, region=region)
        except SpacesError as exc:
            logger.warning("spaces: bucket %s not measured for %s: %s", name, day, exc)
            measurement_record(
                **record, status=MeasurementStatus.FAILED, source=SOURCE_SPACES, reason=str(exc)
            )
            result.failed += 1
            continue
        detail = {"bytes": size.size_bytes, "objects": size.objects, "pages": size.pages}
        if size.complete:
            measurement_record(
                **record,
                status=MeasurementStatus.COMPLETE,
                source=SOURCE_SPACES,
                value=Decimal(size.size_bytes) / BYTES_PER_GB,
                detail=detail,
            )
            result.measured += 1
        else:
            reason = (
                f"listing stopped after {client.max_seconds:g}s at {size.objects} objects "
                f"({size.pages} pages): the size is a lower bound, not metered"
            )
            logger.warning("spaces: bucket %s for %s: %s", name, day, reason)
            measurement_record(
                **record,
                status=MeasurementStatus.PARTIAL,
                source=SOURCE_SPACES,
                value=Decimal(size.size_bytes) / BYTES_PER_GB,
                reason=reason,
                detail=detail,
            )
            result.partial += 1
    logger.info("measurement %s", result.summary())
    return result


def measure_bandwidth(
    *, client: DigitalOceanClient, day: dt.date, retry_days: int = BANDWIDTH_RETRY_DAYS
) -> MeasureResult:
    """Every droplet alive on `day` (and on the `retry_days` days before it) without a complete
    measurement: its public outbound GB of that day, all at once (the demo, a manual catch-up;
    the schedule runs `measure_bandwidth_slice`). One request per droplet-day, through the
    client's rate budget; when the budget runs out the rest waits for the next run."""
    days = [day - dt.timedelta(days=back) for back in range(retry_days, -1, -1)]
    result = MeasureResult(BANDWIDTH_METRIC, days=[d.isoformat() for d in days])
    with measurement_lock(BANDWIDTH_METRIC) as acquired:
        if not acquired:
            result.skipped = "another bandwidth measurement is running"
            logger.info("measurement %s", result.summary())
            return result
        for measured_day in days:
            droplets = list(
                resources_to_measure(
                    kind=ResourceKind.DROPLET, metric=BANDWIDTH_METRIC, day=measured_day
                ).values_list("id", "provider_id")
            )
            if not _measure_droplets(client, measured_day, droplets, result):
                break
    logger.info("measurement %s", result.summary())
    return result


def measure_bandwidth_slice(
    *, client: DigitalOceanClient, day: dt.date, through_slice: int
) -> MeasureResult:
    """`day`'s hourly slice `through_slice` (0..LAST_SLICE): the droplets of that slot and of
    every earlier slot still without a complete measurement (a failed or deferred one is
    retried here, up to MAX_BANDWIDTH_ATTEMPTS failures). A second run while one measures skips
    (the first asks for every droplet once). The last slice reports what stays unmeasured."""
    if not 0 <= through_slice <= LAST_SLICE:
        raise ValueError(f"through_slice must be 0..{LAST_SLICE}, not {through_slice!r}")
    result = MeasureResult(BANDWIDTH_METRIC, days=[day.isoformat()], slice=through_slice)
    with measurement_lock(BANDWIDTH_METRIC) as acquired:
        if not acquired:
            result.skipped = "another bandwidth measurement is running"
            logger.info("measurement %s", result.summary())
            return result
        droplets = list(
            resources_due(
                kind=ResourceKind.DROPLET,
                day=day,
                metric=BANDWIDTH_METRIC,
                through_slot=through_slice,
                slots=SLICES_PER_DAY,
                max_attempts=MAX_BANDWIDTH_ATTEMPTS,
            ).values_list("id", "provider_id")
        )
        finished = _measure_droplets(client, day, droplets, result)
        if through_slice == LAST_SLICE and finished:
            result.unmeasured = bandwidth_unmeasured(day)
            if result.unmeasured:
                logger.warning(
                    "bandwidth %s: %d droplets not measured by the day's last slice (not "
                    "metered, never guessed): %s",
                    day,
                    len(result.unmeasured),
                    ", ".join(str(u["provider_id"]) for u in result.unmeasured[:50]),
                )
    logger.info("measurement %s", result.summary())
    return result


def bandwidth_unmeasured(day: dt.date) -> list[dict[str, Any]]:
    """The droplets alive on `day` without a complete bandwidth measurement of it, each with why
    (its last failure, or never attempted): the day's report."""
    return [
        {
            "resource_id": resource_id,
            "provider_id": provider_id,
            "name": name,
            "status": status or "not attempted",
            "reason": reason or "",
        }
        for resource_id, provider_id, name, status, reason in unmeasured_resources(
            kind=ResourceKind.DROPLET, metric=BANDWIDTH_METRIC, day=day
        )
    ]


def _measure_droplets(
    client: DigitalOceanClient,
    day: dt.date,
    droplets: list[tuple[int, str]],
    result: MeasureResult,
) -> bool:
    """Measure `day` for each (resource id, droplet id); False when the rate budget ran out
    (the rest is counted deferred and left for the next run)."""
    start = int(dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC).timestamp())
    end = start + SECONDS_PER_DAY
    attempts = measurement_attempts(metric=BANDWIDTH_METRIC, day=day)
    for position, (resource_id, droplet_id) in enumerate(droplets):
        record = {"resource_id": resource_id, "day": day, "metric": BANDWIDTH_METRIC}
        attempt = attempts.get(resource_id, 0) + 1
        try:
            # The window's end is exclusive: a point at `end` belongs to the next day.
            points = client.get_droplet_bandwidth(droplet_id, start=start, end=end - 1)
        except DOBudgetExhausted:
            result.deferred += len(droplets) - position
            logger.warning(
                "bandwidth %s: rate budget exhausted; %d droplets left for the next run",
                day,
                len(droplets) - position,
            )
            return False
        except DigitalOceanError as exc:
            logger.warning("bandwidth: droplet %s not measured for %s: %s", droplet_id, day, exc)
            measurement_record(
                **record,
                status=MeasurementStatus.FAILED,
                source=SOURCE_MONITORING,
                reason=str(exc)[:500],
                detail={"attempts": attempt},
            )
            result.failed += 1
            continue
        if not points:
            measurement_record(
                **record,
                status=MeasurementStatus.FAILED,
                source=SOURCE_MONITORING,
                reason="DigitalOcean monitoring returned no data points for the day",
                detail={"attempts": attempt},
            )
            result.failed += 1
            continue
        measurement_record(
            **record,
            status=MeasurementStatus.COMPLETE,
            source=SOURCE_MONITORING,
            value=integrate_mbps(points, start=start, end=end),
            detail={
                "points": len(points),
                "first": points[0][0],
                "last": points[-1][0],
                "attempts": attempt,
            },
        )
        result.measured += 1
    return True
