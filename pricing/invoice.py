"""A month's invoice, priced from its inputs: the shapes, and one subscription.

The quote preview, the month-end rollup and live accrual all price through two functions, fed
by ONE loader (`invoicing.pricing_inputs.load_pricing_inputs`), so a quoted price, an accrued
price and an invoiced price cannot disagree:

- `price_subscription` (here) — the quote engine (`pricing.engine.quote`) on the subscription's
  terms, active days, usage and list prices, plus its passthrough LLM line;
- `pricing.tenant.price_tenant` — every subscription of the tenant, the late usage of its
  earlier invoiced months (`pricing.late`), then one tax line on the subtotal (`tax_line`).

Pure like the engine: plain dataclasses in, plain dataclasses out, no Django, no clock, no I/O.
A tenant that cannot be priced as its data stands raises `PricingError` with what to fix; every
caller reports it the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from fractions import Fraction
from typing import Any

from arcadia_cloud.money import CENTS_PER_UNIT, format_decimal, round_cents
from arcadia_cloud.periods import month_end
from pricing.engine import (
    AddonTerms,
    PlanTerms,
    Quote,
    QuoteLine,
    ResourcePriceTerms,
    SizeUsage,
    quote,
)

LINE_QTY_PLACES = Decimal("1E-9")  # an invoice line's qty holds 9 decimal places
LINE_LLM_USAGE = "llm_usage"
LINE_TAX = "tax"
LINE_CREDIT = "credit"  # credit of adjustment notes, after tax (`pricing.credit`)
LLM_RESOURCE_KIND = "llm_tokens"
TAX_UNIT = "rate"
RECURRING_LINE_KINDS = ("plan_base", "addon")
# The meta key that marks a line billing late usage of an earlier month (`pricing.late`).
LATE_USAGE = "late_usage"


class PricingError(Exception):
    """A subscription or tenant cannot be priced as its data stands; the message says what to
    fix. The rollup fails the tenant with it, live accrual reports it, a quote answers 400."""


@dataclass(frozen=True)
class Month:
    """A billed calendar month, both ends inclusive."""

    start: dt.date
    end: dt.date

    @classmethod
    def of(cls, start: dt.date) -> Month:
        return cls(start=start, end=month_end(start))

    @property
    def label(self) -> str:
        return f"{self.start:%Y-%m}"


@dataclass(frozen=True)
class TaxTerms:
    rate: Decimal
    label: str


@dataclass(frozen=True)
class LLMCharges:
    """A deployment's passthrough LLM charges: the exact sum (currency units) and currency."""

    total: Decimal
    currency: str


@dataclass(frozen=True)
class PricingSubject:
    """Who is priced: a subscription, or the one a quote imagines (no id, no deployment).

    `addons` None means the subscription's snapshotted add-ons (the loader reads them); a quote
    passes the live catalog add-ons it would attach, and the terms of the version it already
    read (`plan`; None: the loader reads them). `started_on` / `cancelled_on` are the
    subscription's own days, wherever they fall.
    """

    tenant_id: str
    plan_version_id: int
    subscription_id: int | None = None
    addons: tuple[AddonTerms, ...] | None = None
    plan: PlanTerms | None = None
    deployment_id: int | None = None
    deployment_slug: str = ""
    status: str = "active"
    started_on: dt.date | None = None
    cancelled_on: dt.date | None = None
    # Its first billable day when a trial delays it past `started_on` (None: `started_on`), and
    # whether it has segments (the loader reads them): issue 20.
    bills_from: dt.date | None = None
    segmented: bool = False


@dataclass(frozen=True)
class Segment:
    """The days of a month one segment of a subscription prices (both ends inclusive, inside
    the month): `index` of `count` segments in the month. A month's only segment keeps the
    whole allowance (`share` None); each of several gets the allowance times its days over the
    month's days."""

    index: int
    count: int
    first_day: dt.date
    last_day: dt.date
    days_in_month: int

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    @property
    def share(self) -> tuple[int, int] | None:
        return None if self.count == 1 else (self.days, self.days_in_month)

    def to_meta(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "count": self.count,
            "first_day": self.first_day.isoformat(),
            "last_day": self.last_day.isoformat(),
            "allowance_share": None if self.share is None else f"{self.days}/{self.days_in_month}",
        }


@dataclass(frozen=True)
class SubscriptionInputs:
    """Everything pricing one subscription's month needs, as the loader found it.

    `starts_on` / `ends_on` are its first and last active day when they fall inside the month
    (None otherwise); `prices_on` is the day whose list prices `resource_prices` holds (the
    price-date rule, docs/decisions.md).
    """

    subject: PricingSubject
    plan: PlanTerms
    addons: tuple[AddonTerms, ...]
    starts_on: dt.date | None
    ends_on: dt.date | None
    usage: Mapping[str, Decimal]
    llm: LLMCharges | None
    resource_prices: Mapping[str, ResourcePriceTerms | None]
    prices_on: dt.date
    segment: Segment | None = None
    # Issue 18: the usage of size-priced kinds split by size, each with its price (the loader's
    # `pricing_inputs`); the engine prices those kinds from it.
    sized_usage: tuple[SizeUsage, ...] = ()

    @property
    def currency(self) -> str:
        return self.plan.currency

    @property
    def label(self) -> str:
        return self.subject.deployment_slug or self.plan.plan_code


