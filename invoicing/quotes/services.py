"""The tenant's price preview: the catalog as it stands, through the one pricing path."""

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
    resource_price_terms,
)
from pricing.engine import Quote, QuoteInputError, quote

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
) -> Quote:
    """Price a plan the way a new signup would get it: its ACTIVE version, live add-on prices,
    the fallback resource prices in force on the start day (today when none is given)."""
    version = active_version_required(plan_code, field="plan_code")
    addons = addons_for_plan_version(version=version, codes=list(addon_codes), field="addons")
    plan = plan_terms(version)
    covered = {item.resource_kind for item in plan.items}
    priced_on = starts_on or today
    fallback = resource_price_terms(
        [kind for kind, qty in projected_usage.items() if kind not in covered and qty > 0],
        priced_on,
        currency=version.currency,
    )
    try:
        return quote(
            plan,
            addon_terms(addons),
            projected_usage,
            resource_prices=fallback,
            starts_on=starts_on,
            period_start=month_start(priced_on),
        )
    except QuoteInputError as exc:
        raise field_error(_api_field(exc.field), exc.message) from exc
