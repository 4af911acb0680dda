"""Field-level checks for catalog input, shared by the services, the admin forms and the API.

Each check returns the normalized value or raises `field_error(field, ...)`, so whoever calls it
answers 400 naming the exact field (`items[0].overage_unit`) and what is allowed there.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from arcadia_cloud.errors import field_error
from arcadia_cloud.money import to_decimal
from arcadia_cloud.parsing import column_range
from catalog.models import QTY_DIGITS, QTY_PLACES, Addon
from pricing import kinds as billing_kinds

_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
_CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,49}$")
_MAX_INTEGER_DIGITS = QTY_DIGITS - QTY_PLACES
# Every catalog price column is an int4 (2^31 - 1 cents: over AUD 21 million a unit).
_, MAX_PRICE_CENTS = column_range(Addon, "price_cents")


def unit_problem(kind: str, unit: str) -> str | None:
    """Why `unit` cannot price `kind`, or None when it can (either unknown → the typo)."""
    if not billing_kinds.is_billing_kind(kind):
        return (
            f"{kind!r} is not a billing kind; use one of: {', '.join(billing_kinds.BILLING_KINDS)}"
        )
    if unit not in billing_kinds.UNITS:
        return f"{unit!r} is not a unit; use one of: {', '.join(billing_kinds.UNITS)}"
    if not billing_kinds.units_compatible(kind, unit):
        allowed = " or ".join(billing_kinds.compatible_units(kind))
        return f"{unit!r} cannot price {kind}; use {allowed}"
    return None


def clean_code(value: object, field: str = "code") -> str:
    if not isinstance(value, str) or not _CODE_RE.match(value):
        raise field_error(
            field,
            f"{value!r} is not a code; use 1-50 lower-case letters, digits, '-' or '_'",
        )
    return value


def clean_text(value: object, field: str, *, max_length: int = 200) -> str:
    if not isinstance(value, str) or not value.strip():
        raise field_error(field, "must be a non-empty string")
    if len(value) > max_length:
        raise field_error(field, f"must be at most {max_length} characters")
    return value.strip()


def clean_currency(value: object, field: str = "currency") -> str:
    if not isinstance(value, str) or not _CURRENCY_RE.match(value):
        raise field_error(
            field, f"{value!r} is not an ISO 4217 code; use three upper-case letters such as AUD"
        )
    return value


def clean_cents(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise field_error(field, f"must be a whole number of cents, got {value!r}")
    if value < 0:
        raise field_error(field, f"must not be negative, got {value}")
    if value > MAX_PRICE_CENTS:
        raise field_error(field, f"must be at most {MAX_PRICE_CENTS} cents, got {value}")
    return value


def clean_qty(value: object, field: str) -> Decimal:
    """A non-negative exact quantity that fits its column (6 places) without rounding."""
    try:
        number = to_decimal(value)
    except (TypeError, ValueError):
        raise field_error(
            field, f"{value!r} is not an exact number; send a decimal string"
        ) from None
    if not number.is_finite():
        raise field_error(field, f"{value!r} is not a finite number")
    if number < 0:
        raise field_error(field, f"must not be negative, got {number}")
    exponent = number.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -QTY_PLACES:
        raise field_error(field, f"has more than {QTY_PLACES} decimal places: {number}")
    if number >= Decimal(10) ** _MAX_INTEGER_DIGITS:
        raise field_error(field, f"must be below 10^{_MAX_INTEGER_DIGITS}, got {number}")
    return number


def clean_kind(value: object, field: str) -> str:
    if not billing_kinds.is_billing_kind(value):
        kinds = ", ".join(billing_kinds.BILLING_KINDS)
        raise field_error(field, f"{value!r} is not a billing kind; use one of: {kinds}")
    return value  # type: ignore[return-value]


def clean_unit(kind: str, value: object, field: str) -> str:
    """A unit that can price `kind`; None means the kind's registry default."""
    if value is None:
        return billing_kinds.get_billing_kind(kind).overage_unit
    problem = unit_problem(kind, value) if isinstance(value, str) else f"{value!r} is not a unit"
    if problem:
        raise field_error(field, problem)
    return value  # type: ignore[return-value]


def clean_date(value: object, field: str) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    raise field_error(field, f"must be a date (YYYY-MM-DD), got {value!r}")
