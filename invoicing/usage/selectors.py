"""Reads of the invoicing app: metered usage, metering settings and LLM charges.

Every reader here is bulk and set-based: one query whatever the number of deployments or rows,
so the rollup, live accrual and analytics can ask for all deployments at once.

Day ranges are inclusive on both ends and in UTC, like billing periods (`start` = the 1st,
`end` = the last day of the month).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from django.db import connection
from django.db.models import OuterRef, QuerySet, Subquery, Sum

from arcadia_cloud.periods import day_bounds, month_end
from deployments.models import Deployment
from invoicing.models import (
    DEFAULT_RETENTION_DAYS,
    Granularity,
    LLMBillingMode,
    LLMUsageEvent,
    MeteringConfig,
    UsageMonthTotal,
    UsageRecord,
)
from pricing.invoice import LLMCharges
from pricing.kinds import BILLING_KINDS

QTY_SCALE = 10**6  # usage quantities are reported with 6 decimal places, like usage_records.qty


# ---------------------------------------------------------------------------------------------
# Metering settings
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MeteringSetting:
    granularity: str
    retention_days: int
    # The statuses its hourly resource kinds bill in; None = the registry's default.
    billable_statuses: frozenset[str] | None = None


DEFAULT_METERING_SETTING = MeteringSetting(Granularity.DAILY, DEFAULT_RETENTION_DAYS)


def metering_settings() -> dict[str, MeteringSetting]:
    """Granularity and retention of every registered billing kind, in one query.

    A kind with no `metering_config` row gets the defaults (daily, 400 days), so a kind added
    to the registry is metered before an operator configures it.
    """
    configured = {
        row.billing_kind: MeteringSetting(
            row.granularity,
            row.retention_days,
            frozenset(row.billable_statuses) if row.billable_statuses else None,
        )
        for row in MeteringConfig.objects.all()
    }
    return {kind: configured.get(kind, DEFAULT_METERING_SETTING) for kind in BILLING_KINDS}


# ---------------------------------------------------------------------------------------------
# Usage
# ---------------------------------------------------------------------------------------------


def _instant_range(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[first instant of `start`, first instant after `end`) in UTC, for an inclusive day range."""
    if end < start:
        raise ValueError(f"the range ends ({end}) before it starts ({start})")
    return day_bounds(start)[0], day_bounds(end)[1]


def round_qty_exact(value: Fraction) -> Decimal:
    """An exact quantity rounded half-up to 6 places, exactly (no intermediate Decimal rounding)."""
    if value < 0:
        raise ValueError(f"a usage quantity cannot be negative, got {value}")
    scaled = value * QTY_SCALE
    units = int(scaled + Fraction(1, 2))  # half-up: floor(x + 1/2) for x >= 0
    return Decimal(units).scaleb(-6)


def usage_for_deployments(
    deployment_ids: Iterable[int], start: dt.date, end: dt.date
) -> dict[int, dict[str, Decimal]]:
    """Metered usage of many deployments over the days `start`..`end`, in ONE query.

    Returns {deployment_id: {billing kind: qty}} with an entry (possibly empty) for every id
    asked for. Each qty is the exact sum of the rows' fractions rounded half-up to 6 places
    ONCE: SUM(qty_numerator) grouped by kind and denominator, then added as fractions. A month
    of daily rows therefore totals what the month's exact accrual says (SPEC §17 example 3).
    """
    return {pk: totals for pk, (totals, _) in usage_with_sizes(deployment_ids, start, end).items()}


def month_units(period: dt.date) -> list[tuple[str, str, int, Decimal]]:
    """The month's usage of every deployment summed per (billing kind, size slug,
    denominator): `(kind, size_slug, qty_denominator, Σ qty_numerator)` rows, in ONE query.

    On PostgreSQL from `usage_month_totals` (kept by triggers, a few rows per deployment);
    elsewhere (the SQLite quick start, which has no triggers) from the usage rows themselves."""
    if connection.vendor == "postgresql":
        rows = UsageMonthTotal.objects.filter(month=period)
    else:
        first_instant, after_last = _instant_range(period, month_end(period))
        rows = UsageRecord.objects.filter(
            period_start__gte=first_instant, period_start__lt=after_last
        )
    return list(
        rows.values_list("resource_kind", "size_slug", "qty_denominator")
        .annotate(numerator=Sum("qty_numerator"))
        .order_by()
    )


SizedUsage = dict[str, dict[str, Decimal]]  # billing kind -> size slug ("" unknown) -> qty


def usage_with_sizes(
    deployment_ids: Iterable[int], start: dt.date, end: dt.date
) -> dict[int, tuple[dict[str, Decimal], SizedUsage]]:
    """`usage_for_deployments` and the same usage split by size slug, from the same ONE query:
    {deployment_id: ({kind: qty}, {kind: {size slug: qty}})}. Each figure is its rows' exact
    fractions summed and rounded once (so the sizes of a kind may differ from its total in the
    sixth place; the pricing loader uses one or the other for a kind, never both)."""
    ids = sorted(set(deployment_ids))
    if not ids:
        return {}
    first_instant, after_last = _instant_range(start, end)
    totals: dict[int, dict[str, Fraction]] = {pk: defaultdict(Fraction) for pk in ids}
    sized: dict[int, dict[tuple[str, str], Fraction]] = {pk: defaultdict(Fraction) for pk in ids}
    rows = (
        UsageRecord.objects.filter(
            deployment_id__in=ids, period_start__gte=first_instant, period_start__lt=after_last
        )
        .values_list("deployment_id", "resource_kind", "size_slug", "qty_denominator")
        .annotate(numerator=Sum("qty_numerator"))
        .order_by()
    )
    for deployment_id, kind, slug, denominator, numerator in rows:
        part = Fraction(numerator) / denominator
        totals[deployment_id][kind] += part
        sized[deployment_id][(kind, slug)] += part
    result: dict[int, tuple[dict[str, Decimal], SizedUsage]] = {}
    for pk in ids:
        by_size: SizedUsage = {}
        for (kind, slug), qty in sorted(sized[pk].items()):
            by_size.setdefault(kind, {})[slug] = round_qty_exact(qty)
        result[pk] = (
            {kind: round_qty_exact(qty) for kind, qty in sorted(totals[pk].items())},
            by_size,
        )
    return result


