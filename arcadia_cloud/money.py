"""Money helpers: integer cents in storage, Decimal everywhere else, one rounding rule.

Every rounding in the product is half-up to a whole cent and happens through `round_cents`,
at the place the spec names, once.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("1")
CENTS_PER_UNIT = 100  # cents in one unit of every currency the product bills (AUD, USD)
QTY_PLACES = Decimal("0.000001")
CHARGE_PLACES = Decimal("0.00000001")


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
    return round_cents(to_decimal(amount) * 100)


def cents_to_units(cents: int) -> Decimal:
    """Cents as currency units with two places, for display and exports."""
    return (Decimal(cents) / 100).quantize(Decimal("0.01"))


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
