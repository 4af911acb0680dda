"""The one set of field checks (arcadia_cloud.validation): what each accepts and normalizes, and
that each refusal names the field, shows the value and says what is allowed."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from arcadia_cloud.validation import (
    FieldError,
    clean_cents,
    clean_choice,
    clean_currency,
    clean_date,
    clean_optional_text,
    clean_qty,
    clean_slug,
    clean_text,
)
from pricing.engine import QuoteInputError


def refusal(check, *args, **kwargs) -> FieldError:
    with pytest.raises(FieldError) as caught:
        check(*args, **kwargs)
    return caught.value


def test_a_field_error_names_its_field_and_renders_as_the_envelope_fields():
    error = FieldError("items[0].qty", "must not be negative, got -1")
    assert isinstance(error, ValueError)
    assert str(error) == "items[0].qty: must not be negative, got -1"
    assert error.fields == {"items[0].qty": ["must not be negative, got -1"]}
    assert error.code == "validation_error"
    assert FieldError("x", "y", code="too_late").code == "too_late"


def test_the_kernels_error_is_the_platforms_field_error():
    assert QuoteInputError is FieldError


def test_text_is_stripped_and_bounded():
    assert clean_text("name", "  Studio ") == "Studio"
    assert clean_text("region", "  ", required=False) == ""
    assert refusal(clean_text, "name", 7).message == "must be a string, got 7"
    assert refusal(clean_text, "name", "   ").message == "must not be blank"
    too_long = refusal(clean_text, "name", "x" * 201, max_length=200)
    assert (too_long.field, too_long.message) == ("name", "must be at most 200 characters, got 201")
    assert clean_optional_text("template", "") is None
    assert clean_optional_text("template", None) is None
    assert clean_optional_text("template", " v2 ") == "v2"


@pytest.mark.parametrize("bad", ["has space", "ünïcode", "new\nline", "semi;colon"])
def test_a_slug_is_letters_digits_dashes_and_underscores_only(bad):
    assert clean_slug("slug", "web-shop_2") == "web-shop_2"
    error = refusal(clean_slug, "slug", bad)
    assert error.field == "slug"
    assert "is not a slug; use letters, digits, '-' and '_' only" in error.message


def test_a_choice_lists_what_is_allowed():
    assert clean_choice("llm_mode", "byok", ["passthrough", "byok"]) == "byok"
    error = refusal(clean_choice, "llm_mode", "free", ["passthrough", "byok"])
    assert error.message == "'free' is not one of: passthrough, byok"
    assert refusal(clean_choice, "llm_mode", ["byok"], ["byok"]).field == "llm_mode"


@pytest.mark.parametrize("bad", ["aud", "AU", "AUDD", "AUD\n", "ÄÖÜ", 36, None])
def test_a_currency_is_three_upper_case_ascii_letters(bad):
    assert clean_currency("currency", "AUD") == "AUD"
    error = refusal(clean_currency, "currency", bad)
    assert error.message == (
        f"{bad!r} is not an ISO 4217 code; use three upper-case letters such as AUD"
    )


def test_cents_are_non_negative_whole_numbers_within_their_bound():
    assert clean_cents("price_cents", 0) == 0
    assert clean_cents("price_cents", 2**31 - 1, maximum=2**31 - 1) == 2**31 - 1
    cases = {
        True: "must be a whole number of cents, got True",
        Decimal("1.5"): "must be a whole number of cents, got Decimal('1.5')",
        "100": "must be a whole number of cents, got '100'",
        -1: "must not be negative, got -1",
    }
    for value, message in cases.items():
        assert refusal(clean_cents, "price_cents", value).message == message
    over = refusal(clean_cents, "price_cents", 2**31, maximum=2**31 - 1)
    assert over.message == f"must be at most {2**31 - 1} cents, got {2**31}"


def test_a_quantity_is_exact_finite_non_negative_and_fits_its_column():
    assert clean_qty("qty", "1.5") == Decimal("1.5")
    assert clean_qty("qty", 3) == Decimal(3)
    assert clean_qty("qty", " 2 ") == Decimal(2)
    assert clean_qty("qty", Decimal("0.000001"), places=6) == Decimal("0.000001")
    cases = [
        (0.5, {}, "0.5 is not an exact number; send a decimal string or an integer"),
        (True, {}, "True is not an exact number; send a decimal string or an integer"),
        ("abc", {}, "'abc' is not an exact number; send a decimal string or an integer"),
        ([1], {}, "[1] is not an exact number; send a decimal string or an integer"),
        ("NaN", {}, "'NaN' is not a finite number"),
        ("Infinity", {}, "'Infinity' is not a finite number"),
        ("-1", {}, "must not be negative, got -1"),
        ("0.0000001", {"places": 6}, "has more than 6 decimal places: 1E-7"),
        ("1E+14", {"integer_digits": 14}, "must be below 10^14, got 1E+14"),
        ("1E+15", {"maximum": Decimal("1e14")}, "must be at most 100,000,000,000,000, got 1E+15"),
    ]
    for value, bounds, message in cases:
        error = refusal(clean_qty, "usage[droplet_hours]", value, **bounds)
        assert (error.field, error.message) == ("usage[droplet_hours]", message)
    assert clean_qty("qty", "1E+15", maximum=Decimal("1e15")) == Decimal("1e15")


def test_a_date_is_a_calendar_day_not_a_time():
    day = dt.date(2026, 5, 20)
    assert clean_date("starts_on", day) is day
    for bad in (dt.datetime(2026, 5, 20, tzinfo=dt.UTC), "2026-05-20", None):
        error = refusal(clean_date, "starts_on", bad)
        assert error.message == f"must be a date (YYYY-MM-DD), got {bad!r}"
