"""Currency conversion of COGS into the revenue currency (SPEC §14), pure: no ORM, no clock.

The one FX rule: the margin (analytics) and cost-plus prices (issue 18, the pricing loader)
both convert with it; it lives in the kernel so every floor can use it (`analytics.fx`
re-exports it).

The rule: the latest rate at or before the period is used, and reported with its period and
direction. A rate may be entered either way round: USD→AUD 1.52 multiplies, AUD→USD 0.658
divides; when both directions exist for the latest period, the one entered in the direction of
the conversion wins. With no rate at all the converted figure is None and `reason` says why:
two currencies are never added or compared.

Rounding: a caller sums EXACT USD (the Decimal DigitalOcean states) per figure it reports, and
converts each sum once; `convert_cents` rounds half-up to a cent once, from the exact product.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Any

from arcadia_cloud.money import CENTS_PER_UNIT, format_decimal, round_cents

# Division by an inverted rate is carried to 50 significant digits: far below a cent's
# half-way point for any amount and 8-place rate, so the one half-up rounding is exact.
_DIVISION_PRECISION = 50


@dataclass(frozen=True)
class RateRow:
    """One entered rate, as the lookup found it."""

    from_currency: str
    to_currency: str
    period: dt.date
    rate: Decimal


@dataclass(frozen=True)
class FxConversion:
    """How amounts in `from_currency` become `to_currency` cents for `period`, or why not."""

    from_currency: str
    to_currency: str
    period: dt.date
    rate_row: RateRow | None
    reason: str | None = None

    @property
    def available(self) -> bool:
        return self.is_identity or self.rate_row is not None

    @property
    def is_identity(self) -> bool:
        return self.from_currency == self.to_currency

    @property
    def inverted(self) -> bool:
        """True when the rate used was entered to→from and amounts are divided by it."""
        row = self.rate_row
        return row is not None and row.from_currency != self.from_currency

    def convert_exact_cents(self, exact_cents: Decimal) -> Decimal | None:
        """`exact_cents` of `from_currency` as EXACT `to_currency` cents (not rounded: a unit
        price of a cost-plus line, rounded once with the line); None when no rate."""
        if self.is_identity:
            return Decimal(exact_cents)
        row = self.rate_row
        if row is None:
            return None
        if not self.inverted:
            return Decimal(exact_cents) * row.rate
        with localcontext(prec=_DIVISION_PRECISION):
            return Decimal(exact_cents) / row.rate

    def convert_cents(self, amount: Decimal) -> int | None:
        """`amount` (exact, in `from_currency` units) as `to_currency` cents, half-up once;
        None when no rate is available."""
        exact_cents = Decimal(amount) * CENTS_PER_UNIT
        if self.is_identity:
            return round_cents(exact_cents)
        row = self.rate_row
        if row is None:
            return None
        if not self.inverted:
            return round_cents(exact_cents * row.rate)
        with localcontext(prec=_DIVISION_PRECISION):
            converted = exact_cents / row.rate
        return round_cents(converted)

    def describe(self) -> str:
        """One sentence for people: the rate used, or why figures are missing."""
        if self.is_identity:
            return f"COGS and revenue are both in {self.to_currency}: no conversion."
        row = self.rate_row
        if row is None:
            return self.reason or ""
        entered = (
            f"1 {row.from_currency} = {format_decimal(row.rate)} {row.to_currency}, "
            f"entered for {row.period:%Y-%m}"
        )
        if self.inverted:
            return (
                f"COGS converted {self.from_currency}→{self.to_currency} by dividing by the "
                f"{row.from_currency}→{row.to_currency} rate ({entered})."
            )
        return f"COGS converted {self.from_currency}→{self.to_currency} at {entered}."

    def as_dict(self) -> dict[str, Any]:
        row = self.rate_row
        return {
            "from_currency": self.from_currency,
            "to_currency": self.to_currency,
            "available": self.available,
            "rate": row.rate if row else (Decimal(1) if self.is_identity else None),
            "rate_period": row.period if row else None,
            "direction": f"{row.from_currency}→{row.to_currency}" if row else None,
            "inverted": self.inverted,
            "reason": self.reason,
            "note": self.describe(),
        }


def choose_conversion(
    *, from_currency: str, to_currency: str, period: dt.date, candidates: list[RateRow]
) -> FxConversion:
    """The conversion for `period` from the candidate rates of the pair (either direction,
    any period): the latest at or before `period`; at equal periods the direct direction."""
    if from_currency == to_currency:
        return FxConversion(from_currency, to_currency, period, None)
    usable = [
        row
        for row in candidates
        if row.period <= period
        and {row.from_currency, row.to_currency} == {from_currency, to_currency}
    ]
    if not usable:
        return FxConversion(
            from_currency,
            to_currency,
            period,
            None,
            reason=(
                f"no {from_currency}→{to_currency} rate at or before {period:%Y-%m} (nor an "
                f"{to_currency}→{from_currency} one): COGS cannot be converted, so margin "
                "figures are not shown. Enter one in the admin: Analytics, FX rates."
            ),
        )
    best = max(usable, key=lambda row: (row.period, row.from_currency == from_currency))
    return FxConversion(from_currency, to_currency, period, best)
