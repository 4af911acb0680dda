"""Reads the rollup, live accrual and analytics build on: usage and LLM charges, in bulk."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from fractions import Fraction

import pytest

from invoicing.models import LLMUsageEvent, UsageRecord
from invoicing.usage.metering import meter_day
from invoicing.usage.selectors import (
    llm_charge_currencies,
    llm_charges_for_deployments,
    metering_settings,
    round_qty_exact,
    usage_for_deployments,
    usage_for_period,
)
from tests.deployments.factories import make_deployment
from tests.inventory.factories import make_resource
from tests.invoicing.factories import at

pytestmark = pytest.mark.django_db

MAY_1, MAY_31 = dt.date(2026, 5, 1), dt.date(2026, 5, 31)


def add_usage(deployment, kind: str, day: dt.date, numerator: str, denominator: int = 1, **kw):
    qty = round_qty_exact(Fraction(Decimal(numerator)) / denominator)
    return UsageRecord.objects.create(
        deployment=deployment,
        resource_kind=kind,
        period_start=at(day),
        qty=qty,
        qty_numerator=Decimal(numerator),
        qty_denominator=denominator,
        source=kw.pop("source", "manual"),
        **kw,
    )


def add_event(deployment, occurred_at: dt.datetime, charge: str, **overrides) -> LLMUsageEvent:
    fields = {
        "gateway_request_id": f"req-{LLMUsageEvent.objects.count() + 1}",
        "tenant_id": deployment.tenant_id,
        "model": "gpt-5",
        "input_tokens": 10,
        "output_tokens": 5,
        "charge": Decimal(charge),
        "currency": "AUD",
        "occurred_at": occurred_at,
        "billed_as": "passthrough",
        "payload_hash": "0" * 64,
    }
    fields.update(overrides)
    return LLMUsageEvent.objects.create(deployment=deployment, **fields)


def test_bulk_usage_equals_per_deployment_usage_in_one_query(django_assert_num_queries):
    deployments = [make_deployment() for _ in range(4)]
    for index, deployment in enumerate(deployments[:3]):
        for _ in range(index + 1):
            make_resource("droplet", deployment=deployment, status="active")
            make_resource("dns_zone", deployment=deployment)
            make_resource("volume", deployment=deployment, size_gb=str(10 * (index + 1)))
    for day in (dt.date(2026, 5, 30), MAY_31, dt.date(2026, 6, 1)):
        meter_day(day)
    ids = [deployment.pk for deployment in deployments]

    with django_assert_num_queries(1):
        bulk = usage_for_deployments(ids, MAY_1, MAY_31)

    assert bulk == {pk: usage_for_period(pk, MAY_1, MAY_31) for pk in ids}
    assert bulk[deployments[3].pk] == {}
    assert bulk[deployments[1].pk] == {
        "dns_zones": Decimal("0.129032"),  # 2 zones x 2 days ÷ 31
        "droplet_hours": Decimal("96.000000"),
        "volume_gb_month": Decimal("2.580645"),  # 2 x 20 GB x 2 days ÷ 31
    }


def test_the_day_range_is_inclusive_and_in_utc():
    deployment = make_deployment()
    for day in (dt.date(2026, 4, 30), MAY_1, MAY_31, dt.date(2026, 6, 1)):
        add_usage(deployment, "droplet_hours", day, "24")

    assert usage_for_period(deployment, MAY_1, MAY_31) == {"droplet_hours": Decimal(48)}
    assert usage_for_period(deployment, MAY_31, MAY_31) == {"droplet_hours": Decimal(24)}


def test_fractions_with_different_denominators_are_added_exactly():
    deployment = make_deployment()
    add_usage(deployment, "dns_zones", dt.date(2026, 4, 30), "1", 30)
    add_usage(deployment, "dns_zones", MAY_1, "1", 31)
    add_usage(deployment, "llm_tokens", MAY_1, "1500", source="llm_gateway")

    usage = usage_for_period(deployment, dt.date(2026, 4, 30), MAY_1)

    assert usage == {
        "dns_zones": Decimal("0.065591"),  # 1/30 + 1/31 = 0.0655913…
        "llm_tokens": Decimal("1500.000000"),
    }


def test_no_deployments_ask_nothing(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert usage_for_deployments([], MAY_1, MAY_31) == {}
        assert llm_charges_for_deployments([], MAY_1, MAY_31) == {}


def test_a_range_ending_before_it_starts_is_an_error():
    with pytest.raises(ValueError, match="before it starts"):
        usage_for_deployments([1], MAY_31, MAY_1)


@pytest.mark.parametrize(
    ("value", "rounded"),
    [
        (Fraction(20, 31), "0.645161"),
        (Fraction(480, 31), "15.483871"),
        (Fraction(1, 2_000_000), "0.000001"),  # exactly half: up
        (Fraction(1, 2_000_001), "0.000000"),
        (Fraction(0), "0.000000"),
    ],
)
def test_exact_quantities_round_half_up_once(value, rounded):
    assert str(round_qty_exact(value)) == rounded


def test_llm_charges_are_exact_unrounded_passthrough_sums_in_one_query(
    django_assert_num_queries,
):
    first, second, quiet = make_deployment(), make_deployment(), make_deployment()
    add_event(first, at(MAY_1), "0.00000001")
    add_event(first, at(MAY_31, 23, 59, 59), "0.12345678")
    add_event(first, at(dt.date(2026, 6, 1)), "5")  # next period
    add_event(first, at(MAY_1, 12), "7", billed_as="plan")  # metered as llm_tokens instead
    add_event(second, at(dt.date(2026, 5, 15)), "1.5")

    with django_assert_num_queries(1):
        charges = llm_charges_for_deployments([first.pk, second.pk, quiet.pk], MAY_1, MAY_31)

    assert charges == {first.pk: Decimal("0.12345679"), second.pk: Decimal("1.5")}
    assert llm_charge_currencies([first.pk, second.pk], MAY_1, MAY_31) == {
        first.pk: "AUD",
        second.pk: "AUD",
    }


def test_metering_settings_cover_every_kind_with_defaults_for_missing_rows():
    from invoicing.models import MeteringConfig

    MeteringConfig.objects.filter(billing_kind="llm_tokens").delete()
    MeteringConfig.objects.filter(billing_kind="droplet_hours").update(granularity="hourly")

    settings = metering_settings()

    assert settings["llm_tokens"].granularity == "daily"
    assert settings["droplet_hours"].granularity == "hourly"
    assert settings["llm_tokens"].retention_days == 400
