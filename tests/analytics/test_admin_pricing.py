"""The pricing advisor and the Simulate page in the admin (issue 18 items 4-5)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from catalog.models import PlanVersion
from tests.analytics.test_advisor import april as advisor_april  # noqa: F401 (fixture)
from tests.analytics.test_rerating import april, row_counts, studio_draft  # noqa: F401

pytestmark = pytest.mark.django_db

PRICING = "/admin/analytics/margin/pricing/"


def simulate_url(version: PlanVersion) -> str:
    return reverse("admin:catalog_planversion_simulate", args=[version.pk])


def test_the_advisor_page_shows_the_table_and_the_reason(admin_client, advisor_april):  # noqa: F811
    response = admin_client.get(PRICING, {"period": "2026-04", "target_margin": "50"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "droplet_hours" in page and "m-24vcpu-192gb" in page
    assert "off droplets are not billable under the metering config" in page
    assert response.context["advice"]["target_margin_percent"] == 50


def test_a_bad_target_margin_on_the_page_is_said_not_a_500(admin_client, advisor_april):  # noqa: F811
    response = admin_client.get(PRICING, {"period": "2026-04", "target_margin": "200"})
    assert response.status_code == 200
    assert "target_margin" in response.context["error"]


def test_the_simulate_page_shows_the_rerating_and_writes_nothing(admin_client, april):  # noqa: F811
    draft = studio_draft()
    change = admin_client.get(reverse("admin:catalog_planversion_change", args=[draft.pk]))
    assert simulate_url(draft) in change.content.decode()  # beside Publish
    before = row_counts()
    response = admin_client.get(simulate_url(draft), {"period": "2026-04"})
    assert row_counts() == before
    assert response.status_code == 200
    [row] = response.context["rerating"]["tenants"]
    assert row["would"]["total_cents"] == 15180
    assert "151.80" in response.content.decode()


def test_simulating_a_published_version_is_said_on_the_page(admin_client, april):  # noqa: F811
    published = PlanVersion.objects.get(pk=april.subscription.plan_version_id)
    response = admin_client.get(simulate_url(published), {"period": "2026-04"})
    assert response.status_code == 200
    assert "only a draft version is re-rated" in response.context["error"]


def test_publish_confirmation_shows_last_months_rerating(admin_client, april):  # noqa: F811
    draft = studio_draft()
    response = admin_client.get(reverse("admin:catalog_planversion_publish", args=[draft.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    # The suite's clock is in December 2026: last month (November) is what it re-rates.
    assert "Re-rated November 2026" in page
