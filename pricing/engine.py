"""The one pricing path (SPEC §10): plan terms, add-ons and usage in, priced lines out.

The tenant's price preview, the month-end rollup and live accrual all call `quote`, so a quoted
price and an invoiced price cannot disagree. The module is pure on purpose — no Django, no ORM,
no clock, no I/O: callers load the plan version, the snapshotted add-ons, the metered usage and
any fallback resource prices, and pass them in as the frozen dataclasses below.

Money rules: amounts are integer cents, quantities and rates are Decimal, and every rounding is
`round_cents` (half-up) applied once per line — never to a total.

Inputs are validated where they are built: a bad value raises `QuoteInputError` (the platform's
`FieldError`, a ValueError) naming the offending field, so an API answers 400 with it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from arcadia_cloud.money import format_decimal, round_cents
from arcadia_cloud.periods import days_in_month, month_end, month_start
from arcadia_cloud.validation import (
    FieldError,
    clean_cents,
    clean_currency,
    clean_date,
    clean_qty,
    clean_text,
)
from pricing import kinds as billing_kinds
from pricing import sizes
from pricing.kinds import UnknownBillingKindError, UnknownUnitError

LINE_PLAN_BASE = "plan_base"
LINE_ADDON = "addon"
LINE_OVERAGE = "overage"
LINE_USAGE = "usage"

# Recurring charges are billed per month; "month" is a line unit, not a usage unit, so it is
# deliberately absent from the billing-kind registry.
RECURRING_UNIT = "month"


# An input the quote engine cannot price, naming the field (e.g. `usage[llm_tokens]`): the
# platform's one field error, so the API answers it as a 400 naming that field.
QuoteInputError = FieldError


# ---------------------------------------------------------------------------------------------
# Input validation helpers: the shared checks (arcadia_cloud.validation), field first
# ---------------------------------------------------------------------------------------------

_quantity = clean_qty  # a non-negative, finite, exact quantity; floats are refused
_cents = clean_cents
_text = clean_text
_currency = clean_currency


def _billing_kind(field: str, code: str) -> billing_kinds.BillingKind:
    try:
        return billing_kinds.get_billing_kind(code)
    except UnknownBillingKindError as exc:
        raise QuoteInputError(field, str(exc)) from None


def _pricing_unit(field: str, kind: billing_kinds.BillingKind, unit: str) -> None:
    """Require a unit that exists and measures what `kind` measures."""
    try:
        compatible = billing_kinds.units_compatible(kind.code, unit)
    except UnknownUnitError as exc:
        raise QuoteInputError(field, str(exc)) from None
    if not compatible:
        allowed = " or ".join(billing_kinds.compatible_units(kind.code))
        raise QuoteInputError(field, f"{unit!r} cannot price {kind.code}; use {allowed}")


def _date(field: str, value: object) -> dt.date | None:
    """A billing day, or None (not given)."""
    return None if value is None else clean_date(field, value)


def _normalize(instance: object, name: str, value: object) -> None:
    """Store a validated, normalized value on a frozen dataclass during __post_init__."""
    object.__setattr__(instance, name, value)


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanItemTerms:
    """One plan item: what a plan includes of a billing kind and how it prices the rest."""

    resource_kind: str
    included_qty: Decimal
    overage_unit: str
    overage_price_cents: int
    hard_cap_qty: Decimal | None = None
    # Issue 18: the sizes the item covers (size scopes, `pricing.sizes`; () = every size) and
    # the most memory a covered size may have (None = any). Usage of other sizes is priced by
    # its size price, as if the plan had no item for the kind.
    size_scopes: tuple[str, ...] = ()
    max_memory_mb: int | None = None

    def __post_init__(self) -> None:
        field = f"items[{self.resource_kind}]"
        kind = _billing_kind(f"{field}.resource_kind", self.resource_kind)
        _normalize(self, "included_qty", _quantity(f"{field}.included_qty", self.included_qty))
        _pricing_unit(f"{field}.overage_unit", kind, self.overage_unit)
        _cents(f"{field}.overage_price_cents", self.overage_price_cents)
        if self.hard_cap_qty is not None:
            _normalize(self, "hard_cap_qty", _quantity(f"{field}.hard_cap_qty", self.hard_cap_qty))
        _normalize(self, "size_scopes", tuple(self.size_scopes))
        memory = self.max_memory_mb
        if memory is not None and (
            isinstance(memory, bool) or not isinstance(memory, int) or memory < 0
        ):
            raise QuoteInputError(f"{field}.max_memory_mb", f"must be whole MB, got {memory!r}")

    @property
    def size_limited(self) -> bool:
        return bool(self.size_scopes) or self.max_memory_mb is not None

    def covers(self, size_slug: str, memory_mb: int | None) -> bool:
        """Whether usage of `size_slug` counts against this item (its allowance and overage);
        a size of unknown memory is not covered by an item with a memory limit."""
        if self.size_scopes and not any(
            sizes.scope_matches(scope, size_slug) for scope in self.size_scopes
        ):
            return False
        if self.max_memory_mb is not None:
            return memory_mb is not None and memory_mb <= self.max_memory_mb
        return True


@dataclass(frozen=True)
class PlanTerms:
    """A plan version as the engine needs it: price, currency and items."""

    plan_code: str
    version: int
    currency: str
    base_price_cents: int
    items: tuple[PlanItemTerms, ...] = ()
    name: str = ""

    def __post_init__(self) -> None:
        _text("plan_code", self.plan_code)
        if isinstance(self.version, bool) or not isinstance(self.version, int) or self.version < 1:
            raise QuoteInputError("version", f"must be a positive integer, got {self.version!r}")
        _currency("currency", self.currency)
        _cents("base_price_cents", self.base_price_cents)
        items = tuple(self.items)
        seen: set[str] = set()
        for item in items:
            if not isinstance(item, PlanItemTerms):
                raise QuoteInputError("items", f"expected PlanItemTerms, got {item!r}")
            if item.resource_kind in seen:
                raise QuoteInputError(
                    f"items[{item.resource_kind}]", "a plan has at most one item per kind"
                )
            seen.add(item.resource_kind)
        _normalize(self, "items", items)

    @property
    def display_name(self) -> str:
        return self.name or self.plan_code


@dataclass(frozen=True)
class AddonTerms:
    """An add-on as attached: `qty` and `price_cents` are the values snapshotted at attach time,
    so a later catalog change never reprices an existing subscriber."""

    code: str
    name: str
    resource_kind: str
    qty: Decimal
    price_cents: int

    def __post_init__(self) -> None:
        field = f"addons[{self.code}]"
        _text(f"{field}.code", self.code)
        _billing_kind(f"{field}.resource_kind", self.resource_kind)
        _normalize(self, "qty", _quantity(f"{field}.qty", self.qty))
        _cents(f"{field}.price_cents", self.price_cents)

    @property
    def display_name(self) -> str:
        return self.name or self.code


@dataclass(frozen=True)
class ResourcePriceTerms:
    """The effective-dated fallback price of a billing kind no plan item covers."""

    resource_kind: str
    unit: str
    price_cents: int
    currency: str
    # Issue 18: the sizes it prices ("" every size) and, for a cost-plus price, the exact unit
    # price in cents the loader computed (DO list x (1 + markup) x FX; `price_cents` is then
    # that rounded, for display) with how (`basis`: JSON-safe pairs for the line's meta).
    size_scope: str = ""
    exact_price_cents: Decimal | None = None
    basis: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        field = f"resource_prices[{self.resource_kind}]"
        kind = _billing_kind(f"{field}.resource_kind", self.resource_kind)
        _pricing_unit(f"{field}.unit", kind, self.unit)
        _cents(f"{field}.price_cents", self.price_cents)
        _currency(f"{field}.currency", self.currency)
        exact = self.exact_price_cents
        if exact is not None and (
            not isinstance(exact, Decimal) or not exact.is_finite() or exact < 0
        ):
            raise QuoteInputError(
                f"{field}.exact_price_cents", f"must be a non-negative Decimal, got {exact!r}"
            )

    @property
    def unit_price(self) -> Decimal:
        """The exact price of one unit in cents (a cost-plus price's own, else price_cents)."""
        if self.exact_price_cents is None:
            return Decimal(self.price_cents)
        return self.exact_price_cents


@dataclass(frozen=True)
class SizeUsage:
    """Usage of one billing kind at one size slug ("" unknown) with the most specific price the
    loader found for that size (None: none), and the size's memory (for plan items limited to
    small sizes). Given for the kinds whose prices depend on size (issue 18)."""

    resource_kind: str
    size_slug: str
    qty: Decimal
    price: ResourcePriceTerms | None = None
    memory_mb: int | None = None
    # Why there is no price when one was expected (a cost-plus price with no FX rate or no
    # DigitalOcean list price): said in the unpriced line's warning.
    unpriced_reason: str = ""

    def __post_init__(self) -> None:
        field = f"sized_usage[{self.resource_kind}:{self.size_slug}]"
        _billing_kind(field, self.resource_kind)
        _normalize(self, "qty", _quantity(field, self.qty))
        if self.price is not None and not isinstance(self.price, ResourcePriceTerms):
            raise QuoteInputError(field, f"expected ResourcePriceTerms or None, got {self.price!r}")


# ---------------------------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuoteLine:
    """A priced line, uniform across kinds; invoice lines persist it near verbatim.

    `meta` holds JSON-safe values (Decimals as strings) that explain `amount_cents`.
    `resource_kind` is None only for the plan base price.
    """

    kind: str
    resource_kind: str | None
    description: str
    qty: Decimal
    unit: str
    unit_price_cents: int
    amount_cents: int
    meta: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "resource_kind": self.resource_kind,
            "description": self.description,
            "qty": format_decimal(self.qty),
            "unit": self.unit,
            "unit_price_cents": self.unit_price_cents,
            "amount_cents": self.amount_cents,
            "meta": _json_copy(self.meta),
        }


