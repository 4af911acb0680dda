"""Metering (SPEC §11, superseded by issue 17): one UTC day of resource history becomes
usage_records rows.

A day's (or, hourly, an hour's) usage of a resource is the time it spent in a billable state
within the period * its size at each moment, attributed to the deployment it belonged to at
each moment: the integral of its billed timeline (`inventory.models.CloudResourceHistory`, kept
by the inventory chokepoint). What each kind accrues is the kind registry's
(`pricing.kinds.RESOURCE_KINDS`: billing kind, accrual, size attribute, default billable
statuses; `metering_config` may override the statuses):

- HOURS kinds (droplet, GPU droplet, floating IP, reserved IPv6, load balancer, managed
  database, Kubernetes cluster, App Platform app) → hours in a billable status * their node /
  instance count (1 for a droplet or an IP); a row of 0 when it was never billable ("metered,
  was off");
- SIZE_PER_MONTH kinds (volume, snapshot, backup, custom image, registry) →
  size_gb * the period's share of the month (seconds ÷ seconds in the month);
- ONE_PER_MONTH (DNS zone) → 1 * the period's share of the month.
- spaces_bucket (spaces_gb_month) and droplet bandwidth (bandwidth_gb) are measured at the
  source and metered from those measurements by `invoicing.usage.measured`, in the same run;

Rows keep their exact fraction (see `UsageRecord`): numerator = Σ seconds * size, denominator
= 3600 (hours) or the month's seconds, reduced by the period's length when it divides (so a
whole day keeps the familiar 24/1 and size/days). A resource whose size was unknown while it was
billable is skipped and counted, never guessed.

A kind whose sync is failing (its last run failed and none has listed since the day's end:
`inventory.selectors.sync_failing_kinds`) is not metered that run: its resources are counted in
`skipped` ({"droplet": {"sync_failing": 12}}), and a later run of the day (the daily task's
`meter_after_sync_failures`, or `manage.py meter`) meters them from the history once a sync has
listed them again. Nothing unobserved is guessed.

A day older than the late-usage horizon is refused (400 naming `day`): its rows could reach no
invoice. A backfill of a month already invoiced is billed on the tenant's next invoice
(`invoicing.invoices.late_usage`).

`meter_day` is idempotent: a resource that already has rows for the day is left alone, and the
unique indexes make concurrent runs insert each row once. Because the history is never
rewritten for the past, re-running or backfilling a past day computes exactly what it computed
then.

On PostgreSQL a day is ONE `INSERT … SELECT … ON CONFLICT DO NOTHING` per granularity, computed
in SQL from the history; elsewhere (the SQLite quick start) the same rules run in Python and
`bulk_create`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from arcadia_cloud.errors import field_error
from arcadia_cloud.money import quantize_qty
from arcadia_cloud.periods import day_bounds, days_in_month, iter_days
from inventory.selectors import (
    attributed_history_sql,
    attributed_intervals,
    attributed_resource_counts,
    sync_failed_since,
    sync_failing_kinds,
)
from invoicing.invoices.late_usage import horizon, usage_kept_from
from invoicing.models import Granularity, UsageRecord, UsageSource
from invoicing.usage.measured import CATCH_UP_DAYS, MeasuredResult, meter_measured
from invoicing.usage.selectors import MeteringSetting, metering_settings
from pricing.kinds import MAX_SIZE, RESOURCE_KINDS, Accrual, ResourceKind, billed_size

logger = logging.getLogger(__name__)

HOURS_PER_DAY = 24
SECONDS_PER_HOUR = 3600
SECONDS_PER_DAY = HOURS_PER_DAY * SECONDS_PER_HOUR
PERIODS_PER_DAY = MappingProxyType({Granularity.DAILY: 1, Granularity.HOURLY: HOURS_PER_DAY})
PERIOD_SECONDS = MappingProxyType(
    {Granularity.DAILY: SECONDS_PER_DAY, Granularity.HOURLY: SECONDS_PER_HOUR}
)
MAX_SIZE_GB = MAX_SIZE  # beyond any real resource; keeps every qty inside its column
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
    # Resources not metered, per history kind and reason: {"droplet": {"sync_failing": 12}}
    # (their kind's sync was failing and had not listed since the day's end; a later run of
    # the day meters them from the history).
    skipped: Mapping[str, Mapping[str, int]] = field(default_factory=dict)

    def summary(self) -> str:
        text = (
            f"{self.day.isoformat()}: {self.resources} resources, "
            f"{self.records_created} usage records created, "
            f"{self.already_metered} already metered"
        )
        if self.skipped_unknown_size:
            text += f", {self.skipped_unknown_size} skipped (size_gb unknown)"
        if self.skipped:
            text += ", skipped " + ", ".join(
                f"{count} {kind} ({reason})"
                for kind, reasons in sorted(self.skipped.items())
                for reason, count in sorted(reasons.items())
            )
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
            "skipped": {kind: dict(reasons) for kind, reasons in self.skipped.items()},
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
            skipped=_skipped_added(self.skipped, other.skipped),
        )


def _skipped_added(
    one: Mapping[str, Mapping[str, int]], other: Mapping[str, Mapping[str, int]]
) -> dict[str, dict[str, int]]:
    total = {kind: dict(reasons) for kind, reasons in one.items()}
    for kind, reasons in other.items():
        for reason, count in reasons.items():
            total.setdefault(kind, {})[reason] = total.get(kind, {}).get(reason, 0) + count
    return total


def _added(one: MeasuredResult | None, other: MeasuredResult | None) -> MeasuredResult | None:
    if one is None or other is None:
        return one or other
    return one + other


def meter_day(day: dt.date, *, now: dt.datetime | None = None) -> MeterResult:
    """Record `day`'s usage of every resource that was attributed to a deployment during it,
    from its history: each moment in a billable status, at its size then, to its deployment
    then. Re-running changes nothing. A day that started more than LATE_USAGE_HORIZON_DAYS
    before `now` (default the clock) is a 400 naming `day`.
    """
    _refuse_beyond_horizon(day, now or timezone.now())
    settings_by_kind = metering_settings()
    meter = _meter_kinds_sql if connection.vendor == "postgresql" else _meter_kinds_portable
    day_start, day_end = day_bounds(day)
    with transaction.atomic(durable=True):
        # A kind whose sync is failing is not metered past what was observed: none of its
        # resources get rows this run (counted in `skipped`); a later run meters them.
        failing = sync_failing_kinds(kinds=[kind.code for kind in METERED_KINDS], until=day_end)
        counts = (
            attributed_resource_counts(start=day_start, end=day_end, kinds=list(failing))
            if failing
            else {}
        )
        result = MeterResult(
            day,
            0,
            0,
            0,
            0,
            skipped={kind: {failing[kind]: count} for kind, count in counts.items() if count},
        )
        for granularity, rules in _rules_by_granularity(settings_by_kind, failing).items():
            result += meter(day, granularity, rules)
        # After the state metering, so a droplet's droplet_hours row is always written first.
        result = replace(result, measured=meter_measured(day))
    if result.skipped:
        logger.warning(
            "metering %s: resources not metered while their sync was failing: %s (a later "
            "run of the day meters them from the history)",
            day,
            result.skipped,
        )
    if result.skipped_unknown_size:
        logger.warning(
            "metering %s: %d resources skipped, size unknown while billable (e.g. resource ids %s)",
            day,
            result.skipped_unknown_size,
            ", ".join(map(str, result.skipped_examples)),
        )
    logger.info("metering %s", result.summary())
    return result


def meter_after_sync_failures(
    *, day: dt.date, days_back: int = CATCH_UP_DAYS, now: dt.datetime | None = None
) -> MeterResult | None:
    """Meter again the `days_back` days before `day` when a sync has failed since the first of
    them began: resources skipped while their sync was failing are metered from the history
    the recovered sync completed (the others are left alone: metering is idempotent). None
    when no sync failed then (nothing to do, one query)."""
    first = day - dt.timedelta(days=days_back)
    if not sync_failed_since(day_bounds(first)[0]):
        return None
    result: MeterResult | None = None
    for past in iter_days(first, day - dt.timedelta(days=1)):
        metered = meter_day(past, now=now)
        result = metered if result is None else result + metered
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


@dataclass(frozen=True)
class KindRule:
    """How one registry kind is metered this run: the registry's rule with the billable
    statuses in force (metering_config's, else the registry default)."""

    kind: ResourceKind
    billable_statuses: frozenset[str] | None

    def billable(self, status: str) -> bool:
        return self.billable_statuses is None or status in self.billable_statuses


def billable_statuses_in_force(
    kind: ResourceKind, settings_by_kind: Mapping[str, MeteringSetting]
) -> frozenset[str] | None:
    """An HOURS kind's billable statuses: its billing kind's metering_config ones when set,
    else the registry default. Other accruals bill whatever the status."""
    if kind.accrual is not Accrual.HOURS:
        return None
    configured = settings_by_kind[kind.billing_kind].billable_statuses
    return kind.billable_statuses if configured is None else configured


def _rules_by_granularity(
    settings_by_kind: Mapping[str, MeteringSetting], left_out: Mapping[str, str]
) -> dict[str, list[KindRule]]:
    grouped: dict[str, list[KindRule]] = {}
    for kind in METERED_KINDS:
        if kind.code in left_out:
            continue
        rule = KindRule(kind, billable_statuses_in_force(kind, settings_by_kind))
        grouped.setdefault(settings_by_kind[kind.billing_kind].granularity, []).append(rule)
    return grouped


def _denominators(kind: ResourceKind, day: dt.date) -> int:
    """The unreduced denominator of a kind's fraction: an hour's seconds, or the month's."""
    if kind.accrual is Accrual.HOURS:
        return SECONDS_PER_HOUR
    return SECONDS_PER_DAY * days_in_month(day)


def reduced(numerator: Decimal, denominator: int, unit: int) -> tuple[Decimal, int]:
    """numerator / denominator divided through by `unit` (a period's or an hour's seconds)
    when it divides both: a whole day of a droplet stays 24/1, of a 100 GB volume 100/30."""
    if numerator % unit == 0 and denominator % unit == 0:
        return numerator / unit, denominator // unit
    return numerator, denominator


# ---------------------------------------------------------------------------------------------
# PostgreSQL: one set-based statement per granularity
# ---------------------------------------------------------------------------------------------

_PERIODS_SQL = {
    Granularity.DAILY: "CROSS JOIN (SELECT %(day_start)s::timestamptz AS period_start) AS p",
    Granularity.HOURLY: (
        "JOIN generate_series(%(day_start)s::timestamptz, %(last_hour)s::timestamptz, "
        "interval '1 hour') AS p(period_start) "
        "ON h.valid_from < p.period_start + interval '1 hour' "
        "AND (h.valid_to IS NULL OR h.valid_to > p.period_start)"
    ),
}

# `slices` is every interval of the day's attributed history of a metered kind, cut to each
# period, with its seconds, size and whether its status was billable; `rows` integrates them per
# (resource, deployment, billing kind, period, size slug): Σ seconds * size while billable
# (NULL: the size was unknown while billable), with whether the resource was metered already;
# `inserted` writes the rows; the final SELECT reports what happened. A kind's billable
# statuses travel as a JSON array (`?` is "has this element"), NULL when it accrues whatever
# the status.
_METER_SQL = """
WITH rules AS (
    SELECT *
    FROM unnest(%(resource_kinds)s::text[], %(billing_kinds)s::text[],
                %(denominators)s::int[], %(units)s::int[], %(billable_statuses)s::jsonb[])
         AS rules(resource_kind, billing_kind, denominator, unit, billable_statuses)
),
slices AS (
    SELECT h.resource_id, h.deployment_id, rules.billing_kind, rules.denominator, rules.unit,
           p.period_start, h.size, h.size_slug,
           extract(epoch FROM least(coalesce(h.valid_to, 'infinity'::timestamptz),
                                    p.period_start + %(period)s::interval)
                              - greatest(h.valid_from, p.period_start))::bigint AS seconds,
           (rules.billable_statuses IS NULL OR rules.billable_statuses ? h.status) AS billable
    FROM ({history}) AS h
    JOIN rules ON rules.resource_kind = h.kind
    {periods}
),
rows AS MATERIALIZED (
    SELECT s.resource_id, s.deployment_id, s.billing_kind, s.period_start, s.size_slug,
           min(s.denominator) AS denominator, min(s.unit) AS unit,
           CASE WHEN bool_or(s.billable AND s.size IS NULL) THEN NULL
                ELSE coalesce(sum(s.seconds * s.size) FILTER (WHERE s.billable), 0)
           END AS numerator,
           EXISTS (
               SELECT 1 FROM usage_records AS u
               WHERE u.resource_id = s.resource_id
                 AND u.period_start >= %(day_start)s AND u.period_start < %(day_end)s
                 AND u.source <> 'measured'
           ) AS already_metered
    FROM slices AS s
    WHERE s.seconds > 0
    GROUP BY s.resource_id, s.deployment_id, s.billing_kind, s.period_start, s.size_slug
),
inserted AS (
    INSERT INTO usage_records (deployment_id, resource_id, resource_kind, period_start,
                               granularity, qty, qty_numerator, qty_denominator, source,
                               size_slug)
    SELECT r.deployment_id, r.resource_id, r.billing_kind, r.period_start, %(granularity)s,
           round(r.numerator / r.denominator, 6),
           CASE WHEN r.numerator %% r.unit = 0 AND r.denominator %% r.unit = 0
                THEN r.numerator / r.unit ELSE r.numerator END,
           CASE WHEN r.numerator %% r.unit = 0 AND r.denominator %% r.unit = 0
                THEN r.denominator / r.unit ELSE r.denominator END,
           %(source)s, r.size_slug
    FROM rows AS r
    WHERE r.numerator IS NOT NULL AND NOT r.already_metered
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT count(DISTINCT resource_id),
       (SELECT count(*) FROM inserted),
       count(DISTINCT resource_id) FILTER (WHERE already_metered),
       count(DISTINCT resource_id) FILTER (WHERE numerator IS NULL AND NOT already_metered),
       (array_agg(DISTINCT resource_id)
            FILTER (WHERE numerator IS NULL AND NOT already_metered))[1:%(examples)s]
FROM rows
"""


def _unit(kind: ResourceKind, granularity: str) -> int:
    """What a kind's fraction is reduced by when it divides: an hour for hours, else the
    period (a whole period of storage is size ÷ periods in the month)."""
    return SECONDS_PER_HOUR if kind.accrual is Accrual.HOURS else PERIOD_SECONDS[granularity]


def _meter_kinds_sql(day: dt.date, granularity: str, rules: list[KindRule]) -> MeterResult:
    day_start, day_end = day_bounds(day)
    params = {
        "resource_kinds": [rule.kind.code for rule in rules],
        "billing_kinds": [rule.kind.billing_kind for rule in rules],
        "denominators": [_denominators(rule.kind, day) for rule in rules],
        "units": [_unit(rule.kind, granularity) for rule in rules],
        "billable_statuses": [_json_statuses(rule.billable_statuses) for rule in rules],
        "period": f"{PERIOD_SECONDS[granularity]} seconds",
        "day_start": day_start,
        "day_end": day_end,
        "last_hour": day_end - dt.timedelta(hours=1),
        "granularity": granularity,
        "source": UsageSource.METER,
        "examples": SKIPPED_EXAMPLES,
    }
    history_sql, history_params = attributed_history_sql(start=day_start, end=day_end)
    sql = _METER_SQL.format(periods=_PERIODS_SQL[granularity], history=history_sql)
    with connection.cursor() as cursor:
        cursor.execute(sql, {**params, **history_params})
        resources, created, already, skipped, examples = cursor.fetchone()
    return MeterResult(day, resources, created, already, skipped, tuple(examples or ()))


def _json_statuses(statuses: frozenset[str] | None) -> str | None:
    return None if statuses is None else json.dumps(sorted(statuses))


# ---------------------------------------------------------------------------------------------
# Portable path (SQLite quick start): the same rules in Python, rows in bulk
# ---------------------------------------------------------------------------------------------


def size_gb(attrs: object) -> Decimal | None:
    """attrs.size_gb as an exact Decimal at 6 places, or None when it is missing or not a size
    (what the history stores for a storage kind: `pricing.kinds.billed_size`)."""
    return billed_size("volume", attrs if isinstance(attrs, Mapping) else {})


def _periods(day: dt.date, granularity: str) -> list[tuple[dt.datetime, dt.datetime]]:
    day_start, day_end = day_bounds(day)
    if granularity == Granularity.DAILY:
        return [(day_start, day_end)]
    hours = (day_start + dt.timedelta(hours=hour) for hour in range(HOURS_PER_DAY))
    return [(hour, hour + dt.timedelta(hours=1)) for hour in hours]


def _meter_kinds_portable(day: dt.date, granularity: str, rules: list[KindRule]) -> MeterResult:
    day_start, day_end = day_bounds(day)
    rules_by_code = {rule.kind.code: rule for rule in rules}
    intervals = attributed_intervals(start=day_start, end=day_end, kinds=list(rules_by_code))
    # Measured rows (`invoicing.usage.measured`) are metered on their own: a day whose
    # measurement was metered first still gets its state-metered rows.
    metered_that_day = UsageRecord.objects.filter(
        resource__isnull=False, period_start__gte=day_start, period_start__lt=day_end
    ).exclude(source=UsageSource.MEASURED)
    already_metered = set(metered_that_day.values_list("resource_id", flat=True))
    # (resource, deployment, billing kind, period, size slug) → Σ seconds * size while
    # billable, or None.
    totals: dict[tuple[int, int, str, dt.datetime, str], Decimal | None] = {}
    kinds_of: dict[str, ResourceKind] = {}
    for resource_id, deployment_id, kind, status, size, valid_from, valid_to, slug in intervals:
        rule = rules_by_code[kind]
        kinds_of[rule.kind.billing_kind] = rule.kind
        for period_start, period_end in _periods(day, granularity):
            seconds = int(
                (
                    min(valid_to or period_end, period_end) - max(valid_from, period_start)
                ).total_seconds()
            )
            if seconds <= 0:
                continue
            key = (resource_id, deployment_id, rule.kind.billing_kind, period_start, slug)
            total = totals.get(key, Decimal(0))
            if rule.billable(status):
                total = None if total is None or size is None else total + seconds * size
            totals[key] = total
    rows: list[UsageRecord] = []
    resources = {key[0] for key in totals}
    already = {key[0] for key in totals if key[0] in already_metered}
    skipped = sorted({key[0] for key, total in totals.items() if total is None} - already)
    for (resource_id, deployment_id, billing_kind, period_start, slug), total in sorted(
        totals.items(), key=lambda item: item[0]
    ):
        if total is None or resource_id in already:
            continue
        kind = kinds_of[billing_kind]
        denominator = _denominators(kind, day)
        numerator, denominator = reduced(total, denominator, _unit(kind, granularity))
        rows.append(
            UsageRecord(
                deployment_id=deployment_id,
                resource_id=resource_id,
                resource_kind=billing_kind,
                period_start=period_start,
                granularity=granularity,
                qty=quantize_qty(numerator / denominator),
                qty_numerator=numerator,
                qty_denominator=denominator,
                source=UsageSource.METER,
                size_slug=slug,
            )
        )
    before = metered_that_day.filter(granularity=granularity).count()
    UsageRecord.objects.bulk_create(rows, batch_size=BULK_BATCH_SIZE, ignore_conflicts=True)
    created = metered_that_day.filter(granularity=granularity).count() - before
    return MeterResult(
        day, len(resources), created, len(already), len(skipped), tuple(skipped[:SKIPPED_EXAMPLES])
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
