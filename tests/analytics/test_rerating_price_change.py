"""Re-rating a pending resource price change against a past month (issue 18 item 5, "or a
pending price change"): hand-computed, equal to what a forced rollup writes once the price
applies, no writes, and bad input refused naming the field — in the service, the API and the
admin."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from analytics.rerating import price_change_rerate
from arcadia_cloud.clock import utc_today
from arcadia_cloud.errors import NotFound
from arcadia_cloud.validation import FieldError
from catalog.models import ResourcePrice
from catalog.services import resource_price_create
from invoicing.invoices.rollup import roll_up_period
from invoicing.models import TenantInvoice, UsageRecord, UsageSource
from tests.analytics.factories import (
    ACTOR,
    APRIL,
    cost_invoice,
    cost_line,
    make_rate,
    meter_month,
    roll_up,
    subscribe,
)
from tests.analytics.test_rerating import row_counts
from tests.invoicing.factories import at

pytestmark = pytest.mark.django_db

# The pending price starts after the real today, so the API and the admin (which ask the clock)
# see it as pending too.
STARTS = utc_today() + dt.timedelta(days=45)
TODAY = utc_today()


def load_balancer_hours(deployment, hours: int) -> None:
    """An operator's usage row of a kind no seeded plan covers (priced by the resource price:
    load_balancer_hours at the seed's 2c an hour)."""
    UsageRecord.objects.create(
        deployment=deployment,
        resource_kind="load_balancer_hours",
        period_start=at(APRIL + dt.timedelta(days=9)),
        qty=Decimal(hours),
        qty_numerator=Decimal(hours),
        qty_denominator=1,
        source=UsageSource.MANUAL,
    )


@pytest.fixture
def april():
    """acme on studio v1 (5 droplets all April: 5000 + (3600 - 1488) x 1c = 7112) plus 300
    load-balancer hours at 2c = 600 → subtotal 7712, tax 771, total 8483; globex on studio with
    2 droplets and no load balancer (1440 h, inside the 1488 included: 5000). DigitalOcean
    billed USD 40.00 for one of acme's droplets; 1 USD = 1.5 AUD → acme's COGS AUD 60.00."""
    acme = subscribe("acme")
    globex = subscribe("globex", droplets=2)
    load_balancer_hours(acme.deployment, 300)
    meter_month()
    roll_up()
    cost_line(cost_invoice(), "40.00", resource=acme.droplets[0])
    make_rate(APRIL, "1.5")
    return acme, globex


def pending(cents: int = 5) -> ResourcePrice:
    """load_balancer_hours at `cents` an hour from STARTS: the usual "new price from date D"."""
    return resource_price_create(
        resource_kind="load_balancer_hours",
        price_cents=cents,
        currency="AUD",
        effective_from=STARTS,
        supersede=True,
    )


def in_force_now() -> ResourcePrice:
    """The seed's load-balancer price, in force until the pending one starts."""
    return ResourcePrice.objects.get(
        resource_kind="load_balancer_hours", currency="AUD", size_scope="", effective_to=STARTS
    )


def test_a_pending_price_is_re_rated_by_hand_for_the_tenants_who_used_its_kind(april):
    price = pending(5)
    result = price_change_rerate(price_id=price.pk, period=APRIL, today=TODAY)

    assert result["missing"] == [] and result["failed"] == []
    assert (result["resource_kind"], result["effective_from"]) == ("load_balancer_hours", STARTS)
    [row] = result["tenants"]  # globex used no load balancer: not affected
    assert row["tenant_id"] == "acme"
    assert row["got"]["source"] == "invoice"
    assert (row["got"]["subtotal_cents"], row["got"]["total_cents"]) == (7712, 8483)
    # 7112 + 300 h x 5c = 8612; tax 861 (10 %, half-up); total 9473.
    assert row["would"]["subtotal_cents"] == 8612
    assert (row["would"]["tax_cents"], row["would"]["total_cents"]) == (861, 9473)
    assert (row["cogs_usd_cents"], row["cogs_cents"]) == (4000, 6000)
    assert row["margin_got_cents"] == 7712 - 6000
    assert row["margin_would_cents"] == 8612 - 6000
    assert row["margin_would_percent"] == Decimal("30.33")  # 2612 / 8612
    [total] = result["totals"]
    assert (total["tenants"], total["would_subtotal_cents"]) == (1, 8612)


