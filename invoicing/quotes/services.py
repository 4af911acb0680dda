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
from catalog.cache import CatalogCache
from catalog.selectors import (
    active_version_required,
    addon_terms,
    addons_for_plan_version,
    known_size_slugs,
    plan_terms,
)
from invoicing.pricing_inputs import load_pricing_inputs, with_projected_usage
from pricing.engine import Quote, QuoteInputError
from pricing.invoice import Month, PricingSubject, SubscriptionInputs, price_subscription

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
    projected_usage, by_size = _with_sizes(projected_usage, projected_usage_by_size or {})
    month = month_start(starts_on or today)
    codes = list(addon_codes)
    key = (plan_code, tuple(codes), starts_on, month)
    inputs = _CATALOG_INPUTS.get(key, lambda: _catalog_inputs(plan_code, codes, starts_on, month))
    try:
        projected = with_projected_usage(
            inputs,
            projected_usage,
            by_size,
            month=Month.of(month),
        )
        return price_subscription(projected, Month.of(month)).quote
    except QuoteInputError as exc:
        raise field_error(_api_field(exc.field), exc.message) from exc


# A quote's catalog side — the plan's active version, the add-ons checked against it and the
# month's prices, loaded as the invoice loads them — depends on nothing but the catalog and
# the key; it is kept while the catalog stands (catalog.cache). A refusal is never kept.
_CATALOG_INPUTS = CatalogCache()


def _catalog_inputs(
    plan_code: str, addon_codes: list[str], starts_on: dt.date | None, month: dt.date
) -> SubscriptionInputs:
    version = active_version_required(plan_code, field="plan_code")
    addons = addons_for_plan_version(version=version, codes=addon_codes, field="addons")
    subject = PricingSubject(
        tenant_id="",
        plan_version_id=version.pk,
        plan=plan_terms(version),
        addons=addon_terms(addons),
        started_on=starts_on,
    )
    (inputs,) = load_pricing_inputs([subject], month=month).subscriptions
    return inputs


def _with_sizes(
    usage: Mapping[str, Decimal], by_size: Mapping[str, Mapping[str, Decimal]]
) -> tuple[dict[str, Decimal], dict[str, dict[str, Decimal]]]:
    """The projected totals with each sized kind's total filled in from its sizes; a slug the
    synced price list does not know, or sizes that do not add up to the kind's given total, is
    a 400 naming `projected_usage_by_size.<kind>[.<slug>]`."""
    totals = dict(usage)
    if not by_size:
        return totals, {}
    known = set(known_size_slugs())
    for kind, sizes in by_size.items():
        for slug in sizes:
            if slug not in known:
                reason = (
                    "DigitalOcean's price list has not been synced yet: no size is known"
                    if not known
                    else f"{slug!r} is not a size DigitalOcean's price list has"
                )
                raise field_error(f"projected_usage_by_size.{kind}.{slug}", reason)
        added = sum(sizes.values(), Decimal(0))
        if kind in totals and totals[kind] != added:
            raise field_error(
                f"projected_usage_by_size.{kind}",
                f"the sizes add up to {added} but projected_usage.{kind} is {totals[kind]}; "
                "give one, or make them agree",
            )
        totals[kind] = added
    return totals, {kind: dict(sizes) for kind, sizes in by_size.items()}
