"""The conversion rule, pure: which rate applies to a period and how amounts are rounded."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from analytics.fx import RateRow, choose_conversion

APRIL = dt.date(2026, 4, 1)


def row(period: str, rate: str, pair: str = "USD/AUD") -> RateRow:
    from_currency, to_currency = pair.split("/")
    return RateRow(from_currency, to_currency, dt.date.fromisoformat(period), Decimal(rate))


def conversion(*candidates: RateRow, to_currency: str = "AUD"):
    return choose_conversion(
        from_currency="USD", to_currency=to_currency, period=APRIL, candidates=list(candidates)
    )


def test_the_latest_rate_at_or_before_the_period_applies():
    fx = conversion(row("2026-01-01", "1.3"), row("2026-03-01", "1.5"), row("2026-05-01", "9"))
    assert fx.rate_row == row("2026-03-01", "1.5")
    assert fx.convert_cents(Decimal("10")) == 1500


def test_a_rate_of_another_pair_never_applies():
    fx = conversion(row("2026-04-01", "1.6", "USD/NZD"))
    assert not fx.available
    assert fx.convert_cents(Decimal("10")) is None
    assert fx.reason.startswith("no USD→AUD rate at or before 2026-04")


def test_conversion_rounds_half_up_once_from_the_exact_product():
    fx = conversion(row("2026-04-01", "1.5"))
    assert fx.convert_cents(Decimal("0.0033")) == 0  # 0.495c
    assert fx.convert_cents(Decimal("0.0099")) == 1  # 1.485c
    assert fx.convert_cents(Decimal("0.0167")) == 3  # 2.505c
    assert fx.convert_cents(Decimal("-0.0167")) == -3  # a credit rounds away from zero too


def test_an_inverted_rate_divides_exactly_before_the_one_rounding():
    fx = conversion(row("2026-04-01", "0.66666667", "AUD/USD"))
    assert fx.inverted
    # 100c / 0.66666667 = 149.99999925...c, rounded once.
    assert fx.convert_cents(Decimal("1")) == 150
    half = conversion(row("2026-04-01", "0.8", "AUD/USD"))
    assert half.convert_cents(Decimal("0.0001")) == 0  # 0.0125c
    assert half.convert_cents(Decimal("0.0020")) == 0  # 0.25c
    assert half.convert_cents(Decimal("0.0040")) == 1  # exactly 0.5c: half-up


def test_the_same_currency_needs_no_rate():
    fx = conversion(to_currency="USD")
    assert fx.available and fx.is_identity
    assert fx.convert_cents(Decimal("1.005")) == 101
    assert fx.as_dict()["rate"] == Decimal(1)