def test_the_re_rating_equals_what_a_forced_rollup_writes_once_the_price_applies(april):
    price = pending(4)
    [simulated] = price_change_rerate(price_id=price.pk, period=APRIL, today=TODAY)["tenants"]

    # Let the price apply to April (data set up by hand: prices are history, no service
    # back-dates one) and regenerate April's drafts.
    old = in_force_now()
    assert old.effective_from < APRIL
    ResourcePrice.objects.filter(pk=old.pk).update(effective_to=APRIL)
    ResourcePrice.objects.filter(pk=price.pk).update(effective_from=APRIL)
    report = roll_up_period(APRIL, force=True, actor=ACTOR)
    assert not report.failed

    invoice = TenantInvoice.objects.get(tenant_id="acme", period_start=APRIL)
    assert (invoice.subtotal_cents, invoice.tax_cents, invoice.total_cents) == (
        simulated["would"]["subtotal_cents"],
        simulated["would"]["tax_cents"],
        simulated["would"]["total_cents"],
    )
    assert invoice.subtotal_cents == 7112 + 300 * 4


def test_re_rating_a_price_change_writes_nothing(april):
    price = pending()
    before = row_counts()
    price_change_rerate(price_id=price.pk, period=APRIL, today=TODAY)
    assert row_counts() == before


def test_a_price_in_force_is_refused_naming_price(april):
    pending()
    in_force = in_force_now()
    with pytest.raises(FieldError) as refused:
        price_change_rerate(price_id=in_force.pk, period=APRIL, today=TODAY)
    assert refused.value.field == "price"


def test_an_unknown_price_is_not_found(april):
    with pytest.raises(NotFound):
        price_change_rerate(price_id=987654, period=APRIL, today=TODAY)


@pytest.mark.parametrize("period", [dt.date(2026, 4, 2), "next month"])
def test_a_bad_period_is_refused_naming_period(april, period):
    price = pending()
    with pytest.raises(FieldError) as refused:
        price_change_rerate(price_id=price.pk, period=period, today=TODAY)
    assert refused.value.field == "period"


def test_a_month_nobody_used_the_kind_in_says_so(april):
    price = pending()
    result = price_change_rerate(price_id=price.pk, period=dt.date(2026, 3, 1), today=TODAY)
    assert result["tenants"] == []
    assert any("nobody to re-rate" in reason for reason in result["missing"])


# -- the API ------------------------------------------------------------------------------------


def simulate_url(price_id: int) -> str:
    return f"/api/v1/catalog/resource-prices/{price_id}/simulate"


def test_the_api_returns_the_re_rating_and_writes_nothing(admin_api, april):
    price = pending(5)
    before = row_counts()
    response = admin_api.post(simulate_url(price.pk), {"period": "2026-04"}, format="json")
    assert response.status_code == 200, response.content
    assert row_counts() == before
    body = response.json()
    [row] = body["tenants"]
    assert (row["tenant_id"], row["would"]["subtotal_cents"]) == ("acme", 8612)
    assert body["price_id"] == price.pk and body["effective_from"] == STARTS.isoformat()


def test_the_api_refuses_bad_input_naming_the_field(admin_api, tenant_a_api, april):
    price = pending()
    in_force = in_force_now()
    refused = admin_api.post(simulate_url(in_force.pk), {"period": "2026-04"}, format="json")
    assert refused.status_code == 400 and "price" in refused.json()["error"]["fields"]
    bad_period = admin_api.post(simulate_url(price.pk), {"period": "April"}, format="json")
    assert bad_period.status_code == 400 and "period" in bad_period.json()["error"]["fields"]
    unknown = admin_api.post(simulate_url(987654), {"period": "2026-04"}, format="json")
    assert unknown.status_code == 404
    tenant = tenant_a_api.post(simulate_url(price.pk), {"period": "2026-04"}, format="json")
    assert tenant.status_code == 403


# -- the admin ----------------------------------------------------------------------------------


def test_the_admin_offers_simulate_for_a_pending_price_only_and_shows_the_re_rating(
    admin_client, april
):
    price = pending(5)
    listing = admin_client.get(reverse("admin:catalog_resourceprice_changelist")).content.decode()
    url = reverse("admin:catalog_resourceprice_simulate", args=[price.pk])
    assert url in listing
    in_force = in_force_now()
    assert reverse("admin:catalog_resourceprice_simulate", args=[in_force.pk]) not in listing

    before = row_counts()
    response = admin_client.get(url, {"period": "2026-04"})
    assert row_counts() == before
    assert response.status_code == 200
    [row] = response.context["rerating"]["tenants"]
    assert row["would"]["total_cents"] == 9473
    assert "94.73" in response.content.decode()

    said = admin_client.get(
        reverse("admin:catalog_resourceprice_simulate", args=[in_force.pk]), {"period": "2026-04"}
    )
    assert said.status_code == 200 and "only a pending price change" in said.context["error"]