@dataclass(frozen=True)
class PricedLine(QuoteLine):
    """A line to persist: a quote line, plus what it bills (deployment, subscription)."""

    deployment_id: int | None = None
    subscription_id: int | None = None

    def __post_init__(self) -> None:
        if self.qty != self.qty.quantize(LINE_QTY_PLACES):
            raise PricingError(
                f"line {self.description!r}: qty {self.qty} has more than 9 decimal places"
            )

    @property
    def is_late(self) -> bool:
        return LATE_USAGE in self.meta


@dataclass(frozen=True)
class SubscriptionPrice:
    """One subscription's month: the engine's quote and the lines an invoice carries for it
    (prorated recurring, overage and list-priced usage, the passthrough LLM line)."""

    inputs: SubscriptionInputs
    quote: Quote
    lines: tuple[PricedLine, ...]
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class TenantPrice:
    """A tenant's invoice for the month, priced but not written; the tax line comes after the
    supplies, then any credit lines."""

    tenant_id: str
    currency: str
    lines: tuple[PricedLine, ...]
    subtotal_cents: int
    tax_cents: int
    subscription_ids: tuple[int, ...]
    warnings: tuple[str, ...] = field(default=())
    # Credit of adjustment notes applied after tax (`pricing.credit`), as a positive amount.
    credit_cents: int = 0

    @property
    def total_cents(self) -> int:
        return self.subtotal_cents + self.tax_cents

    @property
    def amount_due_cents(self) -> int:
        return self.total_cents - self.credit_cents

    def cents_by_part(self) -> dict[str, int]:
        """Subtotal split as live accrual reports it: recurring, usage, LLM, late usage."""
        parts = dict.fromkeys(("recurring", "usage", "llm", "late_usage"), 0)
        for line in self.lines:
            if line.kind in (LINE_TAX, LINE_CREDIT):
                continue
            if line.is_late:
                parts["late_usage"] += line.amount_cents
            elif line.kind in RECURRING_LINE_KINDS:
                parts["recurring"] += line.amount_cents
            elif line.kind == LINE_LLM_USAGE:
                parts["llm"] += line.amount_cents
            else:
                parts["usage"] += line.amount_cents
        return parts


# ---------------------------------------------------------------------------------------------
# One subscription
# ---------------------------------------------------------------------------------------------


def price_subscription(inputs: SubscriptionInputs, month: Month) -> SubscriptionPrice:
    """The subscription's month through the quote engine: its recurring lines prorated to its
    active days, overage and list-priced usage on the usage given, and its passthrough LLM
    charges summed exactly and rounded to a cent once.

    A paused subscription is priced like an active one: pausing stops usage, not the plan fee.
    LLM charges in another currency than the plan's are a PricingError: currencies are never
    added.
    """
    plan, addons = _segment_terms(inputs)
    priced = quote(
        plan,
        addons,
        inputs.usage,
        resource_prices=inputs.resource_prices,
        starts_on=inputs.starts_on,
        ends_on=inputs.ends_on,
        period_start=month.start,
        sized_usage=inputs.sized_usage,
    )
    subject = inputs.subject
    context = {
        "deployment": subject.deployment_slug,
        "subscription_id": subject.subscription_id,
        "subscription_status": subject.status,
        "usage_period": [month.start.isoformat(), month.end.isoformat()],
        "prices_on": inputs.prices_on.isoformat(),
    }
    lines = [
        _from_quote_line(line, subject, context)
        for line in (*priced.first_invoice.lines, *priced.overage.lines)
    ]
    llm_line = _llm_usage_line(inputs)
    if llm_line is not None:
        lines.append(llm_line)
    if inputs.segment is not None:
        lines = [_segment_line(line, inputs.segment) for line in lines]
    return SubscriptionPrice(
        inputs=inputs,
        quote=priced,
        lines=tuple(lines),
        warnings=tuple(f"{inputs.label}: {warning}" for warning in priced.warnings),
    )


# ---------------------------------------------------------------------------------------------
# Segments (issue 20): a month split by plan / add-on changes, each part priced on its own
# ---------------------------------------------------------------------------------------------

ALLOWANCE_PLACES = LINE_QTY_PLACES


