"""fx_rate_save: what operators enter, validated field by field and stamped with who did it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from analytics.models import FxRate
from analytics.services import fx_rate_save

pytestmark = pytest.mark.django_db

APRIL = dt.date(2026, 4, 1)


def rate(**overrides) -> FxRate:
    values = {"from_currency": "USD", "to_currency": "AUD", "period": APRIL, "rate": Decimal("1.5")}
    values.update(overrides)
    return FxRate(**values)


def test_saving_records_who_entered_the_rate_and_when():
    saved = fx_rate_save(fx_rate=rate(), actor="admin:olivia")
    first_entered_at = saved.entered_at

    saved.rate = Decimal("1.52")
    fx_rate_save(fx_rate=saved, actor="admin:finn")

    saved.refresh_from_db()
    assert (saved.rate, saved.entered_by) == (Decimal("1.52000000"), "admin:finn")
    assert saved.entered_at > first_entered_at


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"period": dt.date(2026, 4, 15)}, "period", "not the first day of a month"),
        ({"rate": Decimal(0)}, "rate", "must be greater than 0"),
        ({"rate": Decimal("-1.5")}, "rate", "must be greater than 0"),
        ({"from_currency": "usd"}, "from_currency", "not an ISO 4217 code"),
        ({"to_currency": "USD"}, "to_currency", "must differ"),
    ],
)
def test_bad_figures_are_refused_naming_the_field(overrides, field, message):
    with pytest.raises(ValidationError) as raised:
        fx_rate_save(fx_rate=rate(**overrides), actor="admin:olivia")
    assert message in " ".join(raised.value.message_dict[field])
    assert not FxRate.objects.exists()


def test_one_rate_per_pair_and_period():
    fx_rate_save(fx_rate=rate(), actor="admin:olivia")
    with pytest.raises(ValidationError) as raised:
        fx_rate_save(fx_rate=rate(rate=Decimal("1.6")), actor="admin:olivia")
    assert "__all__" in raised.value.message_dict
    fx_rate_save(fx_rate=rate(from_currency="AUD", to_currency="USD"), actor="admin:olivia")


def test_the_database_refuses_what_the_service_would():
    with pytest.raises(IntegrityError, match='"fx_rate_positive"'):
        FxRate.objects.create(from_currency="USD", to_currency="AUD", period=APRIL, rate=Decimal(0))
