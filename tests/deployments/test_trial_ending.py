"""`trial.ending`: a tenant is told once that its trial ends soon (issue 21's event, issue 20's
trials), again after an extension, and never for a trial that is over or converted."""

from __future__ import annotations

import datetime as dt

import pytest

from deployments.models import SubscriptionEvent
from deployments.services import (
    subscription_extend_trial,
    trials_end_due,
    trials_notify_ending,
)
from deployments.tasks import end_trials
from tests.conftest import TENANT_A, TENANT_B
from tests.deployments.factories import make_deployment
from tests.invoicing.factories import at, seed_catalog
from webhooks.models import WebhookDelivery
from webhooks.services import webhook_endpoint_create

pytestmark = pytest.mark.django_db

THREE_DAYS = dt.timedelta(days=3)


@pytest.fixture
def trial(admin_api):
    """Studio from 5 April with a 14-day trial (ends 19 April 00:00 UTC); A's app listens."""
    seed_catalog()
    deployment = make_deployment(tenant_id=TENANT_A)
    response = admin_api.post(
        f"/api/v1/deployments/{deployment.pk}/subscribe",
        {"plan_code": "studio", "starts_on": "2026-04-05", "trial_days": 14},
        format="json",
    )
    assert response.status_code == 201, response.content
    webhook_endpoint_create(
        tenant_id=TENANT_A, url="https://hooks.example.com/a", events=["trial.ending"], actor="t"
    )
    webhook_endpoint_create(
        tenant_id=TENANT_B, url="https://hooks.example.com/b", events=["trial.ending"], actor="t"
    )
    return deployment


def notices() -> list[dict]:
    return [
        delivery.payload
        for delivery in WebhookDelivery.objects.filter(event_type="trial.ending").order_by("pk")
    ]


def test_the_tenant_is_told_once_three_days_before_its_trial_ends(trial):
    assert trials_notify_ending(now=at(dt.date(2026, 4, 15)), within=THREE_DAYS) == []

    told = trials_notify_ending(now=at(dt.date(2026, 4, 16), 1), within=THREE_DAYS)
    again = trials_notify_ending(now=at(dt.date(2026, 4, 17)), within=THREE_DAYS)

    assert len(told) == 1 and again == []
    (payload,) = notices()
    assert payload["tenant_id"] == TENANT_A  # B's endpoint hears nothing of A's trial
    assert payload["data"]["deployment_id"] == trial.pk
    assert payload["data"]["plan_code"] == "studio"
    assert payload["data"]["trial_ends_at"].startswith("2026-04-19T00:00:00")
    assert SubscriptionEvent.objects.filter(type="trial_ending", actor="system").count() == 1


def test_an_extended_trial_is_announced_again_for_its_new_end(trial):
    trials_notify_ending(now=at(dt.date(2026, 4, 16), 1), within=THREE_DAYS)
    subscription_extend_trial(subscription=trial.subscription, days=7, actor="ops")

    assert trials_notify_ending(now=at(dt.date(2026, 4, 17)), within=THREE_DAYS) == []
    assert len(trials_notify_ending(now=at(dt.date(2026, 4, 23), 1), within=THREE_DAYS)) == 1

    ends = [payload["data"]["trial_ends_at"][:10] for payload in notices()]
    assert ends == ["2026-04-19", "2026-04-26"]


def test_a_converted_trial_is_never_announced(trial):
    trials_end_due(now=at(dt.date(2026, 4, 19)))

    assert trials_notify_ending(now=at(dt.date(2026, 4, 18)), within=THREE_DAYS) == []
    assert notices() == []


def test_the_daily_task_tells_before_it_converts(trial, settings, monkeypatch):
    import django.utils.timezone

    monkeypatch.setattr(django.utils.timezone, "now", lambda: at(dt.date(2026, 4, 17)))
    settings.TRIAL_ENDING_NOTICE_DAYS = 3

    assert end_trials.delay().get() == []  # nothing converted yet, one notice sent
    assert len(notices()) == 1
