"""The admin side of issue 20: change plan / add-ons with a preview step, extend trial with a
preview step, cancel a scheduled change, and the deployment page showing segments."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from deployments.models import Subscription, SubscriptionScheduledChange, SubscriptionSegment
from deployments.services import subscription_change_plan, subscription_create
from tests.conftest import TENANT_A
from tests.deployments.factories import make_deployment
from tests.invoicing.factories import seed_catalog, subscriber

pytestmark = pytest.mark.django_db

DEPLOYMENTS = reverse("admin:deployments_deployment_changelist")


def test_change_plan_previews_then_applies(admin_client):
    seed_catalog()
    deployment = subscriber(TENANT_A, plan="starter", addons=(), droplets=2)
    selection = {"action": "change_plan", "_selected_action": [deployment.pk]}
    choose = {"plan_code": "studio", "addons": "-", "effective": "now", "on": "2026-04-11"}
    form = admin_client.post(DEPLOYMENTS, selection)
    assert form.status_code == 200 and "Preview" in form.content.decode()

    preview = admin_client.post(DEPLOYMENTS, {**selection, **choose, "preview": "1"})
    assert preview.status_code == 200
    assert "Apply the change" in preview.content.decode()
    assert preview.context["previews"][0][1]["after"]["lines"][0]["meta"]["plan_code"] == (
        "starter"
    )
    assert not SubscriptionSegment.objects.exists()  # the preview wrote nothing

    done = admin_client.post(DEPLOYMENTS, {**selection, **choose, "apply": "1"}, follow=True)
    assert any("Changed the plan of 1" in str(m) for m in done.context["messages"])
    assert Subscription.objects.get().plan_version.plan.code == "studio"
    page = admin_client.get(reverse("admin:deployments_deployment_change", args=[deployment.pk]))
    assert "segment 2026-04-01 to 2026-04-10" in page.content.decode()


def test_change_plan_reports_bad_input_and_changes_nothing(admin_client):
    seed_catalog()
    deployment = subscriber(TENANT_A, plan="starter", addons=())
    selection = {"action": "change_plan", "_selected_action": [deployment.pk]}
    bad = {"plan_code": "studio", "addons": "nope", "effective": "now"}
    done = admin_client.post(DEPLOYMENTS, {**selection, **bad, "apply": "1"}, follow=True)
    assert any("nope" in str(m) for m in done.context["messages"])
    assert Subscription.objects.get().plan_version.plan.code == "starter"


def test_extend_trial_previews_the_new_end_then_applies(admin_client):
    seed_catalog()
    deployment = make_deployment(tenant_id=TENANT_A)
    subscription_create(
        deployment=deployment,
        plan_code="studio",
        starts_on=dt.date(2026, 4, 5),
        trial_days=14,
        actor="t",
    )
    selection = {"action": "extend_trial", "_selected_action": [deployment.pk]}
    preview = admin_client.post(DEPLOYMENTS, {**selection, "days": "7", "preview": "1"})
    assert preview.status_code == 200
    [(_, _, new_end)] = preview.context["rows"]
    assert new_end.date() == dt.date(2026, 4, 26)
    assert Subscription.objects.get().trial_ends_at.date() == dt.date(2026, 4, 19)
    admin_client.post(DEPLOYMENTS, {**selection, "days": "7", "apply": "1"})
    assert Subscription.objects.get().trial_ends_at.date() == dt.date(2026, 4, 26)


def test_cancel_scheduled_change(admin_client):
    seed_catalog()
    deployment = subscriber(TENANT_A, plan="studio", addons=())
    subscription_change_plan(
        subscription=deployment.subscription,
        plan_code="starter",
        effective="period_end",
        actor="t",
    )
    admin_client.post(
        DEPLOYMENTS, {"action": "cancel_scheduled_change", "_selected_action": [deployment.pk]}
    )
    assert SubscriptionScheduledChange.objects.get().status == "cancelled"
