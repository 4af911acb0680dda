"""The one loader of pricing inputs and its price-date rule: a quote, an invoice and live
accrual read the same inputs, so they agree to the cent (docs/decisions.md, Money and pricing)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.services import resource_price_create
from deployments.selectors import pricing_subjects_active_between
from invoicing.invoices.rollup import roll_up_period
from invoicing.models import TenantInvoice, TenantInvoiceLine
from invoicing.pricing_inputs import load_pricing_inputs, prices_on
from pricing.invoice import Month, PricingSubject
from tests.conftest import TENANT_A
from tests.invoicing.factories import APRIL, add_usage, seed_catalog, subscriber

pytestmark = pytest.mark.django_db

PRICE_CHANGE = dt.date(2026, 4, 10)


@pytest.fixture(autouse=True)
def catalog():
    seed_catalog()
    # The seed lists volume storage at 15c a GB-month from January; it rises to 20c mid-April.
    resource_price_create(
        resource_kind="volume_gb_month",
        price_cents=20,
        currency="AUD",
        effective_from=PRICE_CHANGE,
        supersede=True,
    )


def _quote(api, starts_on: dt.date, usage: dict[str, str]) -> dict:
    response = api.post(
        "/api/v1/quote",
        {
            "plan_code": "studio",
            "addons": [],
            "projected_usage": usage,
            "starts_on": str(starts_on),
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.parametrize(
    ("starts_on", "price_cents"),
    [(dt.date(2026, 4, 20), 20), (dt.date(2026, 4, 5), 15), (APRIL, 15)],
    ids=["start-after-the-change", "start-before-the-change", "whole-month"],
)
def test_a_quote_for_a_start_on_day_d_prices_what_the_invoice_charges(
    tenant_a_api, starts_on, price_cents
):
    """Start on the 20th after the list price rose on the 10th: the quote and the invoice both
    charge the new price; start on the 5th (or the 1st): both the old one, for the whole month.
    On main before the one loader the quote priced the start day and the rollup the 1st."""
    deployment = subscriber(TENANT_A, starts_on=starts_on, addons=())
    add_usage(deployment, "volume_gb_month", "100", day=dt.date(2026, 4, 25))

    quoted = _quote(tenant_a_api, starts_on, {"volume_gb_month": "100"})
    report = roll_up_period(APRIL)

    assert not report.failed, report.failed
    invoice = TenantInvoice.objects.get(tenant_id=TENANT_A, period_start=APRIL)
    volume = TenantInvoiceLine.objects.get(invoice=invoice, resource_kind="volume_gb_month")
    (quoted_volume,) = [
        line for line in quoted["overage"]["lines"] if line["resource_kind"] == "volume_gb_month"
    ]
    assert quoted_volume["unit_price_cents"] == volume.unit_price_cents == price_cents
    assert quoted_volume["amount_cents"] == volume.amount_cents == 100 * price_cents
    quoted_month = quoted["first_invoice"]["total_cents"] + quoted["overage"]["total_cents"]
    assert quoted_month == invoice.subtotal_cents
    assert volume.meta["prices_on"] == max(starts_on, APRIL).isoformat()


def test_prices_are_those_of_the_first_billed_day():
    month = Month.of(APRIL)
    subject = PricingSubject(tenant_id="t", plan_version_id=1)
    assert prices_on(subject, month) == APRIL
    starts_before = PricingSubject(tenant_id="t", plan_version_id=1, started_on=dt.date(2026, 3, 3))
    assert prices_on(starts_before, month) == APRIL
    starts_inside = PricingSubject(
        tenant_id="t", plan_version_id=1, started_on=dt.date(2026, 4, 20)
    )
    assert prices_on(starts_inside, month) == dt.date(2026, 4, 20)


def test_the_loader_reads_a_fixed_number_of_queries_whatever_the_subscriptions():
    def queries_for(count: int) -> int:
        for _ in range(count):
            deployment = subscriber(TENANT_A, droplets=1)
            add_usage(deployment, "volume_gb_month", "3")
        subjects = pricing_subjects_active_between(APRIL, dt.date(2026, 4, 30))
        with CaptureQueriesContext(connection) as captured:
            loaded = load_pricing_inputs(subjects, month=APRIL)
        assert len(loaded.subscriptions) == len(subjects)
        return len(captured)

    one = queries_for(1)
    many = queries_for(6)
    assert one == many <= 7
