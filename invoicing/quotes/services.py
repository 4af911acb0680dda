"""The tenant's price preview: the catalog as it stands, through the one pricing path.

A quote imagines the subscription a signup would get — the plan's ACTIVE version, the live
add-ons it would snapshot, starting on `starts_on` — and prices it with the same loader and the
same pricer as the month-end invoice (`invoicing.pricing_inputs`, `pricing.invoice`), with the
projected usage in place of metered usage. So a quote for a start on day D prices what the
invoice for that month will charge (the price-date rule, docs/decisions.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal

from arcadia_cloud.errors import field_error
from arcadia_cloud.periods import month_start
from catalog.selectors import (
    active_version_required,
    addon_terms,
    addons_for_plan_version,
    plan_terms,
)
from invoicing.pricing_inputs import load_pricing_inputs, with_projected_usage
from pricing.engine import Quote, QuoteInputError
from pricing.invoice import Month, PricingSubject, price_subscription

# Engine field names → the API's (`usage[llm_tokens]` → `projected_usage.llm_tokens`).
_API_FIELD_PREFIXES = {
    "usage[": "projected_usage.",
    "starts_on": "starts_on",
    "ends_on": "starts_on",
}


def _api_field(engine_field: str) -> str:
    for prefix, replacement in _API_FIELD_PREFIXES.items():
        if engine_field.startswith(prefix):
            rest = engine_field[len(prefix) :].rstrip("]") if prefix.endswith("[") else ""
            return f"{replacement}{rest}"
    return engine_field


def quote_preview(
    *,
    plan_code: str,
    addon_codes: Sequence[str],
    projected_usage: Mapping[str, Decimal],
    starts_on: dt.date | None,
    today: dt.date,
    projected_usage_by_size: Mapping[str, Mapping[str, Decimal]] | None = None,
) -> Quote:
    """Price a plan the way a new signup would get it: its ACTIVE version and live add-on
    prices, for the month of `starts_on` from that day (without one, the current month in
    full), on the projected usage — and, for the kinds priced by size (issue 18), its split by
    size slug ({kind: {slug: qty}}), priced size by size as the invoice prices it."""
    version = active_version_required(plan_code, field="plan_code")
    addons = addons_for_plan_version(version=version, codes=list(addon_codes), field="addons")
    month = month_start(starts_on or today)
    subject = PricingSubject(
        tenant_id="",
        plan_version_id=version.pk,
        plan=plan_terms(version),
        addons=addon_terms(addons),
        started_on=starts_on,
    )
    (inputs,) = load_pricing_inputs([subject], month=month).subscriptions
    try:
        projected = with_projected_usage(
            inputs,
            projected_usage,
            {kind: dict(by_size) for kind, by_size in (projected_usage_by_size or {}).items()},
            month=Month.of(month),
        )
        return price_subscription(projected, Month.of(month)).quote
    except QuoteInputError as exc:
        raise field_error(_api_field(exc.field), exc.message) from exc
