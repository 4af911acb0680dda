"""Re-rating a draft plan version against a past month (issue 18 item 5): hand-computed."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.apps import apps

from analytics.rerating import version_rerate
from arcadia_cloud.errors import NotFound
from arcadia_cloud.validation import FieldError
from catalog.models import Plan, PlanVersion
from catalog.services import PlanItemInput, plan_version_create, plan_version_publish
from deployments.services import subscription_change_plan_version
from invoicing.invoices.rollup import roll_up_period
from invoicing.models import TenantInvoice
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

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 12, 2)


def studio_draft(*, base: int = 6000, included: str = "1000", overage: int = 3) -> PlanVersion:
    return plan_version_create(
        plan=Plan.objects.get(code="studio"),
        base_price_cents=base,
        currency="AUD",
        items=[PlanItemInput("droplet_hours", Decimal(included), overage)],
        actor=ACTOR,
    )


@pytest.fixture
def april():
    """acme on studio v1 with 5 droplets active all April (3,600 h), metered and invoiced:
    5000 + (3600 - 1488) x 1c = 7112 subtotal, 711 tax, 7823 total. DigitalOcean billed USD
    40.00 for one of its droplets; 1 USD = 1.5 AUD → COGS AUD 60.00."""
    subscribed = subscribe("acme")
    meter_month()
    roll_up()
    cost_line(cost_invoice(), "40.00", resource=subscribed.droplets[0])
    make_rate(APRIL, "1.5")
    return subscribed


def row_counts() -> dict[str, int]:
    return {
        model._meta.label: model.objects.count()
        for model in apps.get_models()
        if model._meta.managed and not model._meta.proxy
    }


def test_rerating_prices_the_month_under_the_draft_by_hand(april):
    draft = studio_draft()
    result = version_rerate(version_id=draft.pk, period=APRIL, today=TODAY)

    assert result["missing"] == []
    assert result["failed"] == []
    [row] = result["tenants"]
    assert row["tenant_id"] == "acme"
    assert row["got"]["source"] == "invoice"
    assert (row["got"]["subtotal_cents"], row["got"]["total_cents"]) == (7112, 7823)
    # 6000 + (3600 - 1000) x 3c = 13800; tax 1380.
    assert row["would"]["subtotal_cents"] == 13800
    assert row["would"]["total_cents"] == 15180
    assert (row["cogs_usd_cents"], row["cogs_cents"]) == (4000, 6000)
    assert row["margin_got_cents"] == 7112 - 6000
    assert row["margin_would_cents"] == 13800 - 6000
    assert row["margin_would_percent"] == Decimal("56.52")  # 7800 / 13800
    [total] = result["totals"]
    assert total["tenants"] == 1
    assert total["margin_would_cents"] == 7800
    assert total["would_total_cents"] == 15180


def test_rerating_equals_the_invoice_a_forced_rollup_writes_under_the_new_version(april):
    other = subscribe("globex", droplets=2)  # 1440 h: inside v1's 1488, over 1200
    meter_month()
    roll_up_period(APRIL, force=True, actor=ACTOR)
    draft = studio_draft(base=4500, included="1200", overage=2)
    simulated = {
        row["tenant_id"]: row["would"]
        for row in version_rerate(version_id=draft.pk, period=APRIL, today=TODAY)["tenants"]
    }
    assert set(simulated) == {"acme", "globex"}

    plan_version_publish(version=draft, actor=ACTOR)
    for subscription in (april.subscription, other.subscription):
        subscription_change_plan_version(subscription=subscription, version=draft, actor=ACTOR)
    report = roll_up_period(APRIL, force=True, actor=ACTOR)
    assert not report.failed

    for tenant_id, would in simulated.items():
        invoice = TenantInvoice.objects.get(tenant_id=tenant_id, period_start=APRIL)
        assert (invoice.subtotal_cents, invoice.tax_cents, invoice.total_cents) == (
            would["subtotal_cents"],
            would["tax_cents"],
            would["total_cents"],
        )
    # By hand: acme 4500 + (3600 - 1200) x 2 = 9300; globex 4500 + (1440 - 1200) x 2 = 4980.
    assert simulated["acme"]["subtotal_cents"] == 9300
    assert simulated["globex"]["subtotal_cents"] == 4980


def test_rerating_writes_nothing(april):
    draft = studio_draft()
    before = row_counts()
    version_rerate(version_id=draft.pk, period=APRIL, today=TODAY)
    assert row_counts() == before


def test_a_tenant_without_an_invoice_got_its_month_priced_as_it_stands(april):
    subscribe("initech", droplets=0)
    draft = studio_draft()
    rows = {
        row["tenant_id"]: row
        for row in version_rerate(version_id=draft.pk, period=APRIL, today=TODAY)["tenants"]
    }
    assert rows["initech"]["got"]["source"] == "priced"
    assert rows["initech"]["got"]["subtotal_cents"] == 5000
    assert rows["initech"]["would"]["subtotal_cents"] == 6000
    assert rows["initech"]["cogs_cents"] == 0  # the month's cost lines name none of its


def test_a_published_version_is_refused_naming_version(april):
    with pytest.raises(FieldError) as refused:
        version_rerate(version_id=april.subscription.plan_version_id, period=APRIL, today=TODAY)
    assert refused.value.field == "version"


def test_an_unknown_version_is_not_found(april):
    with pytest.raises(NotFound):
        version_rerate(version_id=987654, period=APRIL, today=TODAY)


@pytest.mark.parametrize("period", [dt.date(2026, 4, 2), dt.date(2026, 12, 1), "2026-04"])
def test_a_bad_period_is_refused_naming_period(april, period):
    draft = studio_draft()
    with pytest.raises(FieldError) as refused:
        version_rerate(version_id=draft.pk, period=period, today=TODAY)
    assert refused.value.field == "period"


def test_a_month_without_fx_rate_or_usage_says_what_is_missing(april):
    draft = studio_draft()
    result = version_rerate(version_id=draft.pk, period=dt.date(2026, 6, 1), today=TODAY)
    # Nobody's June is metered, no June cost lines: said, not zero.
    assert any("no metered usage" in reason for reason in result["missing"])
    assert any("no DigitalOcean cost line" in reason for reason in result["missing"])
    assert all(row["cogs_cents"] is None for row in result["tenants"])
    assert all(row["margin_would_cents"] is None for row in result["tenants"])


def test_no_fx_rate_leaves_margin_unknown_with_the_reason(april):
    from analytics.models import FxRate

    FxRate.objects.all().delete()
    draft = studio_draft()
    result = version_rerate(version_id=draft.pk, period=APRIL, today=TODAY)
    [row] = result["tenants"]
    assert row["cogs_usd_cents"] == 4000
    assert row["cogs_cents"] is None and row["margin_would_cents"] is None
    assert result["totals"][0]["margin_would_cents"] is None
    assert any("USD" in reason and "AUD" in reason for reason in result["missing"])
