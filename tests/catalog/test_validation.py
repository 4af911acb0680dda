"""The catalog's own field rules (catalog/validation.py) on top of the shared checks."""

from __future__ import annotations

import pytest

from arcadia_cloud.parsing import column_range
from arcadia_cloud.validation import FieldError
from catalog.models import Addon, PlanItem, PlanVersion, ResourcePrice
from catalog.services import addon_create, plan_create
from catalog.validation import MAX_PRICE_CENTS, clean_code, clean_unit


@pytest.mark.parametrize(
    ("model", "column"),
    [
        (PlanVersion, "base_price_cents"),
        (PlanItem, "overage_price_cents"),
        (Addon, "price_cents"),
        (ResourcePrice, "price_cents"),
    ],
)
def test_the_price_bound_is_what_every_catalog_price_column_holds(model, column):
    assert column_range(model, column)[1] == MAX_PRICE_CENTS


@pytest.mark.parametrize("bad", ["Studio", "-studio", "x" * 51, "studio\n", "", 7])
def test_a_code_is_lower_case_letters_digits_dashes_and_underscores(bad):
    assert clean_code("code", "studio_2-b") == "studio_2-b"
    with pytest.raises(FieldError) as caught:
        clean_code("code", bad)
    assert caught.value.field == "code"
    assert caught.value.message == (
        f"{bad!r} is not a code; use 1-50 lower-case letters, digits, '-' or '_'"
    )


def test_a_unit_must_price_its_kind_and_defaults_to_the_registrys():
    assert clean_unit("unit", None, kind="droplet_hours") == "hour"
    with pytest.raises(FieldError) as caught:
        clean_unit("items[0].overage_unit", "gb_month", kind="droplet_hours")
    assert caught.value.field == "items[0].overage_unit"
    assert caught.value.message == "'gb_month' cannot price droplet_hours; use hour"


@pytest.mark.django_db
def test_a_trailing_newline_is_refused_naming_the_field_not_left_to_the_database():
    """`^…$` matches before a trailing newline, so `AUD\\n` passed the old check and reached
    the varchar(3) column (a DataError, a 500): the checks match the whole value."""
    with pytest.raises(FieldError) as caught:
        addon_create(
            code="storage_1tb",
            name="Storage",
            resource_kind="spaces_gb_month",
            qty="1000",
            price_cents=100,
            currency="AUD\n",
        )
    assert caught.value.field == "currency"
    with pytest.raises(FieldError) as caught:
        plan_create(code="studio\n", name="Studio")
    assert caught.value.field == "code"
    assert not Addon.objects.exists()
