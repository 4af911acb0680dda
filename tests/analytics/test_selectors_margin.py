"""margin_summary: revenue ex-tax of non-void invoices, COGS ex-tax attributed through the
matched resource, converted with the latest rate at or before the period (SPEC §14)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from analytics.selectors import margin_summary
from arcadia_cloud.validation import FieldError
from invoicing.models import TenantInvoice
from tests.analytics.factories import (
    APRIL,
    MARCH,
    MAY,
    build_example_4,
    cost_invoice,
    cost_line,
    line,
    make_rate,
    make_tenant_invoice,
    meter_month,
    resource_for,
    roll_up,
    tax_cost_line,
)
from tests.conftest import TENANT_A, TENANT_B
from tests.deployments.factories import make_deployment

pytestmark = pytest.mark.django_db

FEBRUARY = dt.date(2026, 2, 1)


def by_tenant(summary: dict) -> dict[str, dict]:
    return {row["tenant_id"]: row for row in summary["tenants"]}


def test_spec_example_4_through_the_rollup():
    """Studio without add-ons, 5 droplets all April: revenue 5000 + 2112 = 7112c ex-GST."""
    example = build_example_4(TENANT_A)
    meter_month()
    roll_up()
    do_invoice = cost_invoice()
    for droplet in example.droplets:
        cost_line(do_invoice, "6.00", resource=droplet)
    tax_cost_line(do_invoice, "3.00")
    make_rate(APRIL, "1.5")

    summary = margin_summary(APRIL)

    invoice = TenantInvoice.objects.get(tenant_id=TENANT_A, period_start=APRIL)
    assert (invoice.subtotal_cents, invoice.tax_cents) == (7112, 711)
    expected = {
        "currency": "AUD",
        "revenue_cents": 7112,
        "cogs_usd_cents": 3000,
        "cogs_cents": 4500,
        "margin_cents": 2612,
        "margin_percent": Decimal("36.73"),
    }
    assert summary["overall"] == {
        **expected,
        "revenue_by_currency": [{"currency": "AUD", "revenue_cents": 7112}],
        "unavailable_reason": None,
    }
    assert summary["tenants"] == [{"tenant_id": TENANT_A, **expected}]
    assert summary["deployments"] == [
        {
            "deployment_id": example.deployment.pk,
            "slug": example.deployment.slug,
            "tenant_id": TENANT_A,
            **expected,
        }
    ]
    assert summary["unattributed"] == {
        "lines": 0,
        "currency": "AUD",
        "cogs_usd_cents": 0,
        "cogs_cents": 0,
    }


def test_cogs_goes_to_the_deployments_tenant_then_the_resources_own_else_unattributed():
    deployment = make_deployment(tenant_id=TENANT_A)
    do_invoice = cost_invoice()
    # Attached to a deployment: the deployment's tenant wins over the resource's own.
    cost_line(do_invoice, "10.00", resource=resource_for(deployment=deployment, tenant_id="x"))
    cost_line(do_invoice, "4.00", resource=resource_for(tenant_id=TENANT_B))
    cost_line(do_invoice, "1.25", resource=resource_for())  # matched, but nobody's
    cost_line(do_invoice, "0.50", resource=resource_for(tenant_id=""))
    cost_line(do_invoice, "2.00")  # unmatched
    cost_line(do_invoice, "0.75", match_status="ambiguous", match_code="several_candidates")
    tax_cost_line(do_invoice, "1.85")
    cost_line(cost_invoice(MARCH), "99.00", resource=resource_for(tenant_id=TENANT_B))
    make_rate(APRIL, "2")

    summary = margin_summary(APRIL)

    tenants = by_tenant(summary)
    assert set(tenants) == {TENANT_A, TENANT_B}
    assert tenants[TENANT_A] == {
        "tenant_id": TENANT_A,
        "currency": "AUD",
        "revenue_cents": 0,
        "cogs_usd_cents": 1000,
        "cogs_cents": 2000,
        "margin_cents": -2000,
        "margin_percent": None,  # no revenue: no percentage
    }
    assert (tenants[TENANT_B]["cogs_usd_cents"], tenants[TENANT_B]["cogs_cents"]) == (400, 800)
    # Only resources attached to a deployment make deployment rows.
    assert [(row["deployment_id"], row["cogs_usd_cents"]) for row in summary["deployments"]] == [
        (deployment.pk, 1000)
    ]
    assert summary["unattributed"] == {
        "lines": 4,
        "currency": "AUD",
        "cogs_usd_cents": 450,
        "cogs_cents": 900,
    }
    # Unattributed COGS is part of the overall COGS; the tax line is in none of them.
    assert summary["overall"]["cogs_usd_cents"] == 1850
    assert summary["overall"]["cogs_cents"] == 3700
    assert summary["overall"]["margin_cents"] == -3700


def test_revenue_is_the_ex_tax_lines_of_the_periods_non_void_invoices():
    deployment_a = make_deployment(tenant_id=TENANT_A)
    deployment_c = make_deployment(tenant_id="tenant-c")
    make_tenant_invoice(
        TENANT_A,
        [
            line("plan_base", 5000, deployment_a),
            line("overage", 672, deployment_a, "droplet_hours"),
            line("usage", 300, None, "dns_zones"),  # a tenant-level line: the tenant's only
        ],
    )
    make_tenant_invoice(TENANT_B, [line("plan_base", 2000)], status="void")
    make_tenant_invoice("tenant-c", [line("plan_base", 12000, deployment_c)], status="issued")
    make_tenant_invoice(TENANT_A, [line("plan_base", 9999, deployment_a)], period=MARCH)
    make_rate(APRIL, "1.5")

    summary = margin_summary(APRIL)

    tenants = by_tenant(summary)
    assert set(tenants) == {TENANT_A, "tenant-c"}
    assert tenants[TENANT_A]["revenue_cents"] == 5972
    assert tenants["tenant-c"]["revenue_cents"] == 12000
    assert {row["deployment_id"]: row["revenue_cents"] for row in summary["deployments"]} == {
        deployment_a.pk: 5672,
        deployment_c.pk: 12000,
    }
    overall = summary["overall"]
    assert (overall["revenue_cents"], overall["cogs_cents"], overall["margin_cents"]) == (
        17972,
        0,
        17972,
    )
    assert overall["margin_percent"] == Decimal("100.00")


def _one_tenant_with_cogs(usd: str = "10.00") -> None:
    deployment = make_deployment(tenant_id=TENANT_A)
    make_tenant_invoice(TENANT_A, [line("plan_base", 5000, deployment)])
    cost_line(cost_invoice(), usd, resource=resource_for(deployment=deployment))


def test_the_latest_rate_at_or_before_the_period_is_used_and_reported():
    _one_tenant_with_cogs()
    make_rate(FEBRUARY, "1.4")
    make_rate(MAY, "1.6")  # after the period: not used

    summary = margin_summary(APRIL)

    assert summary["fx"] == [
        {
            "from_currency": "USD",
            "to_currency": "AUD",
            "available": True,
            "rate": Decimal("1.40000000"),
            "rate_period": FEBRUARY,
            "direction": "USD→AUD",
            "inverted": False,
            "reason": None,
            "note": "COGS converted USD→AUD at 1 USD = 1.4 AUD, entered for 2026-02.",
        }
    ]
    assert summary["overall"]["cogs_cents"] == 1400
    assert summary["overall"]["margin_cents"] == 3600


def test_without_a_rate_margin_figures_are_null_and_the_reason_is_given():
    _one_tenant_with_cogs()
    make_rate(MAY, "1.6")

    summary = margin_summary(APRIL)

    (fx,) = summary["fx"]
    assert fx["available"] is False
    assert fx["rate"] is None
    assert fx["reason"].startswith("no USD→AUD rate at or before 2026-04")
    overall = summary["overall"]
    assert overall["revenue_cents"] == 5000
    assert overall["cogs_usd_cents"] == 1000  # USD figures stay: only the conversion is missing
    assert (overall["cogs_cents"], overall["margin_cents"], overall["margin_percent"]) == (
        None,
        None,
        None,
    )
    assert overall["unavailable_reason"] == fx["reason"]
    for row in (*summary["tenants"], *summary["deployments"]):
        assert (row["cogs_cents"], row["margin_cents"], row["margin_percent"]) == (None,) * 3
    assert summary["unattributed"]["cogs_cents"] is None


def test_a_rate_entered_the_other_way_round_divides_and_says_so():
    _one_tenant_with_cogs()
    make_rate(APRIL, "0.625", from_currency="AUD", to_currency="USD")

    summary = margin_summary(APRIL)

    (fx,) = summary["fx"]
    assert (fx["direction"], fx["inverted"], fx["rate"]) == ("AUD→USD", True, Decimal("0.625"))
    assert "dividing" in fx["note"]
    assert summary["overall"]["cogs_cents"] == 1600  # 10.00 / 0.625


def test_the_direct_rate_wins_at_equal_periods_and_a_newer_inverse_beats_an_older_direct():
    _one_tenant_with_cogs()
    make_rate(MARCH, "1.5")
    make_rate(APRIL, "0.8", from_currency="AUD", to_currency="USD")
    assert margin_summary(APRIL)["overall"]["cogs_cents"] == 1250  # 10.00 / 0.8

    make_rate(APRIL, "1.7")
    assert margin_summary(APRIL)["overall"]["cogs_cents"] == 1700


def test_exact_usd_is_summed_per_figure_then_converted_and_rounded_half_up_once():
    deployment = make_deployment(tenant_id=TENANT_A)
    do_invoice = cost_invoice()
    for _ in range(3):  # 0.33 cents each: rounded per line they would vanish
        cost_line(do_invoice, "0.0033", resource=resource_for(deployment=deployment))
    cost_line(do_invoice, "0.0050", resource=resource_for(tenant_id=TENANT_B))  # exactly ½ cent
    make_rate(APRIL, "1")

    summary = margin_summary(APRIL)

    tenants = by_tenant(summary)
    assert (tenants[TENANT_A]["cogs_usd_cents"], tenants[TENANT_A]["cogs_cents"]) == (1, 1)
    assert (tenants[TENANT_B]["cogs_usd_cents"], tenants[TENANT_B]["cogs_cents"]) == (1, 1)
    assert summary["overall"]["cogs_cents"] == 1  # 0.0149 USD → 1.49c → 1c, once


def test_revenue_in_two_currencies_is_never_added():
    deployment_a = make_deployment(tenant_id=TENANT_A)
    deployment_b = make_deployment(tenant_id=TENANT_B)
    make_tenant_invoice(TENANT_A, [line("plan_base", 5000, deployment_a)])
    make_tenant_invoice(TENANT_B, [line("plan_base", 3000, deployment_b)], currency="NZD")
    do_invoice = cost_invoice()
    cost_line(do_invoice, "10.00", resource=resource_for(deployment=deployment_a))
    cost_line(do_invoice, "10.00", resource=resource_for(deployment=deployment_b))
    make_rate(APRIL, "1.5")
    make_rate(APRIL, "1.6", to_currency="NZD")

    summary = margin_summary(APRIL)

    assert summary["revenue_currencies"] == ["AUD", "NZD"]
    overall = summary["overall"]
    assert overall["revenue_by_currency"] == [
        {"currency": "AUD", "revenue_cents": 5000},
        {"currency": "NZD", "revenue_cents": 3000},
    ]
    assert overall["revenue_cents"] is None
    assert overall["margin_cents"] is None
    assert overall["cogs_usd_cents"] == 2000
    assert "2 currencies (AUD, NZD)" in overall["unavailable_reason"]
    tenants = by_tenant(summary)
    assert (tenants[TENANT_A]["currency"], tenants[TENANT_A]["margin_cents"]) == ("AUD", 3500)
    assert (tenants[TENANT_B]["currency"], tenants[TENANT_B]["margin_cents"]) == ("NZD", 1400)
    assert [fx["to_currency"] for fx in summary["fx"]] == ["AUD", "NZD"]


def test_an_empty_period_reports_zeros_in_the_plan_currency():
    make_rate(APRIL, "1.5")
    summary = margin_summary(APRIL)
    assert summary["tenants"] == summary["deployments"] == []
    assert summary["overall"]["currency"] == "AUD"
    assert (summary["overall"]["revenue_cents"], summary["overall"]["margin_cents"]) == (0, 0)
    assert summary["overall"]["margin_percent"] is None


@pytest.mark.parametrize("tenants", [2, 20])
def test_queries_do_not_grow_with_tenants(tenants, django_assert_max_num_queries):
    do_invoice = cost_invoice()
    for number in range(tenants):
        tenant_id = f"tenant-{number}"
        deployment = make_deployment(tenant_id=tenant_id)
        make_tenant_invoice(
            tenant_id,
            [line("plan_base", 5000, deployment), line("overage", 10, deployment, "bandwidth_gb")],
        )
        cost_line(do_invoice, "3.00", resource=resource_for(deployment=deployment))
        cost_line(do_invoice, "1.00", resource=resource_for(tenant_id=tenant_id))
    cost_line(do_invoice, "1.00")
    make_rate(APRIL, "1.5")

    with django_assert_max_num_queries(4):  # revenue, the COGS source, COGS, the rate
        summary = margin_summary(APRIL)

    assert len(summary["tenants"]) == len(summary["deployments"]) == tenants
    assert summary["overall"]["revenue_cents"] == 5010 * tenants


def test_a_period_is_named_by_its_first_day():
    with pytest.raises(FieldError) as raised:
        margin_summary(dt.date(2026, 4, 15))
    assert raised.value.fields == {
        "period": ["2026-04-15 is not the first day of a month; a period is named by it"]
    }
