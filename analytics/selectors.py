"""Reads of the analytics app (SPEC §14): margin, revenue and COGS by kind, live accrual.

Revenue is what tenants are invoiced ex-tax: the lines of the period's non-void invoices minus
the tax lines, in the invoice's currency (AUD), net of adjustment notes in the period they are
ISSUED (the ex-GST amount each note credits, on the deployment and kind of the line it
credits; docs/decisions.md). The `credit` lines that consume a note's credit on a later
invoice are a settlement, not revenue: they are left out, so a note is counted once. COGS is
what DigitalOcean charges us: the period's cost lines minus the tax lines (its invoice's, or
until the invoice arrives its daily costs: `cogs_source`, issue 18), in USD, attributed
through the matched resource to COALESCE(its deployment's tenant, its own tenant); a line with
no match or no tenant is `unattributed` (part of the overall COGS, shown apart).

Every aggregation runs in the database (one grouped query for revenue, one for COGS, one per
currency for the exchange rate), so the number of queries is the same for 2 tenants or 5,000;
Python only walks the grouped rows (one per tenant or deployment), never lines or usage rows.

Rounding, once per reported figure: exact USD is summed per group (tenant, deployment, kind,
unattributed, overall), then converted and rounded half-up to a cent once (`analytics.fx`).
Each figure is rounded from its own exact sum, so per-tenant COGS may add up to the overall
COGS give or take a cent per row; nothing is forced to add up by shifting cents.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Case, CharField, Count, F, Q, QuerySet, Sum, Value, When
from django.db.models.functions import Coalesce, NullIf

from analytics.fx import FxConversion
from arcadia_cloud.clock import utc_today
from arcadia_cloud.errors import field_error
from arcadia_cloud.money import CENTS_PER_UNIT, round_cents
from arcadia_cloud.periods import month_end, month_start
from billing.models import (
    CloudCostDeploymentTotal,
    CloudCostKindTotal,
    CloudCostLine,
    CloudDailyCost,
    CloudInvoice,
)
from billing.selectors import (
    COGS_SOURCE_INVOICE,
    CogsSource,
    cogs_source_for_period,
    daily_cost_reconciliation,
    latest_balance,
)
from catalog.selectors import fx_conversion as catalog_fx_conversion
from deployments.models import Deployment
from deployments.selectors import pricing_subjects_active_between
from invoicing.models import (
    CreditNoteLine,
    InvoiceLineKind,
    InvoiceStatus,
    RevenueDeploymentTotal,
    RevenueKindTotal,
    TenantInvoiceLine,
)
from invoicing.pricing_inputs import ALL_TENANTS, load_pricing_inputs
from pricing.engine import QuoteInputError
from pricing.invoice import PricingError
from pricing.tenant import TenantPrice

# DigitalOcean bills in USD and billing stores its figures in USD only.
COGS_CURRENCY = "USD"
# The plan currency (SPEC §14): what COGS is converted into when a period has no revenue to
# name the currency (or when its revenue is in several currencies, for the rows no invoice
# ties to one of them: COGS-only tenants and unattributed COGS).
DEFAULT_REVENUE_CURRENCY = "AUD"
PERCENT_PLACES = Decimal("0.01")
# Revenue lines reported under their line kind rather than a billing kind: recurring charges
# (their resource_kind is what an add-on extends, not what was used) and passthrough LLM
# charges (kept apart from plan-metered llm_tokens overage).
LINE_KIND_GROUPS = (InvoiceLineKind.PLAN_BASE, InvoiceLineKind.ADDON, InvoiceLineKind.LLM_USAGE)


# ---------------------------------------------------------------------------------------------
# Exchange rates
# ---------------------------------------------------------------------------------------------


def fx_conversion(*, from_currency: str, to_currency: str, period: dt.date) -> FxConversion:
    """How `from_currency` amounts of `period` become `to_currency`, in one query: the latest
    rate of the pair (either direction) at or before the period, or the reason there is none.
    The catalog's lookup (`catalog.selectors.fx_conversion`): cost-plus prices convert by the
    very same rule and rates as the margin (issue 18)."""
    return catalog_fx_conversion(
        from_currency=from_currency, to_currency=to_currency, period=period
    )


def _conversions(currencies: Iterable[str], period: dt.date) -> dict[str, FxConversion]:
    """COGS → each revenue currency: one query per currency (a handful, never per tenant)."""
    return {
        currency: fx_conversion(from_currency=COGS_CURRENCY, to_currency=currency, period=period)
        for currency in sorted(set(currencies))
    }


# ---------------------------------------------------------------------------------------------
# Shared figures
# ---------------------------------------------------------------------------------------------


def usd_cents(amount: Decimal) -> int:
    """Exact USD as USD cents, rounded half-up once (the COGS as DigitalOcean states it)."""
    return round_cents(Decimal(amount) * CENTS_PER_UNIT)


def margin_percent(margin_cents: int | None, revenue_cents: int | None) -> Decimal | None:
    """Margin as a percentage of revenue, half-up to 2 places; None without revenue or margin."""
    if margin_cents is None or not revenue_cents:
        return None
    return (Decimal(margin_cents) * 100 / Decimal(revenue_cents)).quantize(
        PERCENT_PLACES, rounding=ROUND_HALF_UP
    )


def _figures(revenue_cents: int, cogs_usd: Decimal, fx: FxConversion) -> dict[str, Any]:
    """Revenue, COGS (USD and converted) and margin of one row, each rounded once."""
    cogs_cents = fx.convert_cents(cogs_usd)
    margin = None if cogs_cents is None else revenue_cents - cogs_cents
    return {
        "currency": fx.to_currency,
        "revenue_cents": revenue_cents,
        "cogs_usd_cents": usd_cents(cogs_usd),
        "cogs_cents": cogs_cents,
        "margin_cents": margin,
        "margin_percent": margin_percent(margin, revenue_cents),
    }


def _month(period: dt.date) -> dt.date:
    """A period is named by its first day; anything else would silently match nothing."""
    if period.day != 1:
        raise field_error(
            "period", f"{period} is not the first day of a month; a period is named by it"
        )
    return period


def _reporting_currency(revenue_currencies: list[str]) -> str:
    """The currency rows without an invoice of their own are converted into."""
    if len(revenue_currencies) == 1:
        return revenue_currencies[0]
    return DEFAULT_REVENUE_CURRENCY


def _revenue_lines(period: dt.date) -> QuerySet[TenantInvoiceLine]:
    """Revenue: the ex-tax lines of the period's non-void invoices (SPEC §14)."""
    return (
        TenantInvoiceLine.objects.filter(invoice__period_start=period)
        .exclude(invoice__status=InvoiceStatus.VOID)
        .exclude(kind__in=[InvoiceLineKind.TAX, InvoiceLineKind.CREDIT])
        .order_by()
    )