def _json_copy(value: Any) -> Any:
    """A copy of a JSON-shaped value (dicts, lists and tuples of scalars) that shares nothing
    mutable with it: `copy.deepcopy` without its memo and dispatch (a tenth of a quote's CPU)."""
    if isinstance(value, dict):
        return {key: _json_copy(each) for key, each in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_json_copy(each) for each in value)
    return value


def _total(lines: Iterable[QuoteLine]) -> int:
    return sum(line.amount_cents for line in lines)


@dataclass(frozen=True)
class Section:
    lines: tuple[QuoteLine, ...]
    total_cents: int

    @classmethod
    def of(cls, lines: Iterable[QuoteLine]) -> Section:
        lines = tuple(lines)
        return cls(lines=lines, total_cents=_total(lines))

    def to_dict(self) -> dict[str, Any]:
        return {"lines": [line.to_dict() for line in self.lines], "total_cents": self.total_cents}


@dataclass(frozen=True)
class ProratedSection:
    """The recurring lines for part of a month; `fraction` is "active_days/days_in_month"."""

    fraction: str
    lines: tuple[QuoteLine, ...]
    total_cents: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "fraction": self.fraction,
            "lines": [line.to_dict() for line in self.lines],
            "total_cents": self.total_cents,
        }


@dataclass(frozen=True)
class Quote:
    plan_code: str
    plan_version: int
    currency: str
    recurring: Section
    first_invoice: ProratedSection
    overage: Section
    all_in_monthly_cents: int
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The `POST /api/v1/quote` response body (SPEC §10), JSON-safe."""
        return {
            "plan_code": self.plan_code,
            "plan_version": self.plan_version,
            "currency": self.currency,
            "recurring": self.recurring.to_dict(),
            "first_invoice": self.first_invoice.to_dict(),
            "overage": self.overage.to_dict(),
            "all_in_monthly_cents": self.all_in_monthly_cents,
            "warnings": list(self.warnings),
        }


# ---------------------------------------------------------------------------------------------
# Proration
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ActiveSpan:
    """The active days of the month a first invoice covers; no days when no date is known."""

    first_day: dt.date | None
    last_day: dt.date | None
    active_days: int
    days_in_month: int

    @property
    def fraction(self) -> str:
        return f"{self.active_days}/{self.days_in_month}"

    @property
    def description(self) -> str:
        if self.first_day is None or self.last_day is None:
            return ""
        return f", {self.first_day.day}-{self.last_day.day} {self.last_day:%B %Y}"


# With no date at all the month is unknown: the first invoice is "one whole month", reported as
# 1/1 rather than guessing a month length from the clock (the engine never reads the clock).
_WHOLE_UNKNOWN_MONTH = _ActiveSpan(None, None, active_days=1, days_in_month=1)


def _active_span(
    starts_on: dt.date | None, ends_on: dt.date | None, period_start: dt.date | None
) -> _ActiveSpan:
    starts_on = _date("starts_on", starts_on)
    ends_on = _date("ends_on", ends_on)
    period_start = _date("period_start", period_start)
    if period_start is not None and period_start.day != 1:
        raise QuoteInputError(
            "period_start",
            f"{period_start} is not the first day of a month; a period is named by it",
        )
    anchor = period_start or starts_on or ends_on
    if anchor is None:
        return _WHOLE_UNKNOWN_MONTH
    month = month_start(anchor)
    for field, day in (("starts_on", starts_on), ("ends_on", ends_on)):
        if day is not None and month_start(day) != month:
            raise QuoteInputError(
                field, f"{day} is not in the billed month {month:%Y-%m}; both days must be in it"
            )
    first_day = starts_on or month
    last_day = ends_on or month_end(month)
    if last_day < first_day:
        raise QuoteInputError("ends_on", f"{last_day} is before starts_on {first_day}")
    return _ActiveSpan(
        first_day=first_day,
        last_day=last_day,
        active_days=(last_day - first_day).days + 1,
        days_in_month=days_in_month(month),
    )


def period_fraction(
    starts_on: dt.date | None, ends_on: dt.date | None, period_start: dt.date | None = None
) -> tuple[int, int]:
    """(active_days, days_in_month) of the month a first invoice covers, both ends inclusive.

    Start 20 May → (12, 31); start 20 May ending 25 May → (6, 31). The month is `period_start`
    (a first day), else the month of `starts_on`, else of `ends_on`; with no date at all it is
    one whole month of unknown length, (1, 1). Raises QuoteInputError for a day outside that
    month or an end before the start.
    """
    span = _active_span(starts_on, ends_on, period_start)
    return span.active_days, span.days_in_month


def _prorate(line: QuoteLine, span: _ActiveSpan) -> QuoteLine:
    """The line for the active part of the month, rounded half-up once.

    qty and unit price stay those of the whole month; meta records the fraction and the full
    amount so the prorated amount can be recomputed from the line alone.
    """
    full = line.amount_cents
    amount = round_cents(Decimal(full * span.active_days) / Decimal(span.days_in_month))
    meta = {
        **line.meta,
        "fraction": span.fraction,
        "active_days": span.active_days,
        "days_in_month": span.days_in_month,
        "full_amount_cents": full,
    }
    return replace(
        line, description=line.description + span.description, amount_cents=amount, meta=meta
    )


# ---------------------------------------------------------------------------------------------
# Recurring lines
# ---------------------------------------------------------------------------------------------


def _plan_base_line(plan: PlanTerms) -> QuoteLine:
    return QuoteLine(
        kind=LINE_PLAN_BASE,
        resource_kind=None,
        description=f"{plan.display_name} plan (version {plan.version})",
        qty=Decimal(1),
        unit=RECURRING_UNIT,
        unit_price_cents=plan.base_price_cents,
        amount_cents=plan.base_price_cents,
        meta={"plan_code": plan.plan_code, "plan_version": plan.version},
    )


def _addon_line(addon: AddonTerms) -> QuoteLine:
    return QuoteLine(
        kind=LINE_ADDON,
        resource_kind=addon.resource_kind,
        description=f"Add-on {addon.display_name}",
        qty=Decimal(1),
        unit=RECURRING_UNIT,
        unit_price_cents=addon.price_cents,
        amount_cents=addon.price_cents,
        meta={"addon_code": addon.code, "addon_qty": format_decimal(addon.qty)},
    )


def _recurring_lines(plan: PlanTerms, addons: tuple[AddonTerms, ...]) -> list[QuoteLine]:
    ordered = sorted(addons, key=lambda addon: (addon.code, addon.qty, addon.price_cents))
    return [_plan_base_line(plan), *(_addon_line(addon) for addon in ordered)]


# ---------------------------------------------------------------------------------------------
# Overage and usage lines
# ---------------------------------------------------------------------------------------------


def _validated_usage(usage: Mapping[str, object]) -> dict[str, Decimal]:
    if not isinstance(usage, Mapping):
        raise QuoteInputError(
            "usage", f"must be a mapping of billing kind to quantity, got {usage!r}"
        )
    validated: dict[str, Decimal] = {}
    for kind, qty in usage.items():
        _billing_kind(f"usage[{kind}]", kind)
        validated[kind] = _quantity(f"usage[{kind}]", qty)
    return validated


def _validated_sized(entries: Iterable[SizeUsage]) -> dict[str, tuple[SizeUsage, ...]]:
    by_kind: dict[str, list[SizeUsage]] = defaultdict(list)
    for entry in entries:
        if not isinstance(entry, SizeUsage):
            raise QuoteInputError("sized_usage", f"expected SizeUsage, got {entry!r}")
        by_kind[entry.resource_kind].append(entry)
    return {kind: tuple(found) for kind, found in by_kind.items()}


def _validated_addons(addons: Iterable[AddonTerms]) -> tuple[AddonTerms, ...]:
    addons = tuple(addons)
    for addon in addons:
        if not isinstance(addon, AddonTerms):
            raise QuoteInputError("addons", f"expected AddonTerms, got {addon!r}")
    return addons


def _overage_line(item: PlanItemTerms, used: Decimal, addons: list[AddonTerms]) -> QuoteLine | None:
    """The charge for usage above the allowance, or None when usage is within it."""
    addon_qty = sum((addon.qty for addon in addons), Decimal(0))
    allowance = item.included_qty + addon_qty
    billable = used if item.hard_cap_qty is None else min(used, item.hard_cap_qty)
    over = billable - allowance
    if over <= 0:
        return None
    units = billing_kinds.to_units(over, item.overage_unit)
    kind = billing_kinds.BILLING_KINDS[item.resource_kind]
    return QuoteLine(
        kind=LINE_OVERAGE,
        resource_kind=item.resource_kind,
        description=(
            f"{kind.label} beyond the {format_decimal(allowance)} "
            f"{billing_kinds.UNITS[kind.base_unit].label} allowance"
        ),
        qty=units,
        unit=item.overage_unit,
        unit_price_cents=item.overage_price_cents,
        amount_cents=round_cents(units * item.overage_price_cents),
        meta={
            "allowance": format_decimal(allowance),
            "included": format_decimal(item.included_qty),
            "addons": format_decimal(addon_qty),
            "addon_codes": sorted(addon.code for addon in addons),
            "used": format_decimal(used),
            "billable": format_decimal(billable),
            "over": format_decimal(over),
            "units": format_decimal(units),
            "unit_factor": format_decimal(billing_kinds.unit_factor(item.overage_unit)),
            "price_cents": item.overage_price_cents,
            "hard_cap": None if item.hard_cap_qty is None else format_decimal(item.hard_cap_qty),
        },
    )


def _resource_priced_line(
    kind_code: str, used: Decimal, price: ResourcePriceTerms, size_slug: str | None = None
) -> QuoteLine:
    """Usage of a kind the plan does not cover (or of a size its item does not cover), at the
    fallback price and with no allowance; a size price names the size."""
    units = billing_kinds.to_units(used, price.unit)
    kind = billing_kinds.BILLING_KINDS[kind_code]
    meta: dict[str, Any] = {
        "priced_by": "resource_price",
        "used": format_decimal(used),
        "units": format_decimal(units),
        "unit_factor": format_decimal(billing_kinds.unit_factor(price.unit)),
        "price_cents": price.price_cents,
    }
    description = f"{kind.label} (not in plan, at the list price)"
    if size_slug is not None:
        meta["size_slug"] = size_slug
        meta["price_scope"] = price.size_scope
        shown = size_slug or "unknown size"
        description = f"{kind.label}, {shown} (at the size price)"
    if price.exact_price_cents is not None:
        meta["priced_by"] = "cost_plus"
        meta["exact_price_cents"] = format_decimal(price.exact_price_cents)
        meta.update(dict(price.basis))
        meta["rounding"] = "units x exact unit price, rounded half-up to a cent once"
        description = description.replace("price)", "price: cost-plus)")
    return QuoteLine(
        kind=LINE_USAGE,
        resource_kind=kind_code,
        description=description,
        qty=units,
        unit=price.unit,
        unit_price_cents=price.price_cents,
        amount_cents=round_cents(units * price.unit_price),
        meta=meta,
    )


def _unpriced_line(kind_code: str, used: Decimal, size_slug: str | None = None) -> QuoteLine:
    """A zero line that keeps unpriced usage visible instead of dropping it."""
    kind = billing_kinds.BILLING_KINDS[kind_code]
    meta: dict[str, Any] = {"unpriced": True, "used": format_decimal(used)}
    label = kind.label
    if size_slug is not None:
        meta["size_slug"] = size_slug
        label = f"{kind.label}, {size_slug or 'unknown size'}"
    return QuoteLine(
        kind=LINE_USAGE,
        resource_kind=kind_code,
        description=f"{label} (not in plan and no list price: not charged)",
        qty=used,
        unit=kind.base_unit,
        unit_price_cents=0,
        amount_cents=0,
        meta=meta,
    )


def _fallback_price(
    kind_code: str, plan: PlanTerms, resource_prices: Mapping[str, ResourcePriceTerms | None]
) -> ResourcePriceTerms | None:
    return _checked_price(kind_code, plan, resource_prices.get(kind_code))


def _checked_price(
    kind_code: str, plan: PlanTerms, price: ResourcePriceTerms | None, field: str | None = None
) -> ResourcePriceTerms | None:
    if price is None:
        return None
    field = field or f"resource_prices[{kind_code}]"
    if not isinstance(price, ResourcePriceTerms):
        raise QuoteInputError(field, f"expected ResourcePriceTerms or None, got {price!r}")
    if price.resource_kind != kind_code:
        raise QuoteInputError(field, f"is the price of {price.resource_kind}, not of {kind_code}")
    if price.currency != plan.currency:
        raise QuoteInputError(
            field, f"is in {price.currency} but plan {plan.plan_code} bills in {plan.currency}"
        )
    return price


def _plan_item_lines(
    plan: PlanTerms,
    addons: tuple[AddonTerms, ...],
    usage: Mapping[str, Decimal],
    sized: Mapping[str, tuple[SizeUsage, ...]] | None = None,
) -> list[QuoteLine]:
    addons_by_kind: dict[str, list[AddonTerms]] = defaultdict(list)
    for addon in addons:
        addons_by_kind[addon.resource_kind].append(addon)
    sized = sized or {}
    lines = []
    for item in plan.items:
        used = usage.get(item.resource_kind, Decimal(0))
        covered_sizes: list[str] | None = None
        if item.resource_kind in sized:
            covered = [
                entry
                for entry in sized[item.resource_kind]
                if not item.size_limited or item.covers(entry.size_slug, entry.memory_mb)
            ]
            used = sum((entry.qty for entry in covered), Decimal(0))
            covered_sizes = sorted(entry.size_slug for entry in covered)
        line = _overage_line(item, used, addons_by_kind[item.resource_kind])
        if line is None:
            continue
        if item.size_limited:
            line = replace(
                line,
                meta={
                    **line.meta,
                    "size_scopes": list(item.size_scopes),
                    "max_memory_mb": item.max_memory_mb,
                    "covered_sizes": covered_sizes or [],
                },
            )
        lines.append(line)
    return lines


def _sized_lines(
    plan: PlanTerms, sized: Mapping[str, tuple[SizeUsage, ...]]
) -> tuple[list[QuoteLine], list[str]]:
    """Lines for usage by size the plan does not cover: the kinds without an item, and the
    sizes outside a size-limited item. Each size at its most specific price, or an unpriced
    zero line and a warning."""
    items = {item.resource_kind: item for item in plan.items}
    lines: list[QuoteLine] = []
    warnings: list[str] = []
    for kind_code in sorted(sized):
        item = items.get(kind_code)
        if item is not None and not item.size_limited:
            continue
        for entry in sorted(sized[kind_code], key=lambda found: found.size_slug):
            if entry.qty == 0:
                continue
            if item is not None and item.covers(entry.size_slug, entry.memory_mb):
                continue
            field = f"sized_usage[{kind_code}:{entry.size_slug}].price"
            price = _checked_price(kind_code, plan, entry.price, field)
            if price is not None:
                lines.append(_resource_priced_line(kind_code, entry.qty, price, entry.size_slug))
                continue
            lines.append(_unpriced_line(kind_code, entry.qty, entry.size_slug))
            why = entry.unpriced_reason or "it has no price for that size"
            warnings.append(
                f"{format_decimal(entry.qty)} {billing_kinds.BILLING_KINDS[kind_code].base_unit} "
                f"of {kind_code} at size {entry.size_slug or '(any)'} is not covered by plan "
                f"{plan.plan_code} v{plan.version} and {why}: shown as an unpriced zero line"
            )
    return lines, warnings


def _uncovered_usage_lines(
    plan: PlanTerms,
    usage: Mapping[str, Decimal],
    resource_prices: Mapping[str, ResourcePriceTerms | None],
    sized_kinds: Iterable[str] = (),
) -> tuple[list[QuoteLine], list[str]]:
    """Lines for usage of kinds the plan has no item for: list-priced, or unpriced and warned."""
    covered = {item.resource_kind for item in plan.items}
    lines: list[QuoteLine] = []
    warnings: list[str] = []
    for kind_code in sorted(set(usage) - covered - set(sized_kinds)):
        used = usage[kind_code]
        if used == 0:
            continue  # nothing to charge and nothing hidden: no line, as for usage within allowance
        price = _fallback_price(kind_code, plan, resource_prices)
        if price is not None:
            lines.append(_resource_priced_line(kind_code, used, price))
            continue
        lines.append(_unpriced_line(kind_code, used))
        warnings.append(
            f"{format_decimal(used)} {billing_kinds.BILLING_KINDS[kind_code].base_unit} of "
            f"{kind_code} is not covered by plan {plan.plan_code} v{plan.version} and has no "
            "list price: shown as an unpriced zero line"
        )
    return lines, warnings


def _ineffective_addon_warnings(plan: PlanTerms, addons: tuple[AddonTerms, ...]) -> list[str]:
    """Add-ons whose kind the plan has no item for: SPEC §10 gives such usage no allowance, so
    the add-on is charged but reduces nothing. Said out loud rather than silently."""
    covered = {item.resource_kind for item in plan.items}
    return [
        f"add-on {addon.code} adds {format_decimal(addon.qty)} {addon.resource_kind} but plan "
        f"{plan.plan_code} v{plan.version} has no {addon.resource_kind} item: "
        "it does not reduce any charge"
        for addon in sorted(addons, key=lambda addon: addon.code)
        if addon.resource_kind not in covered
    ]


# ---------------------------------------------------------------------------------------------
# The engine
# ---------------------------------------------------------------------------------------------


def quote(
    plan: PlanTerms,
    addons: Iterable[AddonTerms],
    usage: Mapping[str, Decimal],
    *,
    resource_prices: Mapping[str, ResourcePriceTerms | None] | None = None,
    starts_on: dt.date | None = None,
    ends_on: dt.date | None = None,
    period_start: dt.date | None = None,
    sized_usage: Iterable[SizeUsage] = (),
) -> Quote:
    """Price a month of `plan` with `addons` and `usage` (billing kind → qty in base units).

    - `resource_prices`: the fallback price of each usage kind the plan does not cover, as the
      caller found it (`None` when no price exists; the line is then an unpriced zero line and a
      warning, never dropped).
    - `starts_on` / `ends_on`: the first and last active day (both inclusive) inside the billed
      month, for the first_invoice proration; a quote passes only `starts_on`, the rollup passes
      either for a start or cancellation inside the period. `period_start` names the month when
      neither day does (default: the month of `starts_on`, else of `ends_on`).
    - `sized_usage`: for the kinds whose price depends on size, their usage split by size slug,
      each with its most specific price (issue 18); such a kind is priced from these entries,
      not from `usage`: per size, and against a plan item only for the sizes it covers.

    Raises QuoteInputError (a ValueError naming the field) for anything it cannot price.
    """
    if not isinstance(plan, PlanTerms):
        raise QuoteInputError("plan", f"expected PlanTerms, got {plan!r}")
    addons = _validated_addons(addons)
    usage_qty = _validated_usage(usage)
    span = _active_span(starts_on, ends_on, period_start)

    recurring = Section.of(_recurring_lines(plan, addons))
    prorated = tuple(_prorate(line, span) for line in recurring.lines)
    sized = _validated_sized(sized_usage)
    uncovered_lines, warnings = _uncovered_usage_lines(
        plan, usage_qty, resource_prices or {}, sized
    )
    sized_lines, sized_warnings = _sized_lines(plan, sized)
    warnings.extend(sized_warnings)
    overage = Section.of(
        sorted(
            [*_plan_item_lines(plan, addons, usage_qty, sized), *uncovered_lines, *sized_lines],
            key=lambda line: (line.resource_kind or "", str(line.meta.get("size_slug", ""))),
        )
    )

    return Quote(
        plan_code=plan.plan_code,
        plan_version=plan.version,
        currency=plan.currency,
        recurring=recurring,
        first_invoice=ProratedSection(
            fraction=span.fraction, lines=prorated, total_cents=_total(prorated)
        ),
        overage=overage,
        all_in_monthly_cents=recurring.total_cents + overage.total_cents,
        warnings=(*warnings, *_ineffective_addon_warnings(plan, addons)),
    )
