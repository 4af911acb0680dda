"""Metering (SPEC §11): one UTC day of inventory becomes usage_records rows.

Every metered kind accrues uniformly, so everything downstream is a SUM. What each resource kind
accrues, and how, is the kind registry's (`pricing.kinds.RESOURCE_KINDS`: billing kind, accrual,
billable statuses); today:

- droplet → droplet_hours: 24 a day while `active`, a 0 row otherwise ("metered, was off");
- load_balancer → load_balancer_hours: 24 a day;
- floating_ip → floating_ip_hours: 24 a day while `unassigned`, a 0 row while assigned (DO
  charges only for idle IPs);
- snapshot / droplet_backup / volume → *_gb_month: attrs.size_gb ÷ days in the month, per day;
- spaces_bucket (spaces_gb_month) and droplet bandwidth (bandwidth_gb) are measured at the
  source and metered from those measurements by `invoicing.usage.measured`, in the same run;
- dns_zone → dns_zones: 1 ÷ days in the month, per day.

Hourly granularity (metering_config) splits the same accrual over 24 rows a day. Rows keep
their exact fraction (see `UsageRecord`); a resource whose size is unknown is skipped and
counted, never guessed.

A day older than the late-usage horizon is refused (400 naming `day`): its rows could reach no
invoice. A backfill of a month already invoiced is billed on the tenant's next invoice
(`invoicing.invoices.late_usage`).

`meter_day` is idempotent: a resource that already has rows for the day is left alone (also
when it has since moved to another deployment, or the kind's granularity changed), and the
unique indexes make concurrent runs insert each row once. Inventory keeps only current state,
so a backfill meters past days with today's status and size.

On PostgreSQL a day is ONE `INSERT … SELECT … ON CONFLICT DO NOTHING` per granularity, computed
in SQL; elsewhere (the SQLite quick start) the same rules run in Python and `bulk_create`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from arcadia_cloud.errors import field_error
from arcadia_cloud.money import quantize_qty
from arcadia_cloud.periods import day_bounds, days_in_month
from inventory.selectors import (
    ALIVE_COLUMNS,
    attributed_resources_alive,
    attributed_resources_alive_sql,
)
from invoicing.invoices.late_usage import horizon, usage_kept_from
from invoicing.models import Granularity, UsageRecord, UsageSource
from invoicing.usage.measured import MeasuredResult, meter_measured
from invoicing.usage.selectors import MeteringSetting, metering_settings
from pricing.kinds import RESOURCE_KINDS, Accrual, ResourceKind

logger = logging.getLogger(__name__)

HOURS_PER_DAY = 24
PERIODS_PER_DAY = MappingProxyType({Granularity.DAILY: 1, Granularity.HOURLY: HOURS_PER_DAY})
# A size_gb the metering trusts: a plain non-negative decimal, optionally with a small exponent
# ("160", "16.5", "1.6E+2" as Decimal.normalize() writes it). The same pattern guards the SQL
# cast, so both paths skip exactly the same resources.
SIZE_PATTERN = r"^[0-9]{1,15}(\.[0-9]{1,15})?([eE][+-]?[0-9]{1,2})?$"
_SIZE_RE = re.compile(SIZE_PATTERN)
MAX_SIZE_GB = Decimal(10) ** 12  # beyond any real resource; keeps every qty inside its column
SKIPPED_EXAMPLES = 5
BULK_BATCH_SIZE = 1000


# Every kind metering accrues from state, in the registry's order (MEASURED kinds are metered
# from their measurements by `invoicing.usage.measured`).
METERED_KINDS: tuple[ResourceKind, ...] = tuple(
    kind for kind in RESOURCE_KINDS.values() if kind.is_state_metered
)


@dataclass(frozen=True)
class MeterResult:
    day: dt.date
    resources: int  # deployment-attributed, metered-kind resources that existed that day
    records_created: int
    already_metered: int  # resources left alone: rows for the day exist from an earlier run
    skipped_unknown_size: int
    skipped_examples: tuple[int, ...] = ()  # a few skipped resource ids, for the log
    # Usage measured at the source (Spaces sizes, bandwidth): `invoicing.usage.measured`.
    measured: MeasuredResult | None = None

    def summary(self) -> str:
        text = (
            f"{self.day.isoformat()}: {self.resources} resources, "
            f"{self.records_created} usage records created, "
            f"{self.already_metered} already metered"
        )
        if self.skipped_unknown_size:
            text += f", {self.skipped_unknown_size} skipped (size_gb unknown)"
        if self.measured is not None:
            text += f"; {self.measured.summary()}"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "resources": self.resources,
            "records_created": self.records_created,
            "already_metered": self.already_metered,
            "skipped_unknown_size": self.skipped_unknown_size,
            **({"measured": self.measured.as_dict()} if self.measured is not None else {}),
        }

    def __add__(self, other: MeterResult) -> MeterResult:
        """Counts added up (two granularities of a day, or the days of a backfill); the day
        reported is the first one."""
        return MeterResult(
            day=self.day,
            resources=self.resources + other.resources,
            records_created=self.records_created + other.records_created,
            already_metered=self.already_metered + other.already_metered,
            skipped_unknown_size=self.skipped_unknown_size + other.skipped_unknown_size,
            skipped_examples=(self.skipped_examples + other.skipped_examples)[:SKIPPED_EXAMPLES],
            measured=_added(self.measured, other.measured),
        )


def _added(one: MeasuredResult | None, other: MeasuredResult | None) -> MeasuredResult | None:
    if one is None or other is None:
        return one or other
    return one + other


def meter_day(day: dt.date, *, now: dt.datetime | None = None) -> MeterResult:
    """Record `day`'s usage of every deployment-attributed resource that existed that day.

    Existed = first seen before the day ended and not deleted before it began, so a resource
    deleted mid-day counts that whole day. Re-running changes nothing. A day that started more
    than LATE_USAGE_HORIZON_DAYS before `now` (default the clock) is a 400 naming `day`.
    """
    _refuse_beyond_horizon(day, now or timezone.now())
    settings_by_kind = metering_settings()
    meter = _meter_kinds_sql if connection.vendor == "postgresql" else _meter_kinds_portable
    result = MeterResult(day, 0, 0, 0, 0)
    with transaction.atomic(durable=True):
        for granularity, kinds in _kinds_by_granularity(settings_by_kind).items():
            result += meter(day, granularity, kinds)
        # After the state metering, so a droplet's droplet_hours row is always written first.
        result = replace(result, measured=meter_measured(day))
    if result.skipped_unknown_size:
        logger.warning(
            "metering %s: %d resources skipped, attrs.size_gb missing or not a size "
            "(e.g. resource ids %s)",
            day,
            result.skipped_unknown_size,
            ", ".join(map(str, result.skipped_examples)),
        )
    logger.info("metering %s", result.summary())
    return result


def _refuse_beyond_horizon(day: dt.date, now: dt.datetime) -> None:
    oldest = now - horizon()
    if day_bounds(day)[0] < oldest:
        raise field_error(
            "day",
            f"{day.isoformat()} is more than {horizon().days} days ago (before "
            f"{oldest.isoformat()}); usage that old can no longer be invoiced "
            "(LATE_USAGE_HORIZON_DAYS)",
        )


def _kinds_by_granularity(
    settings_by_kind: Mapping[str, MeteringSetting],
) -> dict[str, list[ResourceKind]]:
    grouped: dict[str, list[ResourceKind]] = {}
    for kind in METERED_KINDS:
        grouped.setdefault(settings_by_kind[kind.billing_kind].granularity, []).append(kind)
    return grouped


# ---------------------------------------------------------------------------------------------
# PostgreSQL: one set-based statement per granularity
# ---------------------------------------------------------------------------------------------

_PERIODS_SQL = {
    Granularity.DAILY: "CROSS JOIN (SELECT %(day_start)s::timestamptz AS period_start) AS p",
    Granularity.HOURLY: (
        "JOIN generate_series(%(day_start)s::timestamptz, %(last_hour)s::timestamptz, "
        "interval '1 hour') AS p(period_start) "
        "ON c.first_seen_at < p.period_start + interval '1 hour' "
        "AND (c.deleted_at IS NULL OR c.deleted_at >= p.period_start)"
    ),
}

# `candidates` is every resource the day concerns (inventory's deployment-attributed resources
# alive that day, of a metered kind), with its accrual (NULL numerator: size unknown) and
# whether it was metered already; `inserted` writes the rows; the final SELECT
# reports what happened. A kind's billable statuses travel as a JSON array (`?` is "has this
# element"), NULL when it accrues whatever the status. Nested CASEs (not AND) guard the numeric
# cast: CASE is evaluated in order, AND is not.
_METER_SQL = """
WITH rules AS (
    SELECT *
    FROM unnest(%(resource_kinds)s::text[], %(billing_kinds)s::text[],
                %(accruals)s::text[], %(billable_statuses)s::jsonb[])
         AS rules(resource_kind, billing_kind, accrual, billable_statuses)
),
candidates AS MATERIALIZED (
    SELECT r.id AS resource_id,
           r.deployment_id,
           r.first_seen_at,
           r.deleted_at,
           rules.billing_kind,
           CASE rules.accrual
               WHEN 'hours' THEN
                   CASE WHEN rules.billable_statuses IS NULL OR rules.billable_statuses ? r.status
                        THEN %(hours_per_period)s ELSE 0 END
               WHEN 'one_per_month' THEN 1
               WHEN 'size_per_month' THEN
                   CASE WHEN r.attrs ->> 'size_gb' ~ %(size_pattern)s THEN
                       CASE WHEN (r.attrs ->> 'size_gb')::numeric < %(max_size)s
                            THEN round((r.attrs ->> 'size_gb')::numeric, 6) END
                   END
           END::numeric AS numerator,
           CASE rules.accrual WHEN 'hours' THEN 1 ELSE %(periods_in_month)s END AS denominator,
           EXISTS (
               SELECT 1 FROM usage_records AS u
               WHERE u.resource_id = r.id
                 AND u.period_start >= %(day_start)s AND u.period_start < %(day_end)s
           ) AS already_metered
    FROM ({resources}) AS r
    JOIN rules ON rules.resource_kind = r.kind
),
inserted AS (
    INSERT INTO usage_records (deployment_id, resource_id, resource_kind, period_start,
                               granularity, qty, qty_numerator, qty_denominator, source)
    SELECT c.deployment_id, c.resource_id, c.billing_kind, p.period_start, %(granularity)s,
           round(c.numerator / c.denominator, 6), c.numerator, c.denominator, %(source)s
    FROM candidates AS c
    {periods}
    WHERE c.numerator IS NOT NULL AND NOT c.already_metered
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT count(*),
       (SELECT count(*) FROM inserted),
       count(*) FILTER (WHERE already_metered),
       count(*) FILTER (WHERE numerator IS NULL AND NOT already_metered),
       (array_agg(resource_id ORDER BY resource_id)
            FILTER (WHERE numerator IS NULL AND NOT already_metered))[1:%(examples)s]
FROM candidates
"""


def _meter_kinds_sql(day: dt.date, granularity: str, kinds: list[ResourceKind]) -> MeterResult:
    day_start, day_end = day_bounds(day)
    periods_per_day = PERIODS_PER_DAY[granularity]
    params = {
        "resource_kinds": [kind.code for kind in kinds],
        "billing_kinds": [kind.billing_kind for kind in kinds],
        "accruals": [str(kind.accrual) for kind in kinds],
        "billable_statuses": [_json_statuses(kind.billable_statuses) for kind in kinds],
        "hours_per_period": HOURS_PER_DAY // periods_per_day,
        "periods_in_month": days_in_month(day) * periods_per_day,
        "size_pattern": SIZE_PATTERN,
        "max_size": MAX_SIZE_GB,
        "day_start": day_start,
        "day_end": day_end,
        "last_hour": day_end - dt.timedelta(hours=1),
        "granularity": granularity,
        "source": UsageSource.METER,
        "examples": SKIPPED_EXAMPLES,
    }
    alive_sql, alive_params = attributed_resources_alive_sql(start=day_start, end=day_end)
    sql = _METER_SQL.format(periods=_PERIODS_SQL[granularity], resources=alive_sql)
    with connection.cursor() as cursor:
        cursor.execute(sql, {**params, **alive_params})
        resources, created, already, skipped, examples = cursor.fetchone()
    return MeterResult(day, resources, created, already, skipped, tuple(examples or ()))


def _json_statuses(statuses: frozenset[str] | None) -> str | None:
    return None if statuses is None else json.dumps(sorted(statuses))


# ---------------------------------------------------------------------------------------------
# Portable path (SQLite quick start): the same rules in Python, rows in bulk
# ---------------------------------------------------------------------------------------------


def size_gb(attrs: object) -> Decimal | None:
    """attrs.size_gb as an exact Decimal at 6 places, or None when it is missing or not a size
    (the same acceptance as the SQL path)."""
    value = attrs.get("size_gb") if isinstance(attrs, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    text = value if isinstance(value, str) else str(value)
    if not _SIZE_RE.match(text):
        return None
    try:
        size = Decimal(text)
    except InvalidOperation:
        return None
    return quantize_qty(size) if size < MAX_SIZE_GB else None


def accrual_fraction(
    kind: ResourceKind, *, status: str, attrs: object, granularity: str, day: dt.date
) -> tuple[Decimal, int] | None:
    """(numerator, denominator) one period of `day` accrues, or None when the size is unknown."""
    periods_per_day = PERIODS_PER_DAY[granularity]
    periods_in_month = days_in_month(day) * periods_per_day
    if kind.accrual is Accrual.HOURS:
        billable = kind.billable_statuses is None or status in kind.billable_statuses
        return Decimal(HOURS_PER_DAY // periods_per_day if billable else 0), 1
    if kind.accrual is Accrual.ONE_PER_MONTH:
        return Decimal(1), periods_in_month
    size = size_gb(attrs)
    return None if size is None else (size, periods_in_month)


def _periods(
    day: dt.date, granularity: str, first_seen_at: dt.datetime, deleted_at: dt.datetime | None
) -> list[dt.datetime]:
    day_start, _ = day_bounds(day)
    if granularity == Granularity.DAILY:
        return [day_start]
    hours = (day_start + dt.timedelta(hours=hour) for hour in range(HOURS_PER_DAY))
    return [
        hour
        for hour in hours
        if first_seen_at < hour + dt.timedelta(hours=1)
        and (deleted_at is None or deleted_at >= hour)
    ]


def _meter_kinds_portable(day: dt.date, granularity: str, kinds: list[ResourceKind]) -> MeterResult:
    day_start, day_end = day_bounds(day)
    kinds_by_code = {kind.code: kind for kind in kinds}
    resources = (
        attributed_resources_alive(start=day_start, end=day_end)
        .filter(kind__in=kinds_by_code)
        .values_list(*ALIVE_COLUMNS)
        .order_by("id")
    )
    metered_that_day = UsageRecord.objects.filter(
        resource__isnull=False, period_start__gte=day_start, period_start__lt=day_end
    )
    already_metered = set(metered_that_day.values_list("resource_id", flat=True))
    rows: list[UsageRecord] = []
    total = already = 0
    skipped: list[int] = []
    for resource_id, deployment_id, kind, status, attrs, first_seen_at, deleted_at in resources:
        total += 1
        if resource_id in already_metered:
            already += 1
            continue
        metered_kind = kinds_by_code[kind]
        fraction = accrual_fraction(
            metered_kind, status=status, attrs=attrs, granularity=granularity, day=day
        )
        if fraction is None:
            skipped.append(resource_id)
            continue
        numerator, denominator = fraction
        rows.extend(
            UsageRecord(
                deployment_id=deployment_id,
                resource_id=resource_id,
                resource_kind=metered_kind.billing_kind,
                period_start=period_start,
                granularity=granularity,
                qty=quantize_qty(numerator / denominator),
                qty_numerator=numerator,
                qty_denominator=denominator,
                source=UsageSource.METER,
            )
            for period_start in _periods(day, granularity, first_seen_at, deleted_at)
        )
    before = metered_that_day.filter(granularity=granularity).count()
    UsageRecord.objects.bulk_create(rows, batch_size=BULK_BATCH_SIZE, ignore_conflicts=True)
    created = metered_that_day.filter(granularity=granularity).count() - before
    return MeterResult(
        day, total, created, already, len(skipped), tuple(skipped[:SKIPPED_EXAMPLES])
    )


# ---------------------------------------------------------------------------------------------
# Retention
# ---------------------------------------------------------------------------------------------


@transaction.atomic(durable=True)
def usage_records_purge_expired(*, today: dt.date | None = None) -> int:
    """Delete usage rows older than their kind's retention_days; returns how many.

    Rows of the months a rollup to come may still re-price for late usage are kept whatever the
    retention (`late_usage.usage_kept_from`), so late usage is never purged before it is billed.
    One DELETE per distinct retention (the seed has one), so the query count does not depend on
    the number of kinds or rows.
    """
    today = today or timezone.now().astimezone(dt.UTC).date()
    kept_from = usage_kept_from(today)
    kinds_by_retention: dict[int, list[str]] = {}
    for kind, setting in metering_settings().items():
        kinds_by_retention.setdefault(setting.retention_days, []).append(kind)
    deleted = 0
    for retention_days, kinds in sorted(kinds_by_retention.items()):
        cutoff, _ = day_bounds(min(today - dt.timedelta(days=retention_days), kept_from))
        count, _ = UsageRecord.objects.filter(
            resource_kind__in=kinds, period_start__lt=cutoff
        ).delete()
        deleted += count
    logger.info("metering retention: %d usage records older than their retention deleted", deleted)
    return deleted
