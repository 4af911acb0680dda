"""Money helpers: integer cents in storage, Decimal everywhere else, one rounding rule.

Every rounding in the product is half-up to a whole cent and happens through `round_cents`,
at the place the spec names, once.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

# The product's money and quantity constants, defined here once (docs/CONVENTIONS.md).
CENTS_PER_UNIT = 100  # cents in one unit of every currency billed (AUD, USD)
CENT = Decimal("1")  # the quantum `round_cents` rounds to: amounts are counted in cents
# Quantities (usage, plan items, add-ons): numeric(20, 6).
QTY_MAX_DIGITS = 20
QTY_DECIMAL_PLACES = 6
QTY_PLACES = Decimal(10) ** -QTY_DECIMAL_PLACES
# LLM charges as the gateway prices them: numeric(20, 8).
CHARGE_DECIMAL_PLACES = 8
CHARGE_PLACES = Decimal(10) ** -CHARGE_DECIMAL_PLACES
# Invoice line quantities: numeric(20, 9) (a 6-place token count divided by 1000).
LINE_QTY_DECIMAL_PLACES = 9
LINE_QTY_PLACES = Decimal(10) ** -LINE_QTY_DECIMAL_PLACES


def to_decimal(value: object) -> Decimal:
    """Exact Decimal from an int, str or Decimal. Floats are refused: they are not money."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, (bool, float)):
        raise TypeError(
            f"refusing {type(value).__name__} {value!r}: money and quantities are Decimal"
        )
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        try:
            return Decimal(value.strip())
        except InvalidOperation as exc:
            raise ValueError(f"not a decimal number: {value!r}") from exc
    raise TypeError(f"cannot make a Decimal from {type(value).__name__}")


def round_cents(amount: Decimal) -> int:
    """Round a Decimal amount of cents half-up to a whole cent."""
    return int(to_decimal(amount).quantize(CENT, rounding=ROUND_HALF_UP))


def dollars_to_cents(amount: Decimal) -> int:
    """A currency-unit amount (e.g. USD 12.345) to cents, half-up."""
    return round_cents(to_decimal(amount) * CENTS_PER_UNIT)


def cents_to_units(cents: int) -> Decimal:
    """Cents as currency units with two places, for display and exports."""
    return (Decimal(cents) / CENTS_PER_UNIT).quantize(Decimal(1) / CENTS_PER_UNIT)


def quantize_qty(qty: Decimal) -> Decimal:
    """A usage quantity at the 6 decimal places it is stored with (half-up)."""
    return to_decimal(qty).quantize(QTY_PLACES, rounding=ROUND_HALF_UP)


def format_decimal(value: Decimal) -> str:
    """A Decimal as a plain JSON-safe string: no exponent, no trailing zeros ("150", "0.5").

    Quantities read back from the database carry their column's places ("150.000000"); API
    bodies and invoice-line explanations show the number, not the storage format.
    """
    number = to_decimal(value)
    if not number.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    if number.is_zero():
        return "0"  # also for -0 and 0E-6, which a subtraction or the database can produce
    return format(number.normalize(), "f")
