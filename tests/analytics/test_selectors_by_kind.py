"""by_kind: revenue by billing kind and COGS by DigitalOcean kind, as two separate lists."""

from __future__ import annotations

import pytest

from analytics.selectors import by_kind
from tests.analytics.factories import (
    APRIL,
    MARCH,
    cost_invoice,
    cost_line,
    line,
    make_rate,
    make_tenant_invoice,
    resource_for,
    tax_cost_line,
)
from tests.conftest import TENANT_A, TENANT_B
from tests.deployments.factories import make_deployment

pytestmark = pytest.mark.django_db


def _april_invoices() -> None:
    deployment = make_deployment(tenant_id=TENANT_A)
    make_tenant_invoice(
        TENANT_A,
        [
            line("plan_base", 5000, deployment),
            line("addon", 750, deployment, "spaces_gb_month"),  # recurring: under "addon"
            line("overage", 672, deployment, "droplet_hours"),
            line("overage", 100, deployment, "spaces_gb_month"),
            line("usage", 300, deployment, "volume_gb_month"),
            line("llm_usage", 42, deployment, "llm_tokens"),  # passthrough: under "llm_usage"
        ],
    )
    make_tenant_invoice(TENANT_B, [line("plan_base", 2000)], status="void")
    make_tenant_invoice(TENANT_B, [line("plan_base", 2000)], period=MARCH)
    do_invoice = cost_invoice()
    cost_line(do_invoice, "30.00", resource=resource_for(deployment=deployment))
    cost_line(do_invoice, "2.5", kind="snapshot")
    cost_line(do_invoice, "1.25", kind="snapshot")
    cost_line(do_invoice, "5.00", kind="spaces_bucket")
    tax_cost_line(do_invoice, "3.88")


def test_revenue_by_billing_kind_and_cogs_by_do_kind():
    _april_invoices()
    make_rate(APRIL, "1.5")

    result = by_kind(APRIL)

    assert [(r["kind"], r["revenue_cents"], r["lines"]) for r in result["revenue"]] == [
        ("plan_base", 5000, 1),
        ("addon", 750, 1),
        ("droplet_hours", 672, 1),
        ("volume_gb_month", 300, 1),
        ("spaces_gb_month", 100, 1),
        ("llm_usage", 42, 1),
    ]
    assert {row["currency"] for row in result["revenue"]} == {"AUD"}
    assert result["cogs"] == [
        {
            "kind": "droplet",
            "currency": "AUD",
            "cogs_usd_cents": 3000,
            "cogs_cents": 4500,
            "lines": 1,
        },
        {
            "kind": "spaces_bucket",
            "currency": "AUD",
            "cogs_usd_cents": 500,
            "cogs_cents": 750,
            "lines": 1,
        },
        # Summed exactly before converting: 3.75 USD x 1.5 = 562.5c → 563c.
        {
            "kind": "snapshot",
            "currency": "AUD",
            "cogs_usd_cents": 375,
            "cogs_cents": 563,
            "lines": 2,
        },
    ]
    assert result["fx"]["rate_period"] == APRIL


def test_without_a_rate_cogs_keeps_its_usd_figures_only():
    _april_invoices()

    result = by_kind(APRIL)

    assert result["fx"]["available"] is False
    assert all(row["cogs_cents"] is None for row in result["cogs"])
    assert sum(row["cogs_usd_cents"] for row in result["cogs"]) == 3875


@pytest.mark.parametrize("tenants", [2, 20])
def test_queries_do_not_grow_with_tenants(tenants, django_assert_max_num_queries):
    do_invoice = cost_invoice()
    for number in range(tenants):
        deployment = make_deployment(tenant_id=f"tenant-{number}")
        make_tenant_invoice(
            f"tenant-{number}",
            [line("plan_base", 5000, deployment), line("overage", 7, deployment, "bandwidth_gb")],
        )
        cost_line(do_invoice, "3.00", resource=resource_for(deployment=deployment))
    make_rate(APRIL, "1.5")

    with django_assert_max_num_queries(4):  # revenue, the COGS source, COGS, the rate
        result = by_kind(APRIL)

    assert [row["revenue_cents"] for row in result["revenue"]] == [5000 * tenants, 7 * tenants]
