"""The pricing advisor (issue 18 item 4): hand-computed figures, a losing tenant and why."""

from __future__ import annotations

from decimal import Decimal

import pytest

from analytics.advisor import pricing_advice, unit_price_for
from arcadia_cloud.validation import FieldError
from tests.analytics.factories import (
    APRIL,
    LONG_BEFORE_APRIL,
    cost_invoice,
    cost_line,
    make_rate,
    meter_month,
    roll_up,
    subscribe,
)
from tests.inventory.factories import make_resource

pytestmark = pytest.mark.django_db


@pytest.fixture
def april():
    """acme: studio, 5 active s-1vcpu-1gb droplets all April (3,600 h; 1,488 included, 2,112
    billed at 1c = 2112 cents), DigitalOcean USD 6.00 each. globex: studio, one m-24vcpu-192gb
    droplet OFF all month (0 h metered), DigitalOcean USD 1,008. 1 USD = 1.5 AUD."""
    acme = subscribe("acme", droplets=0)
    droplets = [
        make_resource(
            "droplet",
            deployment=acme.deployment,
            status="active",
            size_slug="s-1vcpu-1gb",
            first_seen_at=LONG_BEFORE_APRIL,
        )
        for _ in range(5)
    ]
    globex = subscribe("globex", droplets=0)
    big = make_resource(
        "droplet",
        name="warehouse",
        deployment=globex.deployment,
        status="off",
        size_slug="m-24vcpu-192gb",
        first_seen_at=LONG_BEFORE_APRIL,
    )
    meter_month()
    roll_up()
    invoice = cost_invoice()
    for droplet in droplets:
        cost_line(invoice, "6.00", resource=droplet)
    cost_line(invoice, "1008.00", resource=big)
    make_rate(APRIL, "1.5")
    return acme, globex, big


def test_break_even_and_target_prices_of_a_kind_by_hand(april):
    advice = pricing_advice(APRIL, target_margin="50")
    [droplets] = [row for row in advice["kinds"] if row["kind"] == "droplet_hours"]
    # 3,600 h metered (acme's; globex's droplet was off). COGS USD 1,038.00 -> AUD 1,557.00.
    assert droplets["units"] == Decimal("3600")
    assert (droplets["cogs_usd_cents"], droplets["cogs_cents"]) == (103800, 155700)
    assert droplets["revenue_cents"] == 2112
    assert droplets["cogs_per_unit_cents"] == Decimal("43.2500")  # 155700 / 3600
    assert droplets["revenue_per_unit_cents"] == Decimal("0.5867")
    assert droplets["margin_cents"] == 2112 - 155700
    # Break-even: ceil(155700 / 3600) = ceil(43.25) = 44c an hour; 50 %: ceil(86.5) = 87c.
    assert droplets["break_even_unit_price_cents"] == 44
    assert droplets["target_unit_price_cents"] == 87
    sizes = {row["size_slug"]: row for row in droplets["sizes"]}
    # The small size alone: AUD 45.00 over 3,600 h = 1.25c -> 2c break-even, 3c at 50 %.
    small = sizes["s-1vcpu-1gb"]
    assert (small["cogs_cents"], small["units"]) == (4500, Decimal("3600"))
    assert (small["break_even_unit_price_cents"], small["target_unit_price_cents"]) == (2, 3)
    # The off one: cost and no unit to charge it on.
    big = sizes["m-24vcpu-192gb"]
    assert (big["cogs_cents"], big["units"], big["break_even_unit_price_cents"]) == (
        151200,
        Decimal("0"),
        None,
    )
    assert advice["missing"] == []


def test_default_target_is_30_percent_and_break_even_is_target_0():
    assert unit_price_for(4500, Decimal(3600), Decimal(0)) == 2  # 1.25 -> 2
    assert unit_price_for(4500, Decimal(3600), Decimal(30)) == 2  # 1.7857 -> 2
    assert unit_price_for(100, Decimal(100), Decimal(0)) == 1  # exactly 1c: not rounded up
    assert unit_price_for(None, Decimal(100), Decimal(0)) is None
    assert unit_price_for(100, Decimal(0), Decimal(0)) is None


def test_a_losing_tenant_is_listed_with_its_resource_and_the_reason(april):
    _, globex, big = april
    advice = pricing_advice(APRIL)
    assert advice["target_margin_percent"] == Decimal(30)
    tenants = {row["tenant_id"]: row for row in advice["losing_tenants"]}
    # globex was billed 5000 + 500 tax (revenue 5000) against AUD 1,512.00 of COGS.
    assert tenants["globex"]["margin_cents"] == 5000 - 151200
    assert "acme" not in tenants  # 7112 against AUD 45.00 of COGS
    [deployment] = [row for row in advice["losing_deployments"] if row["tenant_id"] == "globex"]
    [resource] = deployment["resources"]
    assert resource["resource_id"] == big.pk
    assert resource["statuses"] == ["off"]
    assert resource["reason"] == (
        f"{globex.deployment.slug}, m-24vcpu-192gb, off all month: DigitalOcean billed "
        "USD 1,008, the tenant was billed 0 — off droplets are not billable under the "
        "metering config (billable: active)"
    )


@pytest.mark.parametrize("target", ["100", "-1", "abc", "12.345", "NaN"])
def test_a_bad_target_margin_is_refused_naming_it(target):
    with pytest.raises(FieldError) as refused:
        pricing_advice(APRIL, target_margin=target)
    assert refused.value.field == "target_margin"


def test_a_month_without_data_says_what_is_missing(db):
    advice = pricing_advice(APRIL)
    assert advice["kinds"] == []
    assert any("no DigitalOcean cost line" in reason for reason in advice["missing"])
    assert any("no metered usage" in reason for reason in advice["missing"])


def test_a_gpu_droplets_cost_counts_for_gpu_droplet_hours_by_its_size(db):
    """Its cost line says "droplet"; the matched resource bills as a GPU droplet."""
    tenant = subscribe("hooli", droplets=0)
    gpu = make_resource(
        "droplet",
        deployment=tenant.deployment,
        status="active",
        size_slug="gpu-h100x1-80gb",
        attrs={"gpu_count": 1},
        first_seen_at=LONG_BEFORE_APRIL,
    )
    meter_month()
    roll_up()
    cost_line(cost_invoice(), "2000.00", resource=gpu)
    make_rate(APRIL, "1.5")
    kinds = {row["kind"]: row for row in pricing_advice(APRIL)["kinds"]}
    assert "droplet_hours" not in kinds
    gpu_hours = kinds["gpu_droplet_hours"]
    # 720 h; AUD 3,000.00 -> 416.6667c an hour; break-even 417c.
    assert (gpu_hours["units"], gpu_hours["cogs_cents"]) == (Decimal("720"), 300000)
    assert gpu_hours["break_even_unit_price_cents"] == 417
    assert [size["size_slug"] for size in gpu_hours["sizes"]] == ["gpu-h100x1-80gb"]
