"""The catalog's own field rules — codes, billing kinds and the units that price them, its
columns' bounds — on top of the shared checks in `arcadia_cloud.validation`.

Each check takes the field, then the value, and returns the normalized value or raises
`FieldError`, so whoever calls it answers 400 naming the exact field (`items[0].overage_unit`)
and what is allowed there. It reads no model (catalog.models calls `unit_problem`).
"""

from __future__ import annotations

import re
from decimal import Decimal

from arcadia_cloud.money import QTY_DECIMAL_PLACES, QTY_MAX_DIGITS
from arcadia_cloud.validation import FieldError, clean_cents, clean_qty
from pricing import kinds as billing_kinds

_CODE_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,49}")
QTY_INTEGER_DIGITS = QTY_MAX_DIGITS - QTY_DECIMAL_PLACES
# Every catalog price column is an int4 (2^31 - 1 cents: over AUD 21 million a unit);
# tests/catalog/test_validation.py holds this to the columns.
MAX_PRICE_CENTS = 2**31 - 1


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


def clean_code(field: str, value: object) -> str:
    if not isinstance(value, str) or not _CODE_RE.fullmatch(value):
        raise FieldError(
            field,
            f"{value!r} is not a code; use 1-50 lower-case letters, digits, '-' or '_'",
        )
    return value


def clean_price_cents(field: str, value: object) -> int:
    """A catalog price: whole cents, non-negative, within its int4 column."""
    return clean_cents(field, value, maximum=MAX_PRICE_CENTS)


def clean_catalog_qty(field: str, value: object) -> Decimal:
    """A non-negative exact quantity that fits its column (6 places) without rounding."""
    return clean_qty(field, value, places=QTY_DECIMAL_PLACES, integer_digits=QTY_INTEGER_DIGITS)


def clean_kind(field: str, value: object) -> str:
    if not billing_kinds.is_billing_kind(value):
        kinds = ", ".join(billing_kinds.BILLING_KINDS)
        raise FieldError(field, f"{value!r} is not a billing kind; use one of: {kinds}")
    return value  # type: ignore[return-value]


def clean_unit(field: str, value: object, *, kind: str) -> str:
    """A unit that can price `kind`; None means the kind's registry default."""
    if value is None:
        return billing_kinds.get_billing_kind(kind).overage_unit
    problem = unit_problem(kind, value) if isinstance(value, str) else f"{value!r} is not a unit"
    if problem:
        raise FieldError(field, problem)
    return value  # type: ignore[return-value]
