"""Margin for the month so far from DigitalOcean's daily costs, and the month-end reconciliation
of the daily costs against the invoice (issue 18 item 3). Figures hand-computed to the cent."""

from __future__ import annotations

import datetime as dt

import pytest

from analytics.selectors import (
    by_kind,
    cogs_reconciliation,
    cogs_source,
    live_accrual,
    margin_summary,
)
from tests.analytics.factories import (
    APRIL,
    cost_invoice,
    cost_line,
    line,
    make_rate,
    make_tenant_invoice,
    resource_for,
    subscribe,
    tax_cost_line,
)
from tests.billing.factories import make_daily_cost
from tests.conftest import TENANT_A, TENANT_B
from tests.deployments.factories import make_deployment

pytestmark = pytest.mark.django_db

BY_KIND = "/api/v1/dashboard/by-kind"
MARGIN = "/api/v1/dashboard/margin"
APRIL_1, APRIL_2, APRIL_3 = (dt.date(2026, 4, n) for n in (1, 2, 3))


@pytest.fixture
def month_so_far():
    """Three days of April's daily costs, no DigitalOcean invoice yet:
    - tenant-a's deployment `shop`: a droplet at 0.43 a day for 3 days = 1.29 USD;
    - tenant-a's own volume (no deployment): 1.005 a day for 2 days = 2.01 USD;
    - an unmatched droplet: 0.333 a day for 2 days = 0.666 USD (unattributed);
    - a tax row of 0.50 (never COGS).
    Revenue: tenant-a's April invoice, 50.00 AUD on `shop`. 1 USD = 1.5 AUD."""
    shop = make_deployment(tenant_id="tenant-a", slug="shop")
    droplet = resource_for(deployment=shop)
    volume = resource_for(tenant_id="tenant-a", kind="volume")
    for day in (APRIL_1, APRIL_2, APRIL_3):
        make_daily_cost(day, "0.43", resource=droplet)
    for day in (APRIL_1, APRIL_2):
        make_daily_cost(day, "1.005", resource=volume, kind="volume", product="Volumes")
        make_daily_cost(day, "0.333")
    make_daily_cost(APRIL_3, "0.50", kind="other", is_tax=True, match_code="tax")
    make_tenant_invoice("tenant-a", [line("plan_base", 5000, shop)])
    make_rate(APRIL, "1.5")
    return shop


def test_a_month_without_an_invoice_takes_its_cogs_from_the_daily_costs(month_so_far):
    summary = margin_summary(APRIL)

    assert summary["cogs_source"]["source"] == "daily"
    assert (summary["cogs_source"]["days"], summary["cogs_source"]["through"]) == (3, APRIL_3)
    assert "no DigitalOcean invoice for 2026-04 yet" in summary["cogs_source"]["reason"]
    [tenant] = summary["tenants"]
    # 1.29 + 2.01 = 3.30 USD = 4.95 AUD; margin 50.00 - 4.95 = 45.05 (90.10 %)
    assert (tenant["cogs_usd_cents"], tenant["cogs_cents"]) == (330, 495)
    assert (tenant["margin_cents"], str(tenant["margin_percent"])) == (4505, "90.10")
    [deployment] = summary["deployments"]
    # 1.29 USD = 1.935 AUD → 1.94; margin 48.06
    assert (deployment["slug"], deployment["cogs_usd_cents"]) == ("shop", 129)
    assert (deployment["cogs_cents"], deployment["margin_cents"]) == (194, 4806)
    # 0.666 USD → 0.67; 0.999 AUD → 1.00
    assert summary["unattributed"] == {
        "lines": 2,
        "currency": "AUD",
        "cogs_usd_cents": 67,
        "cogs_cents": 100,
    }
    # 3.966 USD overall → 3.97 USD, 5.949 AUD → 5.95; margin 44.05
    overall = summary["overall"]
    assert (overall["cogs_usd_cents"], overall["cogs_cents"], overall["margin_cents"]) == (
        397,
        595,
        4405,
    )


def test_by_kind_takes_the_daily_costs_too(month_so_far):
    kinds = by_kind(APRIL)
    assert kinds["cogs_source"]["source"] == "daily"
    rows = {row["kind"]: row for row in kinds["cogs"]}
    assert set(rows) == {"droplet", "volume"}  # the tax row is no COGS
    # droplets: 1.29 + 0.666 = 1.956 USD → 1.96; 2.934 AUD → 2.93. Volumes: 2.01 → 3.015 → 3.02
    assert (rows["droplet"]["cogs_usd_cents"], rows["droplet"]["cogs_cents"]) == (196, 293)
    assert (rows["droplet"]["lines"], rows["volume"]["lines"]) == (5, 2)
    assert (rows["volume"]["cogs_usd_cents"], rows["volume"]["cogs_cents"]) == (201, 302)


def test_once_the_invoice_is_in_it_is_the_truth(month_so_far):
    invoice = cost_invoice()
    cost_line(invoice, "1.30", resource=resource_for(deployment=month_so_far))
    tax_cost_line(invoice, "0.13")

    summary = margin_summary(APRIL)

    assert summary["cogs_source"] == {
        "source": "invoice",
        "days": 30,
        "through": None,
        "reason": "DigitalOcean's invoice for 2026-04",
    }
    assert summary["overall"]["cogs_usd_cents"] == 130  # the daily 3.97 are not added
    assert by_kind(APRIL)["cogs_source"]["source"] == "invoice"