def shared_allowance(qty: Decimal, share: tuple[int, int]) -> Decimal:
    """`qty` x days / days_in_month, exact when it has at most 9 decimal places (744 x 10/30 =
    248), else rounded half-up to 9 places (the precision of a line's qty)."""
    days, month_days = share
    exact = Fraction(qty) * days / month_days
    scaled = exact * 10**9
    if scaled.denominator == 1:
        return Decimal(scaled.numerator).scaleb(-9).normalize()
    return Decimal(int(scaled + Fraction(1, 2))).scaleb(-9).normalize()


def _segment_terms(inputs: SubscriptionInputs) -> tuple[PlanTerms, tuple[AddonTerms, ...]]:
    """The plan and add-ons a segment prices with: its allowances (plan items' and add-ons'
    quantities) times its share of the month when the month has several segments."""
    share = None if inputs.segment is None else inputs.segment.share
    if share is None:
        return inputs.plan, inputs.addons
    items = tuple(
        replace(item, included_qty=shared_allowance(item.included_qty, share))
        for item in inputs.plan.items
    )
    addons = tuple(
        replace(addon, qty=shared_allowance(addon.qty, share)) for addon in inputs.addons
    )
    return replace(inputs.plan, items=items), addons


def _segment_line(line: PricedLine, segment: Segment) -> PricedLine:
    """A line naming the segment it prices (meta `segment`); usage lines also say its days
    (recurring lines already do, from their proration)."""
    description = line.description
    if line.kind not in RECURRING_LINE_KINDS and segment.count > 1:
        description += f", {segment.first_day.day}-{segment.last_day.day} {segment.last_day:%B %Y}"
    meta = {**line.meta, "segment": segment.to_meta()}
    if "usage_period" in meta:
        meta["usage_period"] = [segment.first_day.isoformat(), segment.last_day.isoformat()]
    return replace(line, description=description, meta=meta)


def _from_quote_line(
    line: QuoteLine, subject: PricingSubject, context: dict[str, Any]
) -> PricedLine:
    return PricedLine(
        kind=line.kind,
        resource_kind=line.resource_kind,
        description=line.description,
        qty=line.qty,
        unit=line.unit,
        unit_price_cents=line.unit_price_cents,
        amount_cents=line.amount_cents,
        meta={**line.meta, **context},
        deployment_id=subject.deployment_id,
        subscription_id=subject.subscription_id,
    )


def passthrough_cents(exact: Decimal) -> tuple[Decimal, int]:
    """Exact passthrough charges (currency units) as (exact cents, cents rounded half-up once)."""
    exact_cents = exact * CENTS_PER_UNIT
    return exact_cents, round_cents(exact_cents)


def _llm_usage_line(inputs: SubscriptionInputs) -> PricedLine | None:
    """The passthrough LLM line: the month's exact charges (currency units, 8 places) summed,
    then rounded half-up to a cent ONCE — three charges of 0.004 make 1 cent, not 3 x 0."""
    if inputs.llm is None:
        return None
    subject = inputs.subject
    if inputs.llm.currency != inputs.currency:
        raise PricingError(
            f"deployment {inputs.label}'s LLM charges are in {inputs.llm.currency} but its plan "
            f"bills in {inputs.currency}; currencies are never mixed on an invoice"
        )
    exact = inputs.llm.total
    exact_cents, cents = passthrough_cents(exact)
    return PricedLine(
        kind=LINE_LLM_USAGE,
        resource_kind=LLM_RESOURCE_KIND,
        description="LLM usage (passthrough, at the gateway's prices)",
        qty=exact,
        unit=inputs.currency,
        unit_price_cents=CENTS_PER_UNIT,
        amount_cents=cents,
        meta={
            "deployment": subject.deployment_slug,
            "subscription_id": subject.subscription_id,
            "charges_total": format_decimal(exact),
            "charges_currency": inputs.llm.currency,
            "exact_cents": format_decimal(exact_cents),
            "rounding": "the period's exact charges summed, then rounded half-up to a cent once",
        },
        deployment_id=subject.deployment_id,
        subscription_id=subject.subscription_id,
    )


def tax_line(subtotal_cents: int, tax: TaxTerms) -> PricedLine:
    """One tenant-level tax line: rate x subtotal, rounded half-up to a cent once."""
    exact = Decimal(subtotal_cents) * tax.rate
    percent = format_decimal(tax.rate * 100)
    return PricedLine(
        kind=LINE_TAX,
        resource_kind=None,
        description=f"{tax.label} {percent}%",
        qty=tax.rate,
        unit=TAX_UNIT,
        unit_price_cents=subtotal_cents,
        amount_cents=round_cents(exact),
        meta={
            "label": tax.label,
            "rate": format_decimal(tax.rate),
            "subtotal_cents": subtotal_cents,
            "exact_cents": format_decimal(exact),
            "rounding": "rate x subtotal, rounded half-up to a cent once",
        },
    )
