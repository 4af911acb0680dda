"""Moving every subscriber of a plan version to another (issue 20): preview first (nothing
written, the per-tenant effect priced through the rollup's path), then the move, audited and
idempotent; bad targets refused naming `to_version`."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import transaction

from catalog.models import PlanVersion
from catalog.services import PlanItemInput, plan_version_create, plan_version_publish
from deployments.models import Subscription, SubscriptionEvent, SubscriptionSegment
from deployments.services import trials_end_due
from invoicing.invoices.rollup import roll_up_period
from invoicing.models import TenantInvoice
from tests.conftest import TENANT_A, TENANT_B
from tests.deployments.factories import make_deployment
from tests.invoicing.factories import APRIL, at, meter, seed_catalog, subscriber

pytestmark = pytest.mark.django_db


def studio_v2(*, publish: bool = True) -> PlanVersion:
    v1 = PlanVersion.objects.get(plan__code="studio", status="active")
    v2 = plan_version_create(
        plan=v1.plan,
        base_price_cents=6000,
        currency="AUD",
        items=[
            PlanItemInput(
                resource_kind="droplet_hours", included_qty=Decimal(1488), overage_price_cents=1
            )
        ],
        actor="test",
    )
    if publish:
        plan_version_publish(version=v2, actor="test")
    return v2


def migrate_url(version: PlanVersion) -> str:
    return f"/api/v1/catalog/versions/{version.pk}/migrate"


def test_preview_then_move_then_rerun_moves_nobody(admin_api):
    seed_catalog()
    v1 = PlanVersion.objects.get(plan__code="studio", status="active")
    for tenant in (TENANT_A, TENANT_B):
        subscriber(tenant, plan="studio", addons=(), droplets=2)
    meter()
    v2 = studio_v2()
    body = {"to_version": v2.pk, "effective": "now", "on": "2026-04-16"}

    preview = admin_api.post(migrate_url(v1), {**body, "preview": True}, format="json")
    assert preview.status_code == 200, preview.content
    assert len(preview.json()["moved"]) == 2
    assert Subscription.objects.filter(plan_version=v2).count() == 0  # rolled back
    assert not SubscriptionSegment.objects.exists()
    # 1-15 April on v1 (5000 x 15/30) + 16-30 on v2 (6000 x 15/30), 10% GST; 720 h each: free
    effect = {row["tenant_id"]: row for row in preview.json()["tenants"]}
    assert effect[TENANT_A]["before_total_cents"] == 5500
    assert effect[TENANT_A]["after_total_cents"] == (2500 + 3000) * 11 // 10

    moved = admin_api.post(migrate_url(v1), body, format="json")
    assert moved.status_code == 200, moved.content
    assert len(moved.json()["moved"]) == 2 and moved.json()["failed"] == []
    assert Subscription.objects.filter(plan_version=v2).count() == 2
    events = SubscriptionEvent.objects.filter(type="plan_changed")
    assert [e.details["migration"]["to_version_id"] for e in events] == [v2.pk, v2.pk]

    again = admin_api.post(migrate_url(v1), body, format="json")
    assert again.json()["moved"] == []
    assert SubscriptionEvent.objects.filter(type="plan_changed").count() == 2

    roll_up_period(APRIL)
    invoice = TenantInvoice.objects.get(tenant_id=TENANT_A, period_start=APRIL)
    assert invoice.total_cents == effect[TENANT_A]["after_total_cents"]


def test_a_move_at_the_period_end_is_scheduled_once(admin_api):
    seed_catalog()
    v1 = PlanVersion.objects.get(plan__code="studio", status="active")
    subscriber(TENANT_A, plan="studio", addons=(), droplets=0)
    v2 = studio_v2()
    body = {"to_version": v2.pk, "effective": "period_end"}
    first = admin_api.post(migrate_url(v1), body, format="json")
    assert first.status_code == 200, first.content
    assert len(first.json()["moved"]) == 1
    again = admin_api.post(migrate_url(v1), body, format="json")
    assert again.json()["moved"] == [] and again.json()["failed"] == []
    assert Subscription.objects.get().scheduled_changes.get().plan_version == v2


@pytest.mark.parametrize("target", ["draft", "other_plan", "same", "missing"])
def test_bad_targets_are_refused_naming_to_version(admin_api, target):
    seed_catalog()
    v1 = PlanVersion.objects.get(plan__code="studio", status="active")
    subscriber(TENANT_A, plan="studio", addons=())
    to_version = {
        "draft": lambda: studio_v2(publish=False).pk,
        "other_plan": lambda: PlanVersion.objects.get(plan__code="starter").pk,
        "same": lambda: v1.pk,
        "missing": lambda: 987654,
    }[target]()
    response = admin_api.post(
        migrate_url(v1), {"to_version": to_version, "effective": "now"}, format="json"
    )
    assert response.status_code == 400, response.content
    assert "to_version" in response.json()["error"]["fields"]
    assert Subscription.objects.get().plan_version == v1
    assert not SubscriptionEvent.objects.filter(type="plan_changed").exists()


def test_tenants_cannot_migrate(tenant_a_api):
    seed_catalog()
    v1 = PlanVersion.objects.get(plan__code="studio", status="active")
    response = tenant_a_api.post(migrate_url(v1), {"to_version": v1.pk}, format="json")
    assert response.status_code == 403


def test_ending_trials_is_an_entry_point_that_refuses_to_nest():
    """The daily task's unit of work is durable: nesting it is an error, not a savepoint."""
    from deployments.services import subscription_create

    seed_catalog()
    deployment = make_deployment(tenant_id=TENANT_A)
    subscription_create(
        deployment=deployment,
        plan_code="studio",
        starts_on=dt.date(2026, 4, 5),
        trial_days=14,
        actor="t",
    )
    with transaction.atomic(), pytest.raises(RuntimeError, match="durable"):
        trials_end_due(now=at(dt.date(2026, 4, 20)))


def test_the_daily_tasks_are_scheduled_and_do_their_work(monkeypatch):
    from arcadia_cloud.schedules import declared_schedules
    from deployments import tasks
    from deployments.models import Deployment

    declared = {spec.task: spec for spec in declared_schedules()}
    assert {"deployments.end_trials", "deployments.apply_scheduled_changes"} <= set(declared)

    seed_catalog()
    deployment = make_deployment(tenant_id=TENANT_A)
    from deployments.services import subscription_create

    subscription_create(
        deployment=deployment, plan_code="studio", starts_on=APRIL, trial_days=3, actor="t"
    )
    assert tasks.end_trials() == [deployment.pk]  # the clock (December) is past 4 April
    assert Deployment.objects.get(pk=deployment.pk).state == "active"
    assert tasks.apply_scheduled_changes() == []