def usage_for_period(
    deployment: Deployment | int, start: dt.date, end: dt.date
) -> dict[str, Decimal]:
    """One deployment's metered usage over the days `start`..`end`: {billing kind: qty}.

    The same computation as `usage_for_deployments`, so a per-deployment and a bulk read can
    never disagree.
    """
    pk = deployment.pk if isinstance(deployment, Deployment) else int(deployment)
    return usage_for_deployments([pk], start, end)[pk]


# ---------------------------------------------------------------------------------------------
# LLM usage
# ---------------------------------------------------------------------------------------------


def passthrough_llm_charges(
    deployment_ids: Iterable[int], start: dt.date, end: dt.date
) -> dict[int, LLMCharges]:
    """{deployment id: its passthrough LLM charges over `start`..`end`}: the exact sum and its
    currency, in ONE query. NOT rounded: pricing rounds each deployment's total to a cent once
    (SPEC §12). Only events received while their deployment was in `passthrough` mode count
    (events billed as `plan` are metered as llm_tokens instead, so nothing is billed twice).
    Deployments without charges are absent. Ingestion keeps one currency per deployment; should
    a deployment's events ever hold two, its currency reads as both ("AUD+USD"), which no plan
    bills in, so pricing refuses it instead of adding them."""
    ids = sorted(set(deployment_ids))
    if not ids:
        return {}
    rows = (
        _passthrough_events(ids, start, end)
        .values_list("deployment_id", "currency")
        .annotate(total=Sum("charge"))
        .order_by("deployment_id", "currency")
    )
    found: dict[int, list[tuple[str, Decimal]]] = defaultdict(list)
    for deployment_id, currency, total in rows:
        found[deployment_id].append((currency, total))
    return {
        deployment_id: LLMCharges(
            total=sum((total for _, total in sums), Decimal(0)),
            currency="+".join(currency for currency, _ in sums),
        )
        for deployment_id, sums in found.items()
    }


def llm_charges_for_deployments(
    deployment_ids: Iterable[int], start: dt.date, end: dt.date
) -> dict[int, Decimal]:
    """Exact sum of the passthrough LLM charges of many deployments over `start`..`end`.

    One query. NOT rounded: the rollup rounds each deployment's total to a cent once (SPEC §12).
    Only events received while their deployment was in `passthrough` mode count; events billed
    as `plan` are metered as llm_tokens usage instead, so nothing is billed twice. Deployments
    without charges are absent. A deployment's events share one currency (the ingestion refuses
    a second one), so the sum is always of one currency: `llm_charge_currencies` names it.
    """
    ids = sorted(set(deployment_ids))
    if not ids:
        return {}
    rows = (
        _passthrough_events(ids, start, end)
        .values_list("deployment_id")
        .annotate(total=Sum("charge"))
        .order_by()
    )
    return dict(rows)


def llm_charge_currencies(
    deployment_ids: Iterable[int], start: dt.date, end: dt.date
) -> dict[int, str]:
    """The currency of each deployment's passthrough LLM charges over `start`..`end`, in one
    query: what the rollup checks against the invoice currency before adding an llm_usage line.
    """
    ids = sorted(set(deployment_ids))
    if not ids:
        return {}
    rows = _passthrough_events(ids, start, end).values_list("deployment_id", "currency").distinct()
    return dict(rows.order_by())


def _passthrough_events(ids: list[int], start: dt.date, end: dt.date) -> QuerySet[LLMUsageEvent]:
    first_instant, after_last = _instant_range(start, end)
    return LLMUsageEvent.objects.filter(
        deployment_id__in=ids,
        billed_as=LLMBillingMode.PASSTHROUGH,
        occurred_at__gte=first_instant,
        occurred_at__lt=after_last,
    )


@dataclass(frozen=True)
class LLMUsageTarget:
    """What LLM usage ingestion must know about a deployment an event names."""

    tenant_id: str
    llm_mode: str
    # The currency its LLM charges are already recorded in; None before its first event.
    currency: str | None


def llm_usage_targets(deployment_ids: Iterable[int]) -> dict[int, LLMUsageTarget]:
    """The deployments LLM events name, with the currency of their earlier events, in ONE query.

    The currency comes from any one earlier event (they all share it), found through the
    (deployment, occurred_at) index: no scan of a deployment's history. Unknown ids are absent.
    """
    ids = sorted(set(deployment_ids))
    if not ids:
        return {}
    first_currency = LLMUsageEvent.objects.filter(deployment_id=OuterRef("pk")).order_by(
        "occurred_at"
    )
    rows = (
        Deployment.objects.filter(pk__in=ids)
        .annotate(llm_currency=Subquery(first_currency.values("currency")[:1]))
        .values_list("pk", "tenant_id", "llm_mode", "llm_currency")
        .order_by()
    )
    return {pk: LLMUsageTarget(tenant, mode, currency) for pk, tenant, mode, currency in rows}
