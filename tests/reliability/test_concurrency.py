"""Races on real PostgreSQL, through the API: each thread is its own client with its own
database connection, released at the same moment, on committed data (`transaction=True`).

The service-level races proven elsewhere (listed in docs/reliability.md) are not repeated here:
two rollups of one period, two publishes of one plan, two accepts of one drift, two syncs of
one kind, eight issues racing for numbers, a duplicate slug racing.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from decimal import Decimal

import pytest

from deployments.models import Deployment, Subscription
from invoicing.models import LLMUsageEvent, TenantInvoice, UsageRecord
from tests.catalog.concurrency import run_concurrently
from tests.conftest import TENANT_A, make_api_client
from tests.deployments.factories import make_deployment
from tests.invoicing.factories import make_invoice, seed_catalog
from tests.reliability.world import llm_event

pytestmark = pytest.mark.django_db(transaction=True)

LLM_USAGE = "/api/v1/integrations/llm-usage"


def admin():
    return make_api_client("platform-admin", ["platform_admin"], sub="ops")


def post(client, path: str, body: dict | None = None, **headers):
    return client.post(
        path, data=json.dumps(body or {}), content_type="application/json", headers=headers
    )


def event_body(deployment, request_id: str) -> dict:
    event = llm_event(deployment, request_id)
    return {
        "gateway_request_id": event.gateway_request_id,
        "deployment_id": event.deployment_id,
        "tenant_id": event.tenant_id,
        "model": event.model,
        "input_tokens": event.input_tokens,
        "output_tokens": event.output_tokens,
        "charge": str(event.charge),
        "currency": event.currency,
        "occurred_at": event.occurred_at.isoformat(),
    }


def statuses(results) -> Counter:
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors
    return Counter(response.status_code for response in results)


def test_twenty_gateway_posts_of_one_event_record_it_once_and_meter_it_once():
    deployment = make_deployment(tenant_id=TENANT_A, llm_mode="plan")
    body = event_body(deployment, "gw-req-race-1")

    def gateway_post():
        client = make_api_client("platform-admin", ["llm_gateway"], sub="gateway")
        return post(client, LLM_USAGE, body)

    results = run_concurrently(*[gateway_post for _ in range(20)])

    assert statuses(results) == {201: 1, 200: 19}
    bodies = [r.json() for r in results]
    assert sum(b["accepted"] for b in bodies) == 1
    assert sum(b["duplicates"] for b in bodies) == 19
    assert LLMUsageEvent.objects.filter(gateway_request_id="gw-req-race-1").count() == 1
    tokens = UsageRecord.objects.filter(deployment=deployment, resource_kind="llm_tokens")
    assert [row.qty for row in tokens] == [body["input_tokens"] + body["output_tokens"]]


def test_racing_posts_of_one_id_with_two_payloads_keep_one_and_refuse_the_other():
    deployment = make_deployment(tenant_id=TENANT_A, llm_mode="passthrough")
    first = event_body(deployment, "gw-req-race-2")
    other = {**first, "charge": "9.99"}
    payloads = [first if n % 2 else other for n in range(10)]

    def gateway_post(body):
        client = make_api_client("platform-admin", ["llm_gateway"], sub="gateway")
        return lambda: post(client, LLM_USAGE, body)

    results = run_concurrently(*[gateway_post(body) for body in payloads])

    assert statuses(results)[201] == 1
    stored = LLMUsageEvent.objects.get(gateway_request_id="gw-req-race-2")
    winner = first if stored.charge == Decimal(first["charge"]) else other
    for body, response in zip(payloads, results, strict=True):
        expected = {200, 201} if body is winner else {409}
        assert response.status_code in expected, (body["charge"], response.content)


def test_concurrent_issues_through_the_api_get_consecutive_unique_numbers(settings):
    settings.INVOICE_NUMBER_PREFIX = "ARC"
    drafts = [make_invoice(f"tenant-{n}") for n in range(12)]

    results = run_concurrently(
        *[lambda pk=draft.pk: post(admin(), f"/api/v1/invoices/{pk}/issue") for draft in drafts]
    )

    assert statuses(results) == {200: 12}
    year = dt.datetime.now(dt.UTC).year
    numbers = sorted(r.json()["number"] for r in results)
    assert numbers == [f"ARC-{year}-{n:06d}" for n in range(1, 13)]
    stored = dict(TenantInvoice.objects.values_list("pk", "number"))
    assert {r.json()["id"]: r.json()["number"] for r in results} == stored


def test_one_draft_issued_by_five_operators_at_once_is_issued_once_with_one_number(settings):
    settings.INVOICE_NUMBER_PREFIX = "ARC"
    draft = make_invoice(TENANT_A)
    make_invoice("tenant-later", status="draft")

    results = run_concurrently(
        *[lambda: post(admin(), f"/api/v1/invoices/{draft.pk}/issue") for _ in range(5)]
    )

    assert statuses(results) == {200: 1, 422: 4}
    draft.refresh_from_db()
    year = dt.datetime.now(dt.UTC).year
    assert draft.number == f"ARC-{year}-000001"
    later = TenantInvoice.objects.get(tenant_id="tenant-later")
    issued = post(admin(), f"/api/v1/invoices/{later.pk}/issue").json()
    assert issued["number"] == f"ARC-{year}-000002"  # no gap left by the four refusals


def test_one_idempotency_key_sent_by_eight_threads_creates_one_deployment():
    body = {"slug": "raced-shop", "display_name": "Raced"}

    def create():
        client = make_api_client(TENANT_A, ["tenant_user"], sub="alice")
        return post(client, "/api/v1/deployments", body, **{"Idempotency-Key": "create-raced-shop"})

    results = run_concurrently(*[create for _ in range(8)])

    counts = statuses(results)
    # The first creates; the others replay its 201 or, while it runs, are told to retry (409).
    assert counts[201] >= 1 and counts[201] + counts[409] == 8
    created = {r.json()["id"] for r in results if r.status_code == 201}
    assert len(created) == 1
    assert Deployment.objects.filter(tenant_id=TENANT_A, slug="raced-shop").count() == 1
    for response in results:
        if response.status_code == 409:
            assert response.json()["error"]["code"] == "idempotency_in_progress"


def test_two_subscribes_of_one_deployment_at_once_make_one_subscription():
    seed_catalog()
    deployment = make_deployment(tenant_id=TENANT_A)

    def subscribe(plan):
        client = make_api_client(TENANT_A, ["tenant_user"], sub="alice")
        return lambda: post(
            client, f"/api/v1/deployments/{deployment.pk}/subscribe", {"plan_code": plan}
        )

    results = run_concurrently(subscribe("starter"), subscribe("studio"))

    assert statuses(results) == {201: 1, 409: 1}
    subscription = Subscription.objects.get(deployment=deployment)
    winner = next(r for r in results if r.status_code == 201).json()
    assert winner["subscription"]["plan_code"] == subscription.plan_version.plan.code


def test_two_accepts_of_one_drift_through_the_api_accept_once():
    from drift.models import CloudDrift, CloudProvisioned
    from drift.services import drift_detect_all
    from tests.drift.factories import make_provisioned

    provisioned = make_provisioned(spec={"size_slug": "s-8vcpu-16gb"})
    drift_detect_all()
    drift = CloudDrift.objects.get(status="open")

    results = run_concurrently(
        *[lambda: post(admin(), f"/api/v1/drift/{drift.pk}/accept") for _ in range(2)]
    )

    assert statuses(results) == {200: 1, 409: 1}
    provisioned = CloudProvisioned.objects.get(pk=provisioned.pk)
    assert provisioned.spec_version == 2
    assert provisioned.spec["size_slug"] == "s-1vcpu-1gb"


def test_two_plan_changes_of_one_deployment_at_once_one_wins():
    """Both take the deployment and subscription locks; the second sees the first's segment
    starting on its day and is refused (409 naming `on`), so the month splits once."""
    from deployments.models import SubscriptionSegment
    from deployments.services import subscription_create

    seed_catalog()
    deployment = make_deployment(tenant_id=TENANT_A)
    subscription_create(
        deployment=deployment, plan_code="starter", starts_on=dt.date(2026, 4, 1), actor="t"
    )

    def change(plan):
        client = admin()
        return lambda: post(
            client,
            f"/api/v1/deployments/{deployment.pk}/change-plan",
            {"plan_code": plan, "addons": [], "on": "2026-04-11"},
        )

    results = run_concurrently(change("studio"), change("pro"))

    assert statuses(results) == {200: 1, 409: 1}
    loser = next(r for r in results if r.status_code == 409).json()
    assert "on" in loser["error"]["fields"]
    winner = next(r for r in results if r.status_code == 200).json()
    subscription = Subscription.objects.get(deployment=deployment)
    assert winner["subscription"]["plan_code"] == subscription.plan_version.plan.code
    assert SubscriptionSegment.objects.filter(subscription=subscription).count() == 2
