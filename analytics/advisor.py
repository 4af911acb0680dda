"""The pricing advisor (issue 18 item 4): what a month's usage cost us per unit, what it earned,
and the unit price that would have reached a target margin — plus who lost money, and why.

`pricing_advice(period, target_margin=30)`:

- per billing kind (and, for a kind whose resources have sizes, per size slug — the size of
  the resource each usage row and cost line belongs to, as inventory has it now): the units
  metered in the month (every unit, inside an allowance or not, in the kind's base unit), the
  COGS (the month's DigitalOcean cost lines of the resource kinds that accrue it, converted by
  the margin dashboard's `fx_rates` rule), the revenue billed per unit (its overage and
  list-priced usage lines; what an allowance covers is paid by the plan's base price and is
  not counted here), COGS and revenue per unit, and the margin;
- the unit price that reaches the target margin if every metered unit were billed at it:
  COGS ÷ (units x (1 - target ÷ 100)), rounded UP to a whole cent (catalog prices are whole
  cents per unit; rounding up keeps the margin at or above the target). Break-even is target 0;
- the tenants and deployments that lose money (the margin dashboard's own figures) and, for
  each losing deployment, the resources behind it with a reason a person can act on.

Queries: the margin dashboard's grouped sums, plus a fixed handful (revenue, COGS and units by
kind and size, the losing deployments' resources, their statuses, the metering config) —
never one per tenant, resource or row.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from django.db.models import Case, CharField, Count, F, Q, Sum, Value, When

from analytics.selectors import (
    COGS_CURRENCY,
    REVENUE_KIND,
    _cogs_lines,
    _month,
    _period_sums,
    _reporting_currency,
    _revenue_lines,
    cogs_source,
    fx_conversion,
    margin_percent,
    usd_cents,
)
from arcadia_cloud.errors import field_error
from arcadia_cloud.money import format_decimal
from arcadia_cloud.periods import month_end
from inventory.models import CloudResourceHistory
from invoicing.models import InvoiceLineKind, UsageRecord
from invoicing.usage.metering import billable_statuses_in_force
from invoicing.usage.selectors import metering_settings, month_units, round_qty_exact
from pricing import kinds as registry

DEFAULT_TARGET_MARGIN = Decimal(30)
PER_UNIT_PLACES = Decimal("0.0001")
K8S_TAG = registry.K8S_WORKER_TAG_PREFIX
MAX_LOSS_ROWS = 50
MAX_RESOURCES_PER_DEPLOYMENT = 5
ROUNDING = (
    "Suggested unit prices are COGS ÷ (units x (1 - target margin)), rounded up to a whole cent "
    "per unit (catalog prices are whole cents), so the margin they reach is at least the target; "
    "break-even is target 0. Per-unit figures are shown to 4 decimal places of a cent."
)


def clean_target_margin(value: object) -> Decimal:
    """A target margin in percent, 0 (break-even) up to but excluding 100: 400 otherwise."""
    if value is None or value == "":
        return DEFAULT_TARGET_MARGIN
    try:
        target = Decimal(str(value).strip())
    except InvalidOperation:
        raise field_error(
            "target_margin", f"{value!r} is not a number (a percent, e.g. 30)"
        ) from None
    if not target.is_finite() or not Decimal(0) <= target < Decimal(100):
        raise field_error(
            "target_margin", f"must be a percent from 0 (break-even) up to 99.99, got {value}"
        )
    if target != target.quantize(Decimal("0.01")):
        raise field_error("target_margin", "at most 2 decimal places")
    return target


def unit_price_for(cogs_cents: int | None, units: Decimal, target: Decimal) -> int | None:
    """The whole-cent unit price that reaches `target` % margin on `units` (None: no units or
    COGS unknown)."""
    if cogs_cents is None or units <= 0:
        return None
    exact = Decimal(cogs_cents) / (units * (1 - target / 100))
    return int(exact.to_integral_value(rounding=ROUND_CEILING))


def _per_unit(cents: int | None, units: Decimal) -> Decimal | None:
    if cents is None or units <= 0:
        return None
    return (Decimal(cents) / units).quantize(PER_UNIT_PLACES, rounding=ROUND_HALF_UP)


@dataclass
class _KindSums:
    units: Fraction = Fraction(0)
    cogs_usd: Decimal = Decimal(0)
    revenue_cents: int = 0
    cost_lines: int = 0
    sizes: dict[str, _KindSums] = field(default_factory=dict)

    def size(self, slug: str) -> _KindSums:
        return self.sizes.setdefault(slug, _KindSums())


# Kinds whose cost follows the resource's size (hours of a size): shown per size slug. A
# storage or bandwidth kind's lines also name the droplet they belong to; its size says nothing.
SIZED_KINDS = frozenset(
    kind.billing_kind
    for kind in registry.RESOURCE_KINDS.values()
    if kind.accrual is registry.Accrual.HOURS
)


# The kind a cost line counts for: its own (a droplet's backup line is a backup), except that a
# droplet line's matched resource says what the droplet bills as (`pricing.kinds.billed_as`,
# in SQL): one with GPUs is a GPU droplet, one tagged k8s:<cluster> bills through its cluster.
BILLED_AS = Case(
    When(
        Q(kind="droplet", resource__kind="droplet", resource__attrs__gpu_count__gt=0),
        then=Value(registry.GPU_DROPLET),
    ),
    When(
        Q(
            kind="droplet",
            resource__kind="droplet",
            resource__attrs__tags__icontains=f'"{K8S_TAG}',
        ),
        then=Value(registry.K8S_WORKER),
    ),
    default=F("kind"),
    output_field=CharField(),
)


def _billing_kind_of(resource_kind: str) -> str | None:
    """The billing kind a DigitalOcean kind's cost belongs to (a Kubernetes worker bills
    through its cluster); None when nothing bills it."""
    if resource_kind == registry.K8S_WORKER:
        return registry.RESOURCE_KINDS["k8s_cluster"].billing_kind
    kind = registry.RESOURCE_KINDS.get(resource_kind)
    if kind is not None:
        return kind.billing_kind
    return resource_kind if resource_kind in registry.BILLING_KINDS else None


def pricing_advice(period: dt.date, *, target_margin: object = None) -> dict[str, Any]:
    """The advisor's table for the month starting `period` (400 naming `period` /
    `target_margin` for bad input). Money in integer cents of `currency`."""
    period = _month(period)
    target = clean_target_margin(target_margin)
    end = month_end(period)
    start_at = dt.datetime.combine(period, dt.time(), tzinfo=dt.UTC)
    end_at = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)

    sums: dict[str, _KindSums] = defaultdict(_KindSums)
    unbilled_cogs: dict[str, Decimal] = defaultdict(Decimal)
    revenue_currencies: set[str] = set()
    revenue = (
        _revenue_lines(period)
        .exclude(kind__in=[InvoiceLineKind.PLAN_BASE, InvoiceLineKind.ADDON])
        .annotate(group=REVENUE_KIND)
        .values_list("invoice__currency", "group")
        .annotate(cents=Sum("amount_cents"))
    )
    for currency, kind, cents in revenue:
        revenue_currencies.add(currency)
        if kind in registry.BILLING_KINDS:
            sums[kind].revenue_cents += cents
    currency = _reporting_currency(sorted(revenue_currencies))
    fx = fx_conversion(from_currency=COGS_CURRENCY, to_currency=currency, period=period)

    cogs = (
        _cogs_lines(cogs_source(period))
        .annotate(billed_as=BILLED_AS)
        .values_list("billed_as", "resource__size_slug")
        .annotate(usd=Sum("amount"), lines=Count("id"))
    )
    for do_kind, slug, usd, lines in cogs:
        kind = _billing_kind_of(do_kind)
        if kind is None:
            unbilled_cogs[do_kind] += usd
            continue
        sums[kind].cogs_usd += usd
        sums[kind].cost_lines += lines
        sized = sums[kind].size(slug or "")
        sized.cogs_usd += usd
        sized.cost_lines += lines

    # The month's units per kind, and per size where size matters (hourly kinds) from the size
    # each row was metered at (`usage_records.size_slug`): the maintained monthly totals.
    for kind, slug, denominator, numerator in month_units(period):
        units = Fraction(numerator) / denominator
        sums[kind].units += units
        if slug and kind in SIZED_KINDS:
            sums[kind].size(slug).units += units

    rows = [
        _kind_row(kind, sums[kind], fx, target)
        for kind in registry.BILLING_KINDS
        if kind in sums and (sums[kind].units or sums[kind].cogs_usd or sums[kind].revenue_cents)
    ]
    losses = _losses(period, fx, start_at, end_at)
    missing = []
    if not fx.available:
        missing.append(f"COGS in {currency}: {fx.reason}")
    if not any(row["cogs_usd_cents"] for row in rows) and not unbilled_cogs:
        missing.append(
            f"no DigitalOcean cost line for {period:%Y-%m} (its invoice is not imported): COGS "
            "per unit and suggested prices are unknown"
        )
    if not any(row["units"] for row in rows):
        missing.append(f"no metered usage in {period:%Y-%m} (is the month metered?)")
    return {
        "period": period,
        "period_end": end,
        "currency": currency,
        "cogs_currency": COGS_CURRENCY,
        "target_margin_percent": target,
        "rounding": ROUNDING,
        "fx": fx.as_dict(),
        "kinds": rows,
        "unbilled_cogs": [
            {
                "kind": do_kind,
                "cogs_usd_cents": usd_cents(usd),
                "cogs_cents": fx.convert_cents(usd),
                "reason": f"{do_kind} accrues no billing kind: nothing bills it to a tenant",
            }
            for do_kind, usd in sorted(unbilled_cogs.items())
        ],
        **losses,
        "missing": missing,
    }


def _exact_units(units: Fraction) -> Decimal:
    """Exact summed fractions, rounded half-up to 6 places once (as usage is priced)."""
    return round_qty_exact(units)


def _figures(sums: _KindSums, fx, target: Decimal, *, with_revenue: bool) -> dict[str, Any]:
    units = _exact_units(sums.units)
    cogs_cents = fx.convert_cents(sums.cogs_usd)
    row: dict[str, Any] = {
        "units": units,
        "cogs_usd_cents": usd_cents(sums.cogs_usd),
        "cogs_cents": cogs_cents,
        "cogs_per_unit_cents": _per_unit(cogs_cents, units),
        "break_even_unit_price_cents": unit_price_for(cogs_cents, units, Decimal(0)),
        "target_unit_price_cents": unit_price_for(cogs_cents, units, target),
    }
    if with_revenue:
        margin = None if cogs_cents is None else sums.revenue_cents - cogs_cents
        row |= {
            "revenue_cents": sums.revenue_cents,
            "revenue_per_unit_cents": _per_unit(sums.revenue_cents, units),
            "margin_cents": margin,
            "margin_percent": margin_percent(margin, sums.revenue_cents),
        }
    return row


def _kind_row(kind: str, sums: _KindSums, fx, target: Decimal) -> dict[str, Any]:
    billing = registry.BILLING_KINDS[kind]
    sizes = {slug: found for slug, found in sums.sizes.items() if slug and kind in SIZED_KINDS}
    return {
        "kind": kind,
        "label": billing.label,
        "unit": billing.base_unit,
        **_figures(sums, fx, target, with_revenue=True),
        # Revenue lines are per kind, not per size: sizes show cost and the price to charge.
        "sizes": [
            {"size_slug": slug, **_figures(found, fx, target, with_revenue=False)}
            for slug, found in sorted(sizes.items())
        ]
        if sizes
        else [],
    }


# ---------------------------------------------------------------------------------------------
# Who loses money, and why
# ---------------------------------------------------------------------------------------------


def _losses(period: dt.date, fx, start_at: dt.datetime, end_at: dt.datetime) -> dict[str, Any]:
    """Tenants and deployments whose margin (the dashboard's figures, in `fx`'s currency when
    they have no invoice of another) is negative, worst first, with the resources behind each
    losing deployment."""
    sums = _period_sums(period, cogs_source(period))

    def margin(row) -> int | None:
        # Rows invoiced in another currency than the reporting one are left to the dashboard.
        if (row.currency or fx.to_currency) != fx.to_currency:
            return None
        cogs = fx.convert_cents(row.cogs_usd)
        return None if cogs is None else row.revenue_cents - cogs

    tenants = []
    for row in sums.tenants.values():
        found = margin(row)
        if found is not None and found < 0:
            tenants.append(_loss(row, found, fx))
    tenants.sort(key=lambda item: (item["margin_cents"], item["tenant_id"]))
    deployments = []
    for deployment_id, row in sums.deployments.items():
        found = margin(row)
        if found is not None and found < 0:
            deployments.append(
                {"deployment_id": deployment_id, "slug": row.slug, **_loss(row, found, fx)}
            )
    deployments.sort(key=lambda item: (item["margin_cents"], item["slug"]))
    shown = deployments[:MAX_LOSS_ROWS]
    behind = _resources_behind([item["deployment_id"] for item in shown], period, start_at, end_at)
    for item in shown:
        item["resources"] = [
            _with_reason(resource, item, fx)
            for resource in behind.get(item["deployment_id"], [])[:MAX_RESOURCES_PER_DEPLOYMENT]
        ]
    return {
        "losing_tenants": tenants[:MAX_LOSS_ROWS],
        "losing_tenant_count": len(tenants),
        "losing_deployments": shown,
        "losing_deployment_count": len(deployments),
    }


def _loss(row, margin: int, fx) -> dict[str, Any]:
    return {
        "tenant_id": row.tenant_id,
        "currency": fx.to_currency,
        "revenue_cents": row.revenue_cents,
        "cogs_usd_cents": usd_cents(row.cogs_usd),
        "cogs_cents": row.revenue_cents - margin,
        "margin_cents": margin,
    }


def _resources_behind(
    deployment_ids: list[int], period: dt.date, start_at: dt.datetime, end_at: dt.datetime
) -> dict[int, list[dict[str, Any]]]:
    """The losing deployments' resources with COGS in the month, costliest first: their COGS,
    metered units, statuses in the month and the deployment's revenue for their billing kind
    (four queries whatever the number)."""
    if not deployment_ids:
        return {}
    cogs = (
        _cogs_lines(cogs_source(period))
        .filter(resource__deployment_id__in=deployment_ids)
        .values_list(
            "resource__deployment_id",
            "resource_id",
            "resource__name",
            "resource__kind",
            "resource__size_slug",
            "resource__status",
            "resource__attrs",
        )
        .annotate(usd=Sum("amount"))
    )
    resources = [
        {
            "deployment_id": deployment_id,
            "resource_id": resource_id,
            "name": name,
            "kind": registry.billed_as(kind, attrs or {}),
            "size_slug": slug,
            "status_now": status,
            "cogs_usd": usd,
        }
        for deployment_id, resource_id, name, kind, slug, status, attrs, usd in cogs
    ]
    ids = [resource["resource_id"] for resource in resources]
    metered: dict[tuple[int, str], Fraction] = defaultdict(Fraction)
    for resource_id, kind, denominator, numerator in (
        UsageRecord.objects.filter(
            resource_id__in=ids, period_start__gte=start_at, period_start__lt=end_at
        )
        .values_list("resource_id", "resource_kind", "qty_denominator")
        .annotate(numerator=Sum("qty_numerator"))
        .order_by()
    ):
        metered[(resource_id, kind)] += Fraction(numerator) / denominator
    statuses: dict[int, set[str]] = defaultdict(set)
    for resource_id, status in (
        CloudResourceHistory.objects.filter(resource_id__in=ids, valid_from__lt=end_at)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=start_at))
        .values_list("resource_id", "status")
        .distinct()
    ):
        statuses[resource_id].add(status)
    billed: dict[tuple[int, str], int] = defaultdict(int)
    for deployment_id, kind, cents in (
        _revenue_lines(period)
        .filter(deployment_id__in=deployment_ids, resource_kind__isnull=False)
        .exclude(kind__in=[InvoiceLineKind.PLAN_BASE, InvoiceLineKind.ADDON])
        .values_list("deployment_id", "resource_kind")
        .annotate(cents=Sum(F("amount_cents")))
    ):
        billed[(deployment_id, kind)] += cents
    settings_by_kind = metering_settings()
    by_deployment: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for resource in resources:
        resource["statuses"] = sorted(statuses.get(resource["resource_id"], set()))
        kind = registry.RESOURCE_KINDS.get(resource["kind"])
        resource["billing_kind"] = _billing_kind_of(resource["kind"])
        # Its own billing kind's units (a droplet's bandwidth GB are not its hours).
        resource["units"] = _exact_units(
            metered.get((resource["resource_id"], resource["billing_kind"]), Fraction(0))
        )
        resource["billable_statuses"] = (
            sorted(billable_statuses_in_force(kind, settings_by_kind) or ())
            if kind is not None and kind.billing_kind is not None
            else []
        )
        resource["kind_billed_cents"] = billed.get(
            (resource["deployment_id"], resource["billing_kind"]), 0
        )
        by_deployment[resource["deployment_id"]].append(resource)
    for found in by_deployment.values():
        found.sort(key=lambda resource: (-resource["cogs_usd"], resource["name"]))
    return by_deployment


def _money(currency: str, cents: int) -> str:
    """Cents as "USD 1,008" / "AUD 12.50" for a sentence."""
    units, rest = divmod(abs(cents), 100)
    sign = "-" if cents < 0 else ""
    return f"{currency} {sign}{units:,}" + (f".{rest:02d}" if rest else "")


def _usd(usd: Decimal) -> str:
    return _money(COGS_CURRENCY, usd_cents(usd))


def _with_reason(resource: dict[str, Any], deployment: dict[str, Any], fx) -> dict[str, Any]:
    """The resource as the advisor lists it, with one sentence saying why it loses money."""
    what = resource["size_slug"] or resource["name"]
    statuses = resource["statuses"] or [resource["status_now"]]
    state = f"{statuses[0]} all month" if len(statuses) == 1 else f"{'/'.join(statuses)}"
    cost = _usd(resource["cogs_usd"])
    label = registry.RESOURCE_KINDS.get(resource["kind"])
    noun = (label.label if label else resource["kind"]).lower()
    head = f"{deployment['slug']}, {what}, {state}: DigitalOcean billed {cost}"
    billable = resource["billable_statuses"]
    if resource["billing_kind"] is None:
        reason = f"{head}; {noun}s accrue no billing kind, so no tenant is billed for them"
    elif resource["units"] == 0 and billable and not set(statuses) & set(billable):
        reason = (
            f"{head}, the tenant was billed 0 — {statuses[0]} {noun}s are not billable under "
            f"the metering config (billable: {', '.join(billable)})"
        )
    elif resource["units"] == 0:
        reason = f"{head}, the tenant was billed 0 — nothing was metered for it in the month"
    else:
        unit = registry.BILLING_KINDS[resource["billing_kind"]].base_unit
        billed = resource["kind_billed_cents"]
        inside = " (inside its plan's allowance, paid by the base price)" if not billed else ""
        reason = (
            f"{head} for {format_decimal(resource['units'])} {unit}(s) metered; the deployment "
            f"was billed {_money(fx.to_currency, billed)} for {resource['billing_kind']}{inside}"
        )
    return {
        "resource_id": resource["resource_id"],
        "name": resource["name"],
        "kind": resource["kind"],
        "size_slug": resource["size_slug"],
        "statuses": statuses,
        "billing_kind": resource["billing_kind"],
        "units": resource["units"],
        "cogs_usd_cents": usd_cents(resource["cogs_usd"]),
        "cogs_cents": fx.convert_cents(resource["cogs_usd"]),
        "billed_for_kind_cents": resource["kind_billed_cents"],
        "reason": reason,
    }
