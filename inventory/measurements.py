"""Measurements at the source (issue 17): what a resource used that its state does not say.

- Spaces storage: each bucket's size, summed from its object listing through the S3 API
  (`integrations.spaces`), recorded as the size of the day that just ended (the daily run reads
  it shortly after midnight UTC). A past day cannot be read again: a bucket that failed is
  retried by the next run, which measures ITS day; the failed day stays unmetered (`skipped`).
- Droplet bandwidth: each droplet's public outbound series for the day from DigitalOcean's
  monitoring API (Mbps), integrated over time into GB (`integrate_mbps`). A past day can be
  read again, so each run also retries the last BANDWIDTH_RETRY_DAYS days' missing droplets.

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
from inventory.models import MeasurementStatus, ResourceKind
from inventory.selectors import resources_to_measure
from inventory.services import measurement_record

logger = logging.getLogger(__name__)

SPACES_METRIC = "spaces_storage_gb"
BANDWIDTH_METRIC = "public_outbound_gb"
SOURCE_SPACES = "spaces_s3"
SOURCE_MONITORING = "do_monitoring"
BYTES_PER_GB = Decimal(10) ** 9
SECONDS_PER_DAY = 86_400
BANDWIDTH_RETRY_DAYS = 3


@dataclass
class MeasureResult:
    metric: str
    days: list[str] = field(default_factory=list)
    measured: int = 0
    partial: int = 0
    failed: int = 0
    deferred: int = 0  # not attempted: the rate budget ran out (measured by the next run)
    skipped: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def summary(self) -> str:
        if self.skipped:
            return f"{self.metric}: skipped ({self.skipped})"
        return (
            f"{self.metric} {', '.join(self.days)}: {self.measured} measured, "
            f"{self.partial} partial, {self.failed} failed, {self.deferred} deferred"
        )


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
    measurement: its public outbound GB of that day. One request per droplet-day, through the
    client's rate budget; when the budget runs out the rest waits for the next run."""
    days = [day - dt.timedelta(days=back) for back in range(retry_days, -1, -1)]
    result = MeasureResult(BANDWIDTH_METRIC, days=[d.isoformat() for d in days])
    for measured_day in days:
        start = int(dt.datetime.combine(measured_day, dt.time.min, tzinfo=dt.UTC).timestamp())
        end = start + SECONDS_PER_DAY
        droplets = resources_to_measure(
            kind=ResourceKind.DROPLET, metric=BANDWIDTH_METRIC, day=measured_day
        ).values_list("id", "provider_id")
        for position, (resource_id, droplet_id) in enumerate(droplets):
            record = {"resource_id": resource_id, "day": measured_day, "metric": BANDWIDTH_METRIC}
            try:
                # The window's end is exclusive: a point at `end` belongs to the next day.
                points = client.get_droplet_bandwidth(droplet_id, start=start, end=end - 1)
            except DOBudgetExhausted:
                result.deferred += len(droplets) - position
                logger.warning(
                    "bandwidth %s: rate budget exhausted; %d droplets left for the next run",
                    measured_day,
                    len(droplets) - position,
                )
                logger.info("measurement %s", result.summary())
                return result
            except DigitalOceanError as exc:
                logger.warning(
                    "bandwidth: droplet %s not measured for %s: %s", droplet_id, measured_day, exc
                )
                measurement_record(
                    **record,
                    status=MeasurementStatus.FAILED,
                    source=SOURCE_MONITORING,
                    reason=str(exc)[:500],
                )
                result.failed += 1
                continue
            if not points:
                measurement_record(
                    **record,
                    status=MeasurementStatus.FAILED,
                    source=SOURCE_MONITORING,
                    reason="DigitalOcean monitoring returned no data points for the day",
                )
                result.failed += 1
                continue
            measurement_record(
                **record,
                status=MeasurementStatus.COMPLETE,
                source=SOURCE_MONITORING,
                value=integrate_mbps(points, start=start, end=end),
                detail={"points": len(points), "first": points[0][0], "last": points[-1][0]},
            )
            result.measured += 1
    logger.info("measurement %s", result.summary())
    return result
