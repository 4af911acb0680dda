"""Field checks, the one set: each returns the normalized value or raises `FieldError`.

Pure on purpose (no Django): the pricing kernel validates its inputs with the same checks the
services and the APIs use. A `FieldError` names the field by its path (`items[0].qty`), shows
the value it got and says what is allowed; the API's exception handler answers it as a 400
`{"error": {"code": "validation_error", "message": "<field>: <message>", "fields": {<field>:
[<message>]}}}` (arcadia_cloud/errors.py), so services and the kernel raise it directly.

Every check takes the field first, then the value: `clean_text("name", name, max_length=200)`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection
from decimal import Decimal

from arcadia_cloud.money import to_decimal

VALIDATION_ERROR = "validation_error"
_SLUG_RE = re.compile(r"[-a-zA-Z0-9_]+")
_CURRENCY_RE = re.compile(r"[A-Z]{3}")


class FieldError(ValueError):
    """Bad input naming one field: `field` (a path), `message` (what is wrong and what is
    allowed), `code` (the envelope's code); `str()` is "<field>: <message>"."""

    def __init__(self, field: str, message: str, *, code: str = VALIDATION_ERROR) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.code = code

    @property
    def fields(self) -> dict[str, list[str]]:
        """The envelope's `fields`: this one field and its message."""
        return {self.field: [self.message]}


def clean_text(
    field: str, value: object, *, max_length: int | None = None, required: bool = True
) -> str:
    """A string, stripped; blank only when not `required`; at most `max_length` characters."""
    if not isinstance(value, str):
        raise FieldError(field, f"must be a string, got {value!r}")
    value = value.strip()
    if required and not value:
        raise FieldError(field, "must not be blank")
    if max_length is not None and len(value) > max_length:
        raise FieldError(field, f"must be at most {max_length} characters, got {len(value)}")
    return value


def clean_optional_text(field: str, value: object, *, max_length: int | None = None) -> str | None:
    """None for a missing or empty value, otherwise `clean_text`."""
    if value is None or value == "":
        return None
    return clean_text(field, value, max_length=max_length)


def clean_slug(field: str, value: object, *, max_length: int | None = None) -> str:
    """Letters, digits, '-' and '_' (Django's slug)."""
    slug = clean_text(field, value, max_length=max_length)
    if not _SLUG_RE.fullmatch(slug):
        raise FieldError(field, f"{slug!r} is not a slug; use letters, digits, '-' and '_' only")
    return slug


def clean_choice(field: str, value: object, allowed: Collection[str]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise FieldError(field, f"{value!r} is not one of: {', '.join(allowed)}")
    return value


def clean_currency(field: str, value: object) -> str:
    """An ISO 4217 code: three upper-case ASCII letters."""
    if not isinstance(value, str) or not _CURRENCY_RE.fullmatch(value):
        raise FieldError(
            field, f"{value!r} is not an ISO 4217 code; use three upper-case letters such as AUD"
        )
    return value


def clean_cents(field: str, value: object, *, maximum: int | None = None) -> int:
    """A non-negative whole number of cents (an int, never a bool), at most `maximum`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError(field, f"must be a whole number of cents, got {value!r}")
    if value < 0:
        raise FieldError(field, f"must not be negative, got {value}")
    if maximum is not None and value > maximum:
        raise FieldError(field, f"must be at most {maximum} cents, got {value}")
    return value


def clean_qty(
    field: str,
    value: object,
    *,
    places: int | None = None,
    integer_digits: int | None = None,
    maximum: Decimal | None = None,
) -> Decimal:
    """A non-negative, finite, exact quantity (floats are refused: they are not exact).

    `places` and `integer_digits` bound it to a decimal column (refused, never rounded);
    `maximum` bounds it inclusively.
    """
    try:
        number = to_decimal(value)
    except (TypeError, ValueError):
        raise FieldError(
            field, f"{value!r} is not an exact number; send a decimal string or an integer"
        ) from None
    if not number.is_finite():
        raise FieldError(field, f"{value!r} is not a finite number")
    if number < 0:
        raise FieldError(field, f"must not be negative, got {number}")
    if places is not None:
        exponent = number.normalize().as_tuple().exponent
        if isinstance(exponent, int) and exponent < -places:
            raise FieldError(field, f"has more than {places} decimal places: {number}")
    if integer_digits is not None and number >= Decimal(10) ** integer_digits:
        raise FieldError(field, f"must be below 10^{integer_digits}, got {number}")
    if maximum is not None and number > maximum:
        raise FieldError(field, f"must be at most {maximum:,f}, got {number}")
    return number


def clean_date(field: str, value: object) -> dt.date:
    """A calendar day (a datetime is refused: a time of day has no meaning for a billing day)."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    raise FieldError(field, f"must be a date (YYYY-MM-DD), got {value!r}")
