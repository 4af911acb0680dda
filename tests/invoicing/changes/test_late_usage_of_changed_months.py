"""Late usage of a month its invoice priced in segments or from a trial's end (issues 20 + the
late-usage rule): the month is re-priced the way its invoice priced it — each segment on its own
terms with its own days' usage, trial days never — so the split or the trial never reads as
late usage, and usage that really arrives late is billed on its segment's terms."""

from __future__ import annotations

import datetime as dt

import pytest

from invoicing.invoices.lifecycle import invoice_issue
from invoicing.invoices.rollup import roll_up_period
from invoicing.models import TenantInvoice, TenantInvoiceLine
from tests.conftest import TENANT_A
from tests.deployments.factories import make_deployment
from tests.inventory.factories import make_resource
from tests.invoicing.factories import APRIL, add_usage, meter, seed_catalog
from tests.invoicing.factories import subscriber as make_subscriber

pytestmark = pytest.mark.django_db

MAY = dt.date(2026, 5, 1)
UPGRADE = {"plan_code": "studio", "addons": [], "effective": "now", "on": "2026-04-11"}


def issued_april() -> TenantInvoice:
    roll_up_period(APRIL)
    april = TenantInvoice.objects.get(tenant_id=TENANT_A, period_start=APRIL)
    return invoice_issue(invoice=april, actor="test")


def late_lines_of_may() -> list[TenantInvoiceLine]:
    may = TenantInvoice.objects.get(tenant_id=TENANT_A, period_start=MAY)
    return [line for line in may.lines.order_by("position") if "late_usage" in line.meta]


def upgraded_on_the_11th(admin_api):
    """Starter 1-10 April (allowance 248 h, 480 h used: 232 h over at 1c), studio 11-30."""
    seed_catalog()
    deployment = make_subscriber(TENANT_A, plan="starter", addons=(), droplets=2)
    meter()
    response = admin_api.post(
        f"/api/v1/deployments/{deployment.pk}/change-plan", UPGRADE, format="json"
    )
    assert response.status_code == 200, response.content
    return deployment


def test_a_split_month_owes_nothing_late_when_nothing_arrived_late(admin_api):
    upgraded_on_the_11th(admin_api)
    april = issued_april()
    assert april.total_cents == 4655

    report = roll_up_period(MAY)

    assert late_lines_of_may() == []
    (result,) = report.results
    assert not [w for w in result.warnings if "not credited automatically" in w], result.warnings


def test_usage_arriving_late_for_a_segment_is_billed_on_that_segments_terms(admin_api):
    deployment = upgraded_on_the_11th(admin_api)
    issued_april()
    # Ten droplet hours of 5 April (the starter segment, already past its allowance) arrive late.
    add_usage(deployment, "droplet_hours", 10, day=dt.date(2026, 4, 5))

    roll_up_period(MAY)

    (line,) = late_lines_of_may()
    assert (line.resource_kind, line.amount_cents) == ("droplet_hours", 10)  # 10 h at 1c
    assert line.meta["late_usage"]["period"] == "2026-04"


def test_the_days_of_a_trial_never_read_as_late_usage(admin_api):
    """A 14-day starter trial from 5 April with two droplets running all along: April bills
    from the 19th (576 h, within 744), the 14 trial days' 672 h never."""
    seed_catalog()
    deployment = make_deployment(tenant_id=TENANT_A)
    response = admin_api.post(
        f"/api/v1/deployments/{deployment.pk}/subscribe",
        {"plan_code": "starter", "starts_on": "2026-04-05", "trial_days": 14},
        format="json",
    )
    assert response.status_code == 201, response.content
    for _ in range(2):
        make_resource("droplet", deployment=deployment, status="active")
    meter()
    april = issued_april()
    assert [line.kind for line in april.lines.order_by("position")] == ["plan_base", "tax"]

    roll_up_period(MAY)

    assert late_lines_of_may() == []
