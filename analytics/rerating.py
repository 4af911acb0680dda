"""Re-rating a draft plan version against a past month (issue 18 item 5), before publishing it.

`version_rerate(version_id=..., period=...)` prices the month's actual usage of the affected
subscribers under the draft's terms and writes nothing. It is the month-end rollup's pricing
without the writes: the rollup's own subjects (`rollup.inputs.subjects_by_tenant`), its one
bulk load (`rollup.pricing.load`, i.e. `invoicing.pricing_inputs.load_pricing_inputs`) and its
per-tenant `rollup.pricing.price` (the kernel's `price_tenant`). The only difference is
`reprice_as`: the subscriptions bound to the plan's active version are priced under the draft's
terms, as moving them to it would (`subscription_change_plan_version`: their version and their
open segment). Late usage and adjustment-note credit are read as they stand (no locks).

Who is affected: the tenants with a subscription active in the month that is bound to the
plan's ACTIVE version (the version publishing the draft retires; subscribers of older, retired
versions stay where they are). Each affected tenant's whole invoice is priced, its other
subscriptions unchanged, so "would get" is the invoice a forced rollup would write once the
draft is published and they are moved to it.

Per tenant: what it got (its non-void invoice of the month; without one, the month priced
under its current versions), what it would get, its COGS (the month's DigitalOcean cost lines
attributed to it, as the margin dashboard attributes them, converted by the same `fx_rates`
rule) and the margin each way (ex-tax revenue minus COGS). Totals per currency. What cannot be
computed is None with a reason in `missing`, never a silent zero.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db.models import Sum

from analytics.selectors import (
    ATTRIBUTED_TENANT,
    COGS_CURRENCY,
    _cogs_lines,
    cogs_source,
    fx_conversion,
    margin_percent,
    usd_cents,
)
from arcadia_cloud.clock import utc_today
from arcadia_cloud.errors import NotFound, field_error
from catalog.models import PlanVersion, PlanVersionStatus, ResourcePrice
from catalog.selectors import active_version, version_get
from invoicing.invoices.rollup import inputs, pricing
from invoicing.models import InvoiceStatus
from invoicing.pricing_inputs import PricingInputs
from pricing.engine import QuoteInputError
from pricing.invoice import Month, PricingError
from pricing.tenant import TenantPrice


def draft_version_for_rerating(version_id: int) -> PlanVersion:
    """The draft to re-rate: 404 for an unknown id, 400 naming `version` for a published one."""
    version = version_get(version_id=version_id)
    if version.status != PlanVersionStatus.DRAFT:
        raise field_error(
            "version",
            f"{version.plan.code} v{version.number} is {version.status}; only a draft version is "
            "re-rated (published terms are what its subscribers already pay)",
        )
    return version


def version_rerate(*, version_id: int, period: object, today: dt.date | None = None) -> dict:
    """The month starting `period` (over, as for the rollup) re-rated under draft `version_id`.

    400 naming `version` (not a draft) or `period` (not a month's first day, not over yet);
    404 for an unknown version. No writes."""
    version = draft_version_for_rerating(version_id)
    month = inputs.billable_month(period, today=today or utc_today())
    current = active_version(version.plan.code)
    result: dict[str, Any] = {
        "version_id": version.pk,
        "plan_code": version.plan.code,
        "version_number": version.number,
        "replaces_version_number": current.number if current else None,
        "period": month.start,
        "period_end": month.end,
        "currency": version.currency,
        "tenants": [],
        "failed": [],
        "totals": [],
        "missing": [],
    }
    if current is None:
        result["missing"].append(
            f"{version.plan.code} has no active version: nobody is subscribed to the plan, so "
            "there is nobody to re-rate"
        )
        return result

    subjects = inputs.subjects_by_tenant(month, None)
    affected = sorted(
        tenant_id
        for tenant_id, found in subjects.items()
        if any(subject.plan_version_id == current.pk for subject in found)
    )
    if not affected:
        result["missing"].append(
            f"no subscription of {version.plan.code} v{current.number} was active in "
            f"{month.label}: nobody to re-rate"
        )
        return result

    loaded = pricing.load(
        month, subjects, affected, settled=True, reprice_as={current.pk: version.pk}
    )
    return _rerated(result, month, subjects, affected, loaded)


def _rerated(
    result: dict[str, Any],
    month: Month,
    subjects: dict,
    affected: list[str],
    loaded: PricingInputs,
) -> dict[str, Any]:
    """`result` with each affected tenant's got / would / COGS / margins and the totals: what
    they would be billed is priced from `loaded` (the changed terms), what they got is their
    invoice of the month (or, without one, the month priced as it stands)."""
    got_invoices = {
        tenant_id: invoice
        for tenant_id, invoice in inputs.existing_invoices(month, affected).items()
        if invoice.status != InvoiceStatus.VOID
    }
    would = _priced(loaded, affected)
    unbilled = [tenant_id for tenant_id in affected if tenant_id not in got_invoices]
    got_priced = _priced(pricing.load(month, subjects, unbilled, settled=True), unbilled)
    has_usage = any(
        item.usage or item.llm for item in loaded.subscriptions if item.subject.tenant_id in would
    )
    cogs = _cogs_by_tenant(month, affected)
    currencies = {p.currency for p in would.values() if isinstance(p, TenantPrice)}
    currencies |= {invoice.currency for invoice in got_invoices.values()}
    fx = {
        currency: fx_conversion(
            from_currency=COGS_CURRENCY, to_currency=currency, period=month.start
        )
        for currency in sorted(currencies)
    }

    totals: dict[str, dict[str, Any]] = {}
    for tenant_id in affected:
        priced = would[tenant_id]
        if not isinstance(priced, TenantPrice):
            result["failed"].append({"tenant_id": tenant_id, "reason": priced})
            continue
        got = _got(got_invoices.get(tenant_id), got_priced.get(tenant_id))
        if isinstance(got, str):
            result["failed"].append({"tenant_id": tenant_id, "reason": got})
            continue
        conversion = fx[priced.currency]
        cogs_usd = None if cogs is None else cogs[tenant_id]
        cogs_cents = None if cogs_usd is None else conversion.convert_cents(cogs_usd)
        row = {
            "tenant_id": tenant_id,
            "currency": priced.currency,
            "got": got,
            "would": _figures(priced.subtotal_cents, priced.tax_cents, priced.credit_cents),
            "cogs_usd_cents": None if cogs_usd is None else usd_cents(cogs_usd),
            "cogs_cents": cogs_cents,
            "margin_got_cents": _margin(got["subtotal_cents"], cogs_cents),
            "margin_would_cents": _margin(priced.subtotal_cents, cogs_cents),
            "warnings": list(priced.warnings),
        }
        row["margin_got_percent"] = margin_percent(row["margin_got_cents"], got["subtotal_cents"])
        row["margin_would_percent"] = margin_percent(
            row["margin_would_cents"], priced.subtotal_cents
        )
        result["tenants"].append(row)
        _add(totals.setdefault(priced.currency, _empty_total(priced.currency)), row)

    for total in totals.values():
        total["margin_got_percent"] = margin_percent(
            total["margin_got_cents"], total["got_subtotal_cents"]
        )
        total["margin_would_percent"] = margin_percent(
            total["margin_would_cents"], total["would_subtotal_cents"]
        )
    result["totals"] = [totals[currency] for currency in sorted(totals)]
    result["fx"] = [conversion.as_dict() for conversion in fx.values()]
    result["missing"].extend(_missing(month, has_usage, cogs, fx))
    return result


def pending_price_for_rerating(price_id: int, today: dt.date) -> ResourcePrice:
    """The pending resource price to re-rate: 404 for an unknown id, 400 naming `price` for
    one already in force (its effect is on the invoices already)."""
    price = ResourcePrice.objects.filter(pk=price_id).first()
    if price is None:
        raise NotFound(f"no resource price with id {price_id}")
    if price.effective_from <= today:
        raise field_error(
            "price",
            f"{price} is in force since {price.effective_from}; only a pending price change "
            "(one that starts after today) is re-rated",
        )
    return price


def price_change_rerate(*, price_id: int, period: object, today: dt.date | None = None) -> dict:
    """The month starting `period` (over) re-rated as if pending resource price `price_id` had
    been in force all month, in place of the prices of its kind, currency and size scope.

    Affected: the tenants with a subscription in the price's currency and usage of its kind in
    the month (the only usage a resource price prices; a plan whose item covers the kind is
    priced by the item, so their invoice may well be unchanged — shown, not hidden). Each one's
    whole invoice is priced through the rollup's pricing, so "would get" is what a forced
    rollup writes once the price applies to the month. 400 naming `price` (in force already)
    or `period`; 404 for an unknown price. No writes."""
    today = today or utc_today()
    price = pending_price_for_rerating(price_id, today)
    month = inputs.billable_month(period, today=today)
    kind = price.resource_kind
    result: dict[str, Any] = {
        "price_id": price.pk,
        "resource_kind": kind,
        "size_scope": price.size_scope,
        "price": str(price),
        "effective_from": price.effective_from,
        "period": month.start,
        "period_end": month.end,
        "currency": price.currency,
        "tenants": [],
        "failed": [],
        "totals": [],
        "missing": [],
    }
    subjects = inputs.subjects_by_tenant(month, None)
    loaded = pricing.load(month, subjects, sorted(subjects), settled=True, price_in_force=price)
    affected = sorted(
        {
            item.subject.tenant_id
            for item in loaded.subscriptions
            if item.currency == price.currency
            and (
                item.usage.get(kind)
                or any(sized.resource_kind == kind and sized.qty for sized in item.sized_usage)
            )
        }
    )
    if not affected:
        result["missing"].append(
            f"no subscription in {price.currency} used {kind} in {month.label}: nobody to re-rate"
        )
        return result
    return _rerated(result, month, subjects, affected, loaded)


def _priced(loaded, tenant_ids: list[str]) -> dict[str, TenantPrice | str]:
    """Each tenant priced by the rollup's `pricing.price`, or the reason it cannot be."""
    found: dict[str, TenantPrice | str] = {}
    for tenant_id in tenant_ids:
        try:
            found[tenant_id] = pricing.price(
                loaded,
                tenant_id,
                loaded.late.get(tenant_id, ()),
                loaded.credits.get(tenant_id, ()),
            )
        except (PricingError, QuoteInputError) as exc:
            found[tenant_id] = str(exc)
    return found


def _figures(subtotal: int, tax: int, credit: int, **extra: Any) -> dict[str, Any]:
    return {
        **extra,
        "subtotal_cents": subtotal,
        "tax_cents": tax,
        "total_cents": subtotal + tax,
        "credit_cents": credit,
    }


def _got(invoice, priced: TenantPrice | str | None) -> dict[str, Any] | str:
    """What the tenant got: its invoice, or (none yet) the month priced as it stands."""
    if invoice is not None:
        return _figures(
            invoice.subtotal_cents,
            invoice.tax_cents,
            invoice.credit_cents,
            source="invoice",
            invoice_id=invoice.pk,
            invoice_number=invoice.number,
            invoice_status=invoice.status,
        )
    if isinstance(priced, TenantPrice):
        return _figures(
            priced.subtotal_cents,
            priced.tax_cents,
            priced.credit_cents,
            source="priced",
            invoice_id=None,
            invoice_number=None,
            invoice_status=None,
        )
    return priced or "no invoice and nothing to price"


def _margin(revenue_cents: int, cogs_cents: int | None) -> int | None:
    return None if cogs_cents is None else revenue_cents - cogs_cents


def _empty_total(currency: str) -> dict[str, Any]:
    return {
        "currency": currency,
        "tenants": 0,
        "got_subtotal_cents": 0,
        "got_total_cents": 0,
        "would_subtotal_cents": 0,
        "would_total_cents": 0,
        "cogs_cents": 0,
        "margin_got_cents": 0,
        "margin_would_cents": 0,
    }


def _add(total: dict[str, Any], row: dict[str, Any]) -> None:
    total["tenants"] += 1
    total["got_subtotal_cents"] += row["got"]["subtotal_cents"]
    total["got_total_cents"] += row["got"]["total_cents"]
    total["would_subtotal_cents"] += row["would"]["subtotal_cents"]
    total["would_total_cents"] += row["would"]["total_cents"]
    for key in ("cogs_cents", "margin_got_cents", "margin_would_cents"):
        # One figure without COGS (no rate) makes the total unknown, not smaller.
        total[key] = None if total[key] is None or row[key] is None else total[key] + row[key]


def _cogs_by_tenant(month: Month, tenant_ids: list[str]) -> dict[str, Decimal] | None:
    """Exact USD COGS per tenant, attributed as the margin dashboard does (one query); a
    tenant no line is attributed to cost 0. None when the month has no cost line at all (its
    DigitalOcean invoice is not imported): then COGS is unknown, not 0."""
    lines = _cogs_lines(cogs_source(month.start))
    if not lines.exists():
        return None
    rows = dict(
        lines.annotate(attributed_tenant=ATTRIBUTED_TENANT)
        .filter(attributed_tenant__in=tenant_ids)
        .values_list("attributed_tenant")
        .annotate(usd=Sum("amount"))
    )
    return {tenant_id: rows.get(tenant_id, Decimal(0)) for tenant_id in tenant_ids}


def _missing(month: Month, has_usage: bool, cogs: dict[str, Decimal] | None, fx: dict) -> list[str]:
    missing = []
    if not has_usage:
        missing.append(
            f"no metered usage of the affected deployments in {month.label}: the re-rating "
            "prices their recurring charges only (is the month metered?)"
        )
    if cogs is None:
        missing.append(
            f"no DigitalOcean cost line for {month.label} (its invoice is not imported): COGS "
            "and margin are unknown"
        )
    for conversion in fx.values():
        if not conversion.available:
            missing.append(f"COGS and margin in {conversion.to_currency}: {conversion.reason}")
    return missing
