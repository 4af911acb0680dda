"""live_accrual: the month so far priced by the quote engine exactly as the rollup prices a
month, plus DigitalOcean's month-to-date spend beside it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from analytics.selectors import live_accrual
from catalog.selectors import addon_terms, plan_terms, resource_price_book
from deployments.models import Subscription
from invoicing.invoices.lifecycle import invoice_issue
from invoicing.invoices.rollup import roll_up_period
from invoicing.models import TenantInvoice
from invoicing.usage.selectors import usage_for_period
from pricing.engine import quote
from tests.analytics.factories import (
    APRIL,
    MARCH,
    balance_snapshot,
    build_example_4,
    llm_event,
    make_rate,
    meter_month,
    roll_up,
    subscribe,
)
from tests.conftest import TENANT_A, TENANT_B
from tests.invoicing.factories import cancel_on

pytestmark = pytest.mark.django_db

APRIL_15 = dt.date(2026, 4, 15)
APRIL_30 = dt.date(2026, 4, 30)


def test_on_a_months_last_day_the_accrual_equals_the_rollup():
    build_example_4(TENANT_A)
    late_starter = subscribe(
        TENANT_B, addon_codes=["llm_1m_tokens"], starts_on=dt.date(2026, 4, 10), droplets=1
    )
    for charge in ("0.004", "0.004", "0.004", "1.23456789"):
        llm_event(late_starter.deployment, dt.date(2026, 4, 12), charge)
    cancelled = subscribe(TENANT_B, plan_code="starter", droplets=2)
    cancel_on(cancelled.deployment, dt.date(2026, 4, 20))
    # Late usage: March is invoiced and issued, then a March LLM charge and a backfill of
    # March's droplet hours arrive; one March tenant has no April subscription at all.
    since_march = subscribe("tenant-c", starts_on=MARCH, droplets=3)
    only_march = subscribe("tenant-d", starts_on=MARCH, droplets=0)
    cancel_on(only_march.deployment, dt.date(2026, 3, 31))
    meter_month(MARCH, through=dt.date(2026, 3, 10))
    roll_up(MARCH)
    for invoice in TenantInvoice.objects.filter(period_start=MARCH):
        invoice_issue(invoice=invoice, actor="test")
    meter_month(dt.date(2026, 3, 11), through=dt.date(2026, 3, 31))
    llm_event(since_march.deployment, dt.date(2026, 3, 30), "500.00")
    llm_event(only_march.deployment, dt.date(2026, 3, 30), "12.345")
    meter_month()
    roll_up()

    accrual = live_accrual(today=APRIL_30)

    invoices = {
        invoice.tenant_id: invoice.subtotal_cents
        for invoice in TenantInvoice.objects.filter(period_start=APRIL)
    }
    assert {row["tenant_id"]: row["subtotal_cents"] for row in accrual["tenants"]} == invoices
    assert invoices[TENANT_A] == 7112  # SPEC §17 example 4
    late = {row["tenant_id"]: row["late_usage_cents"] for row in accrual["tenants"]}
    # 3 droplets x 744 h in March, 1,488 h included: 744 h at 1c; and the exact charges.
    assert late == {TENANT_A: 0, TENANT_B: 0, "tenant-c": 744 + 50000, "tenant-d": 1235}
    (total,) = accrual["totals"]
    assert (total["currency"], total["tenants"], total["subscriptions"]) == ("AUD", 4, 4)
    assert total["subtotal_cents"] == sum(invoices.values())
    assert accrual["warnings"] == []


def test_mid_month_it_is_the_quote_engine_on_month_to_date_usage_and_llm_charges():
    example = build_example_4(TENANT_A)
    meter_month(through=APRIL_15)
    for charge in ("0.004", "0.004", "0.004"):  # 1.2 cents: rounded once, to 1
        llm_event(example.deployment, dt.date(2026, 4, 3), charge)
    llm_event(example.deployment, dt.date(2026, 4, 16), "5.00")  # after today: not yet

    accrual = live_accrual(today=APRIL_15)

    subscription = Subscription.objects.get(deployment=example.deployment)
    plan, addons = plan_terms(subscription.plan_version), addon_terms(subscription.addons.all())
    usage = usage_for_period(example.deployment, APRIL, APRIL_15)
    assert usage == {"droplet_hours": Decimal("1800.000000")}  # 5 droplets x 15 days x 24
    expected = quote(
        plan,
        addons,
        usage,
        resource_prices=resource_price_book(currencies=["AUD"], start=APRIL, end=APRIL_30).terms_on(
            APRIL, "AUD"
        ),
        period_start=APRIL,
    )
    assert (expected.first_invoice.total_cents, expected.overage.total_cents) == (5000, 312)
    assert accrual["tenants"] == [
        {
            "tenant_id": TENANT_A,
            "currency": "AUD",
            "subscriptions": 1,
            "recurring_cents": 5000,  # the whole month's fee: the month-end invoice's
            "usage_cents": 312,
            "llm_cents": 1,
            "late_usage_cents": 0,
            "subtotal_cents": 5313,
        }
    ]
    assert (accrual["as_of"], accrual["period"], accrual["days_elapsed"]) == (APRIL_15, APRIL, 15)


def test_llm_charges_in_a_second_currency_are_refused_as_the_rollup_refuses_them():
    """A tenant whose passthrough LLM charges are in USD while its plan bills in AUD: on the
    month's last day the rollup fails it and live accrual lists it as failed, with the same
    reason; the tenant beside it accrues exactly what the rollup invoices."""
    example = build_example_4(TENANT_A)
    llm_event(example.deployment, dt.date(2026, 4, 3), "2.00", currency="USD")
    subscribe(TENANT_B, plan_code="starter", droplets=1)
    meter_month()

    accrual = live_accrual(today=APRIL_30)
    report = roll_up_period(APRIL, actor="test")

    (refused,) = report.failed
    assert refused.tenant_id == TENANT_A
    assert accrual["failed"] == [{"tenant_id": TENANT_A, "reason": refused.reason}]
    assert "LLM charges are in USD but its plan bills in AUD" in refused.reason
    assert not TenantInvoice.objects.filter(tenant_id=TENANT_A).exists()
    invoice = TenantInvoice.objects.get(tenant_id=TENANT_B, period_start=APRIL)
    assert [(row["tenant_id"], row["subtotal_cents"]) for row in accrual["tenants"]] == [
        (TENANT_B, invoice.subtotal_cents)
    ]
    (total,) = accrual["totals"]
    assert (total["tenants"], total["subtotal_cents"]) == (1, invoice.subtotal_cents)


def test_cogs_to_date_is_this_months_balance_snapshot_converted():
    balance_snapshot(dt.datetime(2026, 4, 14, 10, tzinfo=dt.UTC), "123.4567")
    make_rate(APRIL, "1.5")

    cogs = live_accrual(today=APRIL_15)["cogs_to_date"]

    assert (cogs["usd_cents"], cogs["cents"], cogs["currency"]) == (12346, 18519, "AUD")
    assert cogs["fx"]["rate"] == Decimal("1.5")
    assert cogs["reason"] is None


def test_cogs_to_date_without_a_rate_keeps_the_usd_figure_and_says_why():
    balance_snapshot(dt.datetime(2026, 4, 14, 10, tzinfo=dt.UTC), "10")

    cogs = live_accrual(today=APRIL_15)["cogs_to_date"]

    assert (cogs["usd_cents"], cogs["cents"]) == (1000, None)
    assert cogs["reason"].startswith("no USD→AUD rate at or before 2026-04")


def test_cogs_to_date_ignores_another_months_snapshot():
    balance_snapshot(dt.datetime(2026, 3, 31, 23, tzinfo=dt.UTC), "999")
    cogs = live_accrual(today=APRIL_15)["cogs_to_date"]
    assert (cogs["usd_cents"], cogs["cents"]) == (None, None)
    assert "fetched on 2026-03-31" in cogs["reason"]


def test_cogs_to_date_without_any_snapshot():
    cogs = live_accrual(today=APRIL_15)["cogs_to_date"]
    assert cogs["usd_cents"] is None
    assert cogs["reason"].startswith("no DigitalOcean balance snapshot yet")


def test_nothing_subscribed_accrues_nothing():
    accrual = live_accrual(today=APRIL_15)
    assert accrual["tenants"] == accrual["totals"] == []


@pytest.mark.parametrize("tenants", [2, 20])
def test_queries_do_not_grow_with_tenants(tenants, django_assert_max_num_queries):
    for number in range(tenants):
        subscribed = subscribe(
            f"tenant-{number}", addon_codes=["storage_50gb"] if number % 2 else (), droplets=1
        )
        llm_event(subscribed.deployment, dt.date(2026, 4, 2), "0.5")
    meter_month(through=dt.date(2026, 4, 3))
    balance_snapshot(dt.datetime(2026, 4, 3, 10, tzinfo=dt.UTC), "50")
    make_rate(APRIL, "1.5")

    # Subscriptions with plan items and add-ons (3), usage, LLM charges and their currencies,
    # resource prices (one per currency), the earlier invoices that may be owed late usage,
    # the balance snapshot and its rate; the month so far's margin: its COGS source, COGS per
    # tenant and the rate per currency.
    with django_assert_max_num_queries(13):
        accrual = live_accrual(today=dt.date(2026, 4, 3))

    assert len(accrual["tenants"]) == tenants
    assert accrual["totals"][0]["subscriptions"] == tenants
