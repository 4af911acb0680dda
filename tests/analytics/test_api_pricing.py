"""The pricing advisor and re-rating APIs (issue 18 items 4-5): roles, bad input, no writes."""

from __future__ import annotations

import pytest

from catalog.models import PlanVersion
from invoicing.models import TenantInvoice
from tests.analytics.factories import (
    APRIL,
    cost_invoice,
    cost_line,
    make_rate,
    meter_month,
    roll_up,
    subscribe,
)
from tests.analytics.test_rerating import row_counts, studio_draft

pytestmark = pytest.mark.django_db

PRICING = "/api/v1/dashboard/pricing"


def simulate_url(version_id: int) -> str:
    return f"/api/v1/catalog/versions/{version_id}/simulate"


@pytest.fixture
def april():
    subscribed = subscribe("acme")
    meter_month()
    roll_up()
    cost_line(cost_invoice(), "40.00", resource=subscribed.droplets[0])
    make_rate(APRIL, "1.5")
    return subscribed


def fields_of(response) -> dict:
    return response.json()["error"]["fields"]


def test_the_advisor_answers_the_admin_with_the_target_it_used(admin_api, april):
    response = admin_api.get(PRICING, {"period": "2026-04", "target_margin": "25"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["target_margin_percent"] == "25.00"
    [droplets] = [row for row in body["kinds"] if row["kind"] == "droplet_hours"]
    # AUD 60.00 over 3,600 h: 1.6667c; break-even 2c; 25 %: 6000 / 2700 = 2.22 -> 3c.
    assert droplets["cogs_per_unit_cents"] == "1.6667"
    assert droplets["break_even_unit_price_cents"] == 2
    assert droplets["target_unit_price_cents"] == 3


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({}, "period"),
        ({"period": "2026-13"}, "period"),
        ({"period": "2026-04", "target_margin": "100"}, "target_margin"),
        ({"period": "2026-04", "target_margin": "lots"}, "target_margin"),
    ],
)
def test_bad_advisor_input_is_a_400_naming_the_field(admin_api, query, field):
    response = admin_api.get(PRICING, query)
    assert response.status_code == 400
    assert field in fields_of(response)


def test_a_tenant_token_may_not_read_the_advisor_or_simulate(tenant_a_api, april):
    draft = studio_draft()
    assert tenant_a_api.get(PRICING, {"period": "2026-04"}).status_code == 403
    response = tenant_a_api.post(simulate_url(draft.pk), {"period": "2026-04"}, format="json")
    assert response.status_code == 403


def test_simulate_returns_the_rerating_and_writes_nothing(admin_api, april):
    draft = studio_draft()
    before = row_counts()
    response = admin_api.post(simulate_url(draft.pk), {"period": "2026-04"}, format="json")
    assert response.status_code == 200, response.content
    assert row_counts() == before
    body = response.json()
    [row] = body["tenants"]
    assert row["got"]["total_cents"] == TenantInvoice.objects.get(tenant_id="acme").total_cents
    assert row["would"]["subtotal_cents"] == 13800
    assert body["totals"][0]["margin_would_cents"] == 13800 - 6000
    assert body["missing"] == []


def test_simulating_a_published_version_is_a_400_naming_version(admin_api, april):
    published = PlanVersion.objects.get(pk=april.subscription.plan_version_id)
    response = admin_api.post(simulate_url(published.pk), {"period": "2026-04"}, format="json")
    assert response.status_code == 400
    assert "version" in fields_of(response)


def test_simulating_an_unknown_version_is_a_404(admin_api, april):
    response = admin_api.post(simulate_url(987654), {"period": "2026-04"}, format="json")
    assert response.status_code == 404
    assert response.json()["error"]["code"]


@pytest.mark.parametrize("body", [{}, {"period": "April"}, {"period": "2026-12"}])
def test_a_bad_simulate_period_is_a_400_naming_period(admin_api, april, body):
    draft = studio_draft()
    response = admin_api.post(simulate_url(draft.pk), body, format="json")
    assert response.status_code == 400
    assert "period" in fields_of(response)