def _credited_lines(period: dt.date) -> QuerySet[CreditNoteLine]:
    """What adjustment notes ISSUED in the period credit, ex-GST (subtracted from revenue)."""
    start = dt.datetime.combine(period, dt.time(), tzinfo=dt.UTC)
    end = dt.datetime.combine(month_end(period) + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    return CreditNoteLine.objects.filter(
        note__issued_at__gte=start, note__issued_at__lt=end
    ).order_by()


def _cogs_lines(source: CogsSource) -> QuerySet[CloudCostLine | CloudDailyCost]:
    """COGS: the month's DigitalOcean cost lines — its invoice's, else its daily costs so far
    (`cogs_source`) — without the tax lines."""
    return source.rows.filter(is_tax=False).order_by()


# The tenant a cost line is attributed to: its resource's deployment's tenant, else the
# resource's own tenant (an empty one counts as none); NULL → unattributed.
ATTRIBUTED_TENANT = Coalesce(
    F("resource__deployment__tenant_id"), NullIf(F("resource__tenant_id"), Value(""))
)


# ---------------------------------------------------------------------------------------------
# Margin summary
# ---------------------------------------------------------------------------------------------


@dataclass
class _Row:
    """A tenant's or deployment's sums while the grouped rows are walked."""

    tenant_id: str
    revenue_cents: int = 0
    cogs_usd: Decimal = Decimal(0)
    currency: str | None = None  # the invoice's, when the tenant has one for the period
    slug: str = ""


@dataclass
class _PeriodSums:
    tenants: dict[str, _Row]
    deployments: dict[int, _Row]
    revenue_by_currency: dict[str, int]
    cogs_usd: Decimal
    unattributed_usd: Decimal
    unattributed_lines: int


def _period_sums_from_lines(period: dt.date, source: CogsSource) -> _PeriodSums:
    """Revenue per (tenant, currency, deployment), net of the period's adjustment notes, and
    COGS per (tenant, deployment), aggregated from the lines: 2 queries."""
    sums = _PeriodSums({}, {}, defaultdict(int), Decimal(0), Decimal(0), 0)
    revenue = (
        _revenue_lines(period)
        .values_list("invoice__tenant_id", "invoice__currency", "deployment_id", "deployment__slug")
        .annotate(cents=Sum("amount_cents"))
    )
    credited = (
        _credited_lines(period)
        .values_list(
            "note__tenant_id",
            "note__currency",
            "invoice_line__deployment_id",
            "invoice_line__deployment__slug",
        )
        .annotate(cents=Sum(-F("amount_cents")))
    )
    # One query: the invoiced lines and, negative, what the period's notes credit.
    for tenant_id, currency, deployment_id, slug, cents in revenue.union(credited, all=True):
        tenant = sums.tenants.setdefault(tenant_id, _Row(tenant_id))
        tenant.currency = tenant.currency or currency
        tenant.revenue_cents += cents
        sums.revenue_by_currency[currency] += cents
        if deployment_id is not None:  # tenant-level lines count for the tenant only
            row = sums.deployments.setdefault(deployment_id, _Row(tenant_id, slug=slug))
            row.revenue_cents += cents

    _add_cogs_from_rows(sums, source)
    return sums


def _add_cogs_from_rows(
    sums: _PeriodSums, source: CogsSource, tenant_ids: Collection[str] | None = None
) -> None:
    """COGS per (tenant, deployment) aggregated from the source's rows (cost lines or daily
    costs), of every tenant or of `tenant_ids` only: one query."""
    rows = _cogs_lines(source).annotate(attributed_tenant=ATTRIBUTED_TENANT)
    if tenant_ids is not None:
        rows = rows.filter(attributed_tenant__in=tenant_ids)
    cogs = rows.values_list(
        "attributed_tenant", "resource__deployment_id", "resource__deployment__slug"
    )
    for tenant_id, deployment_id, slug, usd, lines in cogs.annotate(
        usd=Sum("amount"), lines=Count("id")
    ):
        sums.cogs_usd += usd
        if tenant_id is None:
            sums.unattributed_usd += usd
            sums.unattributed_lines += lines
            continue
        sums.tenants.setdefault(tenant_id, _Row(tenant_id)).cogs_usd += usd
        if deployment_id is not None:
            sums.deployments.setdefault(deployment_id, _Row(tenant_id, slug=slug)).cogs_usd += usd


def _period_sums(
    period: dt.date, source: CogsSource, tenant_ids: Collection[str] | None = None
) -> _PeriodSums:
    """The same sums from the maintained totals (issue 22: `invoicing.summaries`,
    `billing.summaries`): revenue per (tenant, currency, deployment) from
    `revenue_deployment_totals` and COGS per (tenant, deployment) from
    `cloud_cost_deployment_totals`, one query each over a few rows per deployment, plus the
    slugs of deployments with COGS but no revenue (one query, only when there are some). A month
    whose DigitalOcean invoice has not arrived takes its COGS from the daily costs
    (`cogs_source`). With `tenant_ids`, the rows of those tenants only (a page: the overall
    figures are then those tenants' and `_period_overall` replaces them)."""
    sums = _PeriodSums({}, {}, defaultdict(int), Decimal(0), Decimal(0), 0)
    revenue_totals = RevenueDeploymentTotal.objects.filter(period=period)
    cost_totals = CloudCostDeploymentTotal.objects.filter(invoice__period=period)
    if tenant_ids is not None:
        revenue_totals = revenue_totals.filter(tenant_id__in=tenant_ids)
        cost_totals = cost_totals.filter(tenant_id__in=tenant_ids)
    revenue = (
        revenue_totals.order_by()
        .values_list("tenant_id", "currency", "deployment_id", "deployment__slug")
        .annotate(cents=Sum(F("invoiced_cents") + F("credited_cents")))
    )
    for tenant_id, currency, deployment_id, slug, cents in revenue:
        tenant = sums.tenants.setdefault(tenant_id, _Row(tenant_id))
        tenant.currency = tenant.currency or currency
        tenant.revenue_cents += cents
        sums.revenue_by_currency[currency] += cents
        if deployment_id is not None:  # tenant-level lines count for the tenant only
            row = sums.deployments.setdefault(deployment_id, _Row(tenant_id, slug=slug))
            row.revenue_cents += cents

    if source.source != COGS_SOURCE_INVOICE:  # the month so far: its daily costs
        _add_cogs_from_rows(sums, source, tenant_ids)
        return sums
    cogs = (
        cost_totals.order_by()
        .values_list("tenant_id", "deployment_id")
        .annotate(usd=Sum("amount"), lines=Sum("lines"))
    )
    unnamed: list[int] = []  # deployments with COGS and no revenue: their slugs are read after
    for tenant_id, deployment_id, usd, lines in cogs:
        sums.cogs_usd += usd
        if tenant_id is None:
            sums.unattributed_usd += usd
            sums.unattributed_lines += lines
            continue
        sums.tenants.setdefault(tenant_id, _Row(tenant_id)).cogs_usd += usd
        if deployment_id is not None:
            row = sums.deployments.get(deployment_id)
            if row is None:
                row = sums.deployments[deployment_id] = _Row(tenant_id)
                unnamed.append(deployment_id)
            row.cogs_usd += usd
    if unnamed:
        slugs = Deployment.objects.filter(pk__in=unnamed).values_list("pk", "slug")
        for deployment_id, slug in slugs:
            sums.deployments[deployment_id].slug = slug
    return sums


def margin_summary(period: dt.date) -> dict[str, Any]:
    """The period's P&L: overall, per tenant and per deployment (SPEC §14).

    Keys: `period`, `period_end`, `cogs_currency` (USD), `revenue_currencies`, `fx` (one entry
    per currency COGS is converted into: the rate used, its period and direction, or why there
    is none), `overall`, `tenants`, `deployments`, `unattributed`, `next_after` (None here; see
    `margin_page`). Money is integer cents with its currency; `*_usd_cents` are the COGS as
    DigitalOcean billed it; converted COGS, margin and margin % are None when no rate converts
    them (the `fx` entry says why) and margin % is None when revenue is 0. Revenue in several
    currencies is reported per currency and the overall margin is then None
    (`overall.unavailable_reason`): currencies are never added.
    """
    source = cogs_source(_month(period))
    return _margin_report(period, _period_sums(_month(period), source), source)


def margin_summary_from_lines(period: dt.date) -> dict[str, Any]:
    """margin_summary aggregated from the lines themselves (before issue 22): the reference
    the property test and the benchmark compare the summaries with."""
    source = cogs_source(_month(period))
    return _margin_report(period, _period_sums_from_lines(_month(period), source), source)


def margin_page(period: dt.date, *, after: str | None = None, limit: int = 50) -> dict[str, Any]:
    """One page of `margin_summary` (issue 22): the whole period's `overall`, `unattributed`
    and `revenue_currencies`, and of the tenants in tenant order the first `limit` after
    `after` with their deployments; `next_after` is the last tenant of the page when more
    follow, else None. `fx` names the conversions this page uses. The pages, concatenated, are
    the full report's `tenants` and `deployments`.

    For the margin dashboard of thousands of tenants: a page costs what the page holds plus the
    period's few kind totals, not every deployment of the month (docs/performance.md)."""
    month = _month(period)
    source = cogs_source(month)
    tenant_ids = _page_tenants(month, source, after, limit + 1)
    page = tenant_ids[:limit]
    sums = _period_sums(month, source, page)
    (
        sums.revenue_by_currency,
        sums.cogs_usd,
        sums.unattributed_usd,
        sums.unattributed_lines,
    ) = _period_overall(month, source)
    report = _margin_report(period, sums, source)
    report["next_after"] = page[-1] if len(tenant_ids) > limit else None
    return report


def _page_tenants(period: dt.date, source: CogsSource, after: str | None, count: int) -> list[str]:
    """The first `count` tenants after `after`, in order, with revenue or attributed COGS in
    the period: the first `count` of each side (short ordered reads of an index), merged."""

    def first(queryset: QuerySet, name: str) -> list[str]:
        if after is not None:
            queryset = queryset.filter(**{f"{name}__gt": after})
        ordered = queryset.order_by(name).values_list(name, flat=True).distinct()
        return list(ordered[:count])

    revenue = first(RevenueDeploymentTotal.objects.filter(period=period), "tenant_id")
    if source.source == COGS_SOURCE_INVOICE:
        # Per invoice (a month has one, seldom more): an ordered walk of the (invoice, tenant)
        # index, where a join on the invoice's period would group all its rows first.
        cogs = []
        for invoice_id in CloudInvoice.objects.filter(period=period).values_list("pk", flat=True):
            cost_totals = CloudCostDeploymentTotal.objects.filter(invoice_id=invoice_id)
            cogs += first(cost_totals.filter(tenant_id__isnull=False), "tenant_id")
    else:  # the month so far: its daily costs
        rows = _cogs_lines(source).annotate(attributed_tenant=ATTRIBUTED_TENANT)
        cogs = first(rows.filter(attributed_tenant__isnull=False), "attributed_tenant")
    return sorted(set(revenue) | set(cogs))[:count]


def _period_overall(
    period: dt.date, source: CogsSource
) -> tuple[dict[str, int], Decimal, Decimal, int]:
    """The whole period's revenue per currency, COGS, and unattributed COGS and lines, from
    the kind totals and the unattributed deployment totals (a few rows; the daily costs, one
    grouped query, for a month whose invoice has not arrived)."""
    revenue = (
        RevenueKindTotal.objects.filter(period=period)
        .order_by()
        .values_list("currency")
        .annotate(cents=Sum(F("invoiced_cents") + F("credited_cents")))
    )
    revenue_by_currency: dict[str, int] = defaultdict(int, dict(revenue))
    if source.source == COGS_SOURCE_INVOICE:
        cogs = CloudCostKindTotal.objects.filter(invoice__period=period).aggregate(
            usd=Sum("amount")
        )["usd"]
        unattributed = CloudCostDeploymentTotal.objects.filter(
            invoice__period=period, tenant_id__isnull=True
        ).aggregate(usd=Sum("amount"), lines=Sum("lines"))
    else:  # the month so far: its daily costs
        unattributed_only = {"filter": Q(attributed_tenant__isnull=True)}
        unattributed = (
            _cogs_lines(source)
            .annotate(attributed_tenant=ATTRIBUTED_TENANT)
            .aggregate(
                total=Sum("amount"),
                usd=Sum("amount", **unattributed_only),
                lines=Count("id", **unattributed_only),
            )
        )
        cogs = unattributed["total"]
    return (
        revenue_by_currency,
        cogs or Decimal(0),
        unattributed["usd"] or Decimal(0),
        unattributed["lines"] or 0,
    )


def _margin_report(period: dt.date, sums: _PeriodSums, source: CogsSource) -> dict[str, Any]:
    revenue_currencies = sorted(sums.revenue_by_currency)
    fallback = _reporting_currency(revenue_currencies)
    fx = _conversions(
        [fallback, *(row.currency for row in sums.tenants.values() if row.currency)], period
    )

    def row_fx(row: _Row, tenant_currency: str | None = None) -> FxConversion:
        return fx[row.currency or tenant_currency or fallback]

    tenants = [
        {"tenant_id": row.tenant_id, **_figures(row.revenue_cents, row.cogs_usd, row_fx(row))}
        for row in sorted(sums.tenants.values(), key=lambda row: row.tenant_id)
    ]
    deployments = [
        {
            "deployment_id": deployment_id,
            "slug": row.slug,
            "tenant_id": row.tenant_id,
            **_figures(
                row.revenue_cents,
                row.cogs_usd,
                row_fx(row, sums.tenants[row.tenant_id].currency),
            ),
        }
        for deployment_id, row in sorted(
            sums.deployments.items(), key=lambda item: (item[1].tenant_id, item[1].slug, item[0])
        )
    ]
    return {
        "period": period,
        "period_end": month_end(period),
        "cogs_currency": COGS_CURRENCY,
        "cogs_source": source.as_dict(),
        "revenue_currencies": revenue_currencies,
        "fx": [conversion.as_dict() for conversion in fx.values()],
        "overall": _overall(sums, revenue_currencies, fx[fallback]),
        "tenants": tenants,
        "deployments": deployments,
        "unattributed": {
            "lines": sums.unattributed_lines,
            "currency": fallback,
            "cogs_usd_cents": usd_cents(sums.unattributed_usd),
            "cogs_cents": fx[fallback].convert_cents(sums.unattributed_usd),
        },
        "next_after": None,  # a page's (`margin_page`)
    }


def _overall(sums: _PeriodSums, revenue_currencies: list[str], fx: FxConversion) -> dict[str, Any]:
    by_currency = [
        {"currency": currency, "revenue_cents": sums.revenue_by_currency[currency]}
        for currency in revenue_currencies
    ]
    if len(revenue_currencies) > 1:
        return {
            "currency": None,
            "revenue_cents": None,
            "revenue_by_currency": by_currency,
            "cogs_usd_cents": usd_cents(sums.cogs_usd),
            "cogs_cents": None,
            "margin_cents": None,
            "margin_percent": None,
            "unavailable_reason": (
                f"revenue is in {len(revenue_currencies)} currencies "
                f"({', '.join(revenue_currencies)}); amounts in different currencies are never "
                "added, so the overall margin is shown per tenant only"
            ),
        }
    figures = _figures(sum(sums.revenue_by_currency.values()), sums.cogs_usd, fx)
    return {
        **figures,
        "revenue_by_currency": by_currency,
        "unavailable_reason": None if fx.available else fx.reason,
    }


# ---------------------------------------------------------------------------------------------
# By kind
# ---------------------------------------------------------------------------------------------

# The kind a revenue line is reported under: plan_base, addon and llm_usage lines by their
# line kind, overage and list-priced usage lines by their billing kind.
REVENUE_KIND = Case(
    When(kind__in=LINE_KIND_GROUPS, then=F("kind")),
    default=Coalesce(F("resource_kind"), F("kind")),
    output_field=CharField(),
)


# The same, for the invoice line an adjustment note credits.
CREDITED_KIND = Case(
    When(invoice_line__kind__in=LINE_KIND_GROUPS, then=F("invoice_line__kind")),
    default=Coalesce(F("invoice_line__resource_kind"), F("invoice_line__kind")),
    output_field=CharField(),
)


def by_kind(period: dt.date) -> dict[str, Any]:
    """Revenue by billing kind and COGS by DigitalOcean kind, as two separate lists (the kinds
    do not map 1:1), in 2 grouped queries plus the rate lookup.

    Revenue kinds: `plan_base`, `addon` and `llm_usage` (passthrough) lines are grouped under
    their line kind; overage and usage lines under their billing kind (`droplet_hours`, ...).
    Revenue is per currency; COGS is in USD and converted into the period's revenue currency
    (AUD when there is none or several), None without a rate (`fx.reason` says why).

    Read from the maintained kind totals (issue 22: `revenue_kind_totals`, a few rows per kind,
    and `cloud_cost_kind_totals`, a row per kind of the month's invoice); `by_kind_from_lines`
    is the same report aggregated from the lines.
    """
    period = _month(period)
    revenue = (
        RevenueKindTotal.objects.filter(period=period)
        .order_by()
        .values_list("currency", "kind")
        .annotate(cents=Sum(F("invoiced_cents") + F("credited_cents")), lines=Sum("invoiced_lines"))
    )
    source = cogs_source(period)
    if source.source == COGS_SOURCE_INVOICE:
        cogs = (
            CloudCostKindTotal.objects.filter(invoice__period=period)
            .order_by()
            .values_list("kind")
            .annotate(usd=Sum("amount"), lines=Sum("lines"))
        )
    else:  # the month so far: its daily costs (few rows a day), or nothing yet
        cogs = _cogs_by_kind(source)
    return _by_kind_report(period, revenue, cogs, source)


def by_kind_from_lines(period: dt.date) -> dict[str, Any]:
    """by_kind aggregated from the lines themselves (before issue 22): the reference the
    property test and the benchmark compare the summaries with."""
    revenue = (
        _revenue_lines(_month(period))
        .annotate(group=REVENUE_KIND)
        .values_list("invoice__currency", "group")
        .annotate(cents=Sum("amount_cents"), lines=Count("id"))
    )
    credited = (
        _credited_lines(_month(period))
        .annotate(group=CREDITED_KIND)
        .values_list("note__currency", "group")
        .annotate(cents=Sum(-F("amount_cents")), lines=Value(0))
    )
    source = cogs_source(period)
    # One query: the invoiced lines by kind and, negative, what the period's notes credit.
    return _by_kind_report(
        _month(period), revenue.union(credited, all=True), _cogs_by_kind(source), source
    )


def _cogs_by_kind(source: CogsSource) -> QuerySet:
    return _cogs_lines(source).values_list("kind").annotate(usd=Sum("amount"), lines=Count("id"))


def _by_kind_report(
    period: dt.date,
    revenue: Iterable[tuple[str, str, int, int]],
    cogs: Iterable[Any],
    source: CogsSource,
) -> dict[str, Any]:
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for currency, kind, cents, lines in revenue:
        row = rows.setdefault(
            (currency, kind),
            {"kind": kind, "currency": currency, "revenue_cents": 0, "lines": 0},
        )
        row["revenue_cents"] += cents
        row["lines"] += lines
    revenue_rows = list(rows.values())
    revenue_rows.sort(key=lambda row: (row["currency"], -row["revenue_cents"], row["kind"]))
    currency = _reporting_currency(sorted({row["currency"] for row in revenue_rows}))
    fx = fx_conversion(from_currency=COGS_CURRENCY, to_currency=currency, period=period)

    cogs_rows = [
        {
            "kind": kind,
            "currency": currency,
            "cogs_usd_cents": usd_cents(usd),
            "cogs_cents": fx.convert_cents(usd),
            "lines": lines,
        }
        for kind, usd, lines in cogs
    ]
    cogs_rows.sort(key=lambda row: (-row["cogs_usd_cents"], row["kind"]))
    return {
        "period": period,
        "period_end": month_end(period),
        "cogs_currency": COGS_CURRENCY,
        "cogs_source": source.as_dict(),
        "fx": fx.as_dict(),
        "revenue": revenue_rows,
        "cogs": cogs_rows,
    }


# ---------------------------------------------------------------------------------------------
# Live accrual
# ---------------------------------------------------------------------------------------------


@dataclass
class _Accrued:
    """What one tenant (in one currency) has accrued so far."""

    tenant_id: str
    currency: str
    subscriptions: int = 0
    recurring_cents: int = 0
    usage_cents: int = 0
    llm_cents: int = 0
    late_usage_cents: int = 0  # late usage of earlier, invoiced months this invoice will carry

    @classmethod
    def of(cls, priced: TenantPrice) -> _Accrued:
        parts = priced.cents_by_part()
        return cls(
            tenant_id=priced.tenant_id,
            currency=priced.currency,
            subscriptions=len(priced.subscription_ids),
            recurring_cents=parts["recurring"],
            usage_cents=parts["usage"],
            llm_cents=parts["llm"],
            late_usage_cents=parts["late_usage"],
        )

    @property
    def subtotal_cents(self) -> int:
        return self.recurring_cents + self.usage_cents + self.llm_cents + self.late_usage_cents

    def add(self, other: _Accrued) -> None:
        self.subscriptions += other.subscriptions
        self.recurring_cents += other.recurring_cents
        self.usage_cents += other.usage_cents
        self.llm_cents += other.llm_cents
        self.late_usage_cents += other.late_usage_cents

    def as_dict(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "currency": self.currency,
            "subscriptions": self.subscriptions,
            "recurring_cents": self.recurring_cents,
            "usage_cents": self.usage_cents,
            "llm_cents": self.llm_cents,
            "late_usage_cents": self.late_usage_cents,
            "subtotal_cents": self.subtotal_cents,
        }


def live_accrual(today: dt.date | None = None) -> dict[str, Any]:
    """The month so far (its first day to `today`, default today UTC), per tenant and in total
    per currency: what each tenant's invoice would be if the month ended today with the usage
    so far (SPEC §14).

    It prices through the one pricing path — the loader and `price_tenant` the month-end rollup
    uses, on month-to-date usage — so on a month's last day each tenant's subtotal equals the
    rollup's, and a tenant the rollup would refuse (LLM charges in another currency than its
    plan, subscriptions in two currencies) is listed under `failed` with the very reason the
    rollup gives, never silently accrued without the part it cannot add.

    `late_usage_cents` is the late usage of earlier, already invoiced months that the month's
    invoice will carry, with the same lines the rollup will write; a tenant with only late
    usage accrues it too.

    Beside it, `cogs_to_date`: the latest DigitalOcean balance snapshot's month-to-date usage
    (USD, and converted when a rate exists), when that snapshot was fetched this month.
    """
    today = today or utc_today()
    start = month_start(today)
    loaded = load_pricing_inputs(
        pricing_subjects_active_between(start, today),
        month=start,
        through=today,
        late_usage_of=ALL_TENANTS,
    )
    warnings: list[str] = []
    failed: list[dict[str, str]] = []
    tenants: dict[tuple[str, str], _Accrued] = {}
    for tenant_id in loaded.tenant_ids():
        try:
            priced = loaded.price_tenant(tenant_id)
        except (PricingError, QuoteInputError) as exc:
            failed.append({"tenant_id": tenant_id, "reason": str(exc)})
            continue
        warnings.extend(priced.warnings)
        accrued = _Accrued.of(priced)
        tenants[(tenant_id, accrued.currency)] = accrued

    totals: dict[str, _Accrued] = {}
    tenant_counts: dict[str, int] = defaultdict(int)
    for (_, currency), accrued in sorted(tenants.items()):
        totals.setdefault(currency, _Accrued("", currency)).add(accrued)
        tenant_counts[currency] += 1
    return {
        "as_of": today,
        "period": start,
        "period_end": month_end(today),
        "days_elapsed": (today - start).days + 1,
        "tenants": [tenants[key].as_dict() for key in sorted(tenants)],
        "totals": [
            {**_without_tenant(total.as_dict()), "tenants": tenant_counts[currency]}
            for currency, total in sorted(totals.items())
        ],
        "failed": failed,
        "cogs_to_date": _cogs_to_date(start, today, _reporting_currency(sorted(totals))),
        "margin_to_date": margin_to_date(
            start, [accrued.as_dict() for accrued in tenants.values()]
        ),
        "warnings": warnings,
    }


def _without_tenant(row: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in row.items() if key != "tenant_id"}


def _cogs_to_date(start: dt.date, today: dt.date, currency: str) -> dict[str, Any]:
    """DigitalOcean's month-to-date usage from the latest balance snapshot, if it is this
    month's: one query, plus one for the rate."""
    snapshot = latest_balance()
    fetched_on = snapshot.fetched_at.astimezone(dt.UTC).date() if snapshot else None
    reason = None
    if snapshot is None:
        reason = "no DigitalOcean balance snapshot yet (billing fetches one hourly at :07)"
    elif not start <= fetched_on <= today:
        reason = (
            f"the latest DigitalOcean balance snapshot was fetched on {fetched_on}, outside "
            f"{start:%Y-%m} up to {today}: it is not this month's spend"
        )
    if reason is not None:
        return {
            "currency": currency,
            "usd_cents": None,
            "cents": None,
            "fetched_at": snapshot.fetched_at if snapshot else None,
            "fx": None,
            "reason": reason,
        }
    fx = fx_conversion(from_currency=COGS_CURRENCY, to_currency=currency, period=start)
    usage = snapshot.month_to_date_usage
    return {
        "currency": currency,
        "usd_cents": usd_cents(usage),
        "cents": fx.convert_cents(usage),
        "fetched_at": snapshot.fetched_at,
        "fx": fx.as_dict(),
        "reason": None if fx.available else fx.reason,
    }


# ---------------------------------------------------------------------------------------------
# Daily COGS (issue 18): which source a month's COGS comes from, and the month-end reconciliation
# ---------------------------------------------------------------------------------------------


def cogs_source(period: dt.date) -> CogsSource:
    """Where the month's COGS comes from (one query; its rows are a lazy queryset of
    `CloudCostLine` or `CloudDailyCost`, read alike): DigitalOcean's ingested invoice — the
    truth — else the daily costs (billing insights) ingested so far, for a month whose invoice
    has not arrived; `source.as_dict()` says which, through which day, and why. Margin, by kind
    and any summary table take their COGS from here."""
    return cogs_source_for_period(_month(period))


def cogs_reconciliation(period: dt.date) -> dict[str, Any]:
    """At month end, per DigitalOcean kind: the daily costs summed, the invoice's lines (both
    ex tax, USD cents, each rounded once) and the difference daily - invoice, with totals and a
    `status` (`reconciled`, `no_invoice`, `no_daily_costs`)."""
    return daily_cost_reconciliation(_month(period))


def margin_to_date(period: dt.date, accrued: list[dict[str, Any]]) -> dict[str, Any]:
    """The month so far per tenant: what it has accrued (`live_accrual`'s tenants: tenant_id,
    currency, subtotal_cents; shown as `revenue_cents`) against its COGS from the month's source
    — the daily costs while DigitalOcean's invoice has not arrived — converted into the tenant's
    currency, and the margin. A tenant with COGS and nothing accrued is listed with revenue 0;
    unattributed COGS is shown apart. 2 queries plus one per currency."""
    source = cogs_source(period)
    cogs = _cogs_lines(source).annotate(attributed_tenant=ATTRIBUTED_TENANT)
    cogs_by_tenant: dict[str | None, Decimal] = dict(
        cogs.values_list("attributed_tenant").annotate(usd=Sum("amount"))
    )
    revenue: dict[str, tuple[str, int]] = {}
    for row in accrued:
        currency, cents = revenue.get(row["tenant_id"], (row["currency"], 0))
        revenue[row["tenant_id"]] = (currency, cents + row["subtotal_cents"])
    fallback = _reporting_currency(sorted({currency for currency, _ in revenue.values()}))
    tenant_ids = sorted({*revenue, *(t for t in cogs_by_tenant if t is not None)})
    fx = _conversions([fallback, *(currency for currency, _ in revenue.values())], period)
    tenants = []
    for tenant_id in tenant_ids:
        currency, cents = revenue.get(tenant_id, (fallback, 0))
        usd = cogs_by_tenant.get(tenant_id, Decimal(0))
        tenants.append({"tenant_id": tenant_id, **_figures(cents, usd, fx[currency])})
    unattributed = cogs_by_tenant.get(None, Decimal(0))
    return {
        "cogs_source": source.as_dict(),
        "tenants": tenants,
        "unattributed": {
            "currency": fallback,
            "cogs_usd_cents": usd_cents(unattributed),
            "cogs_cents": fx[fallback].convert_cents(unattributed),
        },
    }