def test_a_month_with_neither_says_so():
    source = cogs_source(dt.date(2026, 6, 1))
    assert (source.source, source.days, source.rows.count()) == ("none", 0, 0)
    assert margin_summary(dt.date(2026, 6, 1))["cogs_source"]["source"] == "none"


def test_the_reconciliation_shows_each_kinds_difference_to_the_cent(month_so_far):
    invoice = cost_invoice()
    cost_line(invoice, "1.30")
    cost_line(invoice, "0.70")
    cost_line(invoice, "2.00", kind="volume")
    cost_line(invoice, "5.00", kind="load_balancer")
    tax_cost_line(invoice, "0.90")

    report = cogs_reconciliation(APRIL)

    assert (report["status"], report["days_covered"], report["days_in_month"]) == (
        "reconciled",
        3,
        30,
    )
    by = {row["kind"]: row for row in report["kinds"]}
    # droplet: daily 1.956 → 1.96 against 2.00 invoiced: -0.04
    assert by["droplet"] == {
        "kind": "droplet",
        "daily_usd_cents": 196,
        "invoice_usd_cents": 200,
        "difference_usd_cents": -4,
    }
    # volume: 2.01 against 2.00: +0.01; load balancer: no daily cost, 5.00 invoiced
    assert (by["volume"]["difference_usd_cents"], by["load_balancer"]["daily_usd_cents"]) == (1, 0)
    assert by["load_balancer"]["difference_usd_cents"] == -500
    assert "other" not in by  # tax on neither side
    # 3.966 → 3.97 against 9.00 (tax excluded): -5.03
    assert report["total"] == {
        "daily_usd_cents": 397,
        "invoice_usd_cents": 900,
        "difference_usd_cents": -503,
    }


def test_a_reconciliation_without_an_invoice_has_no_invoice_figures(month_so_far):
    report = cogs_reconciliation(APRIL)
    assert report["status"] == "no_invoice"
    assert {row["invoice_usd_cents"] for row in report["kinds"]} == {None}
    assert report["total"]["daily_usd_cents"] == 397
    assert report["total"]["difference_usd_cents"] is None


def test_the_api_says_which_source_and_carries_the_reconciliation(month_so_far, admin_api):
    margin = admin_api.get(f"{MARGIN}?period=2026-04").json()
    assert margin["cogs_source"]["source"] == "daily"
    assert margin["cogs_source"]["through"] == "2026-04-03"
    assert margin["tenants"][0]["cogs_cents"] == 495

    kinds = admin_api.get(f"{BY_KIND}?period=2026-04").json()
    assert kinds["cogs_source"]["source"] == "daily"
    assert kinds["reconciliation"]["status"] == "no_invoice"
    assert kinds["reconciliation"]["total"]["daily_usd_cents"] == 397


def test_the_reconciliation_in_the_api_is_per_kind(month_so_far, admin_api):
    invoice = cost_invoice()
    cost_line(invoice, "2.00", kind="volume")
    kinds = admin_api.get(f"{BY_KIND}?period=2026-04").json()
    rows = {row["kind"]: row for row in kinds["reconciliation"]["kinds"]}
    assert rows["volume"]["difference_usd_cents"] == 1
    assert rows["droplet"] == {
        "kind": "droplet",
        "daily_usd_cents": 196,
        "invoice_usd_cents": 0,
        "difference_usd_cents": 196,
    }


def test_the_dashboard_says_which_source_its_cogs_come_from(month_so_far, admin_client):
    page = admin_client.get("/admin/analytics/margin/?period=2026-04").content.decode()
    note = page[page.index('id="cogs-source"') :]
    assert "COGS source: daily." in note
    assert "the daily costs of 3 day(s), through 2026-04-03" in note


def test_the_accrual_shows_the_month_so_fars_margin_from_the_daily_costs():
    """tenant-a accrues studio's 50.00 AUD; its deployment's droplet cost 0.43 USD on each of
    1 and 2 April = 0.86 USD = 1.29 AUD: margin 48.71. tenant-b accrues nothing and its volume
    cost 2 x 1.005 = 2.01 USD = 3.015 → 3.02 AUD: margin -3.02. 0.333 USD is nobody's."""
    studio = subscribe(TENANT_A, starts_on=APRIL, droplets=0)
    droplet = resource_for(deployment=studio.deployment)
    volume = resource_for(tenant_id=TENANT_B, kind="volume")
    for day in (APRIL_1, APRIL_2):
        make_daily_cost(day, "0.43", resource=droplet)
        make_daily_cost(day, "1.005", resource=volume, kind="volume")
    make_daily_cost(APRIL_2, "0.333")
    make_rate(APRIL, "1.5")

    accrual = live_accrual(today=APRIL_3)

    so_far = accrual["margin_to_date"]
    assert so_far["cogs_source"]["source"] == "daily"
    assert so_far["cogs_source"]["through"] == APRIL_2
    by_tenant = {row["tenant_id"]: row for row in so_far["tenants"]}
    a, b = by_tenant[TENANT_A], by_tenant[TENANT_B]
    assert (a["currency"], a["revenue_cents"], a["cogs_usd_cents"]) == ("AUD", 5000, 86)
    assert (a["cogs_cents"], a["margin_cents"], str(a["margin_percent"])) == (129, 4871, "97.42")
    assert (b["revenue_cents"], b["cogs_usd_cents"], b["cogs_cents"]) == (0, 201, 302)
    assert (b["margin_cents"], b["margin_percent"]) == (-302, None)
    assert so_far["unattributed"] == {"currency": "AUD", "cogs_usd_cents": 33, "cogs_cents": 50}
