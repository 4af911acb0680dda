"""Webhooks (issue 21): registration and its SSRF rules, signed deliveries verified with the
Standard Webhooks reference verifier, retries with backoff, every attempt logged, endpoints that
keep failing disabled, events emitted on commit only."""

from __future__ import annotations

import datetime as dt

import pytest
import requests
import responses
from standardwebhooks import Webhook

from arcadia_cloud.validation import FieldError
from deployments.services import deployment_transition, subscription_create
from invoicing.invoices.lifecycle import invoice_issue, invoice_mark_paid
from tests.conftest import TENANT_A, TENANT_B, make_api_client
from tests.deployments.factories import make_deployment
from tests.invoicing.factories import make_invoice, seed_catalog
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webhooks.services import (
    backoff,
    webhook_deliveries_redeliver,
    webhook_delivery_attempt,
    webhook_endpoint_create,
    webhook_event_emit,
)
from webhooks.urls_check import clean_webhook_url

pytestmark = pytest.mark.django_db

URL = "https://hooks.tenant-a.example/arcadia"


def endpoint(events=("invoice.issued", "invoice.paid"), tenant_id=TENANT_A) -> WebhookEndpoint:
    return webhook_endpoint_create(tenant_id=tenant_id, url=URL, events=list(events), actor="t")


def make_due(delivery: WebhookDelivery) -> None:
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    )


# -- registration ------------------------------------------------------------------------------


def test_the_api_shows_the_secret_once():
    api = make_api_client(TENANT_A, ["tenant_user"], sub="alice")
    created = api.post("/api/v1/webhooks", {"url": URL, "events": ["invoice.paid"]}, format="json")
    assert created.status_code == 201, created.content
    secret = created.json()["secret"]
    assert secret.startswith("whsec_") and Webhook(secret)  # a key the verifier accepts
    shown = api.get(f"/api/v1/webhooks/{created.json()['id']}").json()
    assert "secret" not in shown and shown["tenant_id"] == TENANT_A
    assert "secret" not in api.get("/api/v1/webhooks").json()["results"][0]


@pytest.mark.parametrize(
    "url",
    ["not a url", "ftp://hooks.example.com/x", "https://", "https://user:pw@hooks.example.com/"],
)
def test_a_url_that_is_not_an_http_url_is_a_400_naming_url(url):
    api = make_api_client(TENANT_A, ["tenant_user"], sub="alice")
    response = api.post("/api/v1/webhooks", {"url": url, "events": ["invoice.paid"]}, format="json")
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["url"]
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://192.168.0.10:8443/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://localhost/hook",
        "https://api.localhost/hook",
    ],
)
def test_private_and_loopback_addresses_are_refused_outside_development(settings, url):
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    with pytest.raises(FieldError) as caught:
        clean_webhook_url(url)
    assert list(caught.value.fields) == ["url"]
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    assert clean_webhook_url(url) == url  # development: the demo's local receiver


def test_production_wants_https(settings):
    settings.IS_PRODUCTION = True
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    with pytest.raises(FieldError) as caught:
        clean_webhook_url("http://hooks.example.com/in")
    assert "https" in caught.value.fields["url"][0]
    assert clean_webhook_url("https://hooks.example.com/in") == "https://hooks.example.com/in"


def test_a_delivery_to_a_name_resolving_inside_is_refused(settings):
    """The check runs again before each attempt, on what the name resolves to then."""
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    hook = WebhookEndpoint.objects.create(
        tenant_id=TENANT_A,
        url="https://localhost/x",
        events=["invoice.paid"],
        secret="whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY",
    )
    (delivery,) = webhook_event_emit(tenant_id=TENANT_A, event_type="invoice.paid", data={})
    assert webhook_delivery_attempt(delivery_id=delivery.pk) == "retrying"
    assert "not a public address" in WebhookAttempt.objects.get().error
    assert hook.pk


def test_unknown_events_are_a_400_naming_events():
    api = make_api_client(TENANT_A, ["tenant_user"], sub="alice")
    response = api.post(
        "/api/v1/webhooks", {"url": URL, "events": ["invoice.eaten"]}, format="json"
    )
    assert response.status_code == 400 and "events" in str(response.json()["error"]["fields"])


# -- delivery ----------------------------------------------------------------------------------


@responses.activate
def test_an_issued_invoice_is_delivered_signed_and_verifies(django_capture_on_commit_callbacks):
    hook = endpoint()
    endpoint(tenant_id=TENANT_B)  # B's endpoint hears nothing of A's invoice
    responses.add(responses.POST, URL, status=204)
    with django_capture_on_commit_callbacks(execute=True):
        invoice = invoice_issue(invoice=make_invoice(TENANT_A), actor="ops")

    (call,) = responses.calls
    payload = Webhook(hook.secret).verify(call.request.body, dict(call.request.headers))
    assert payload["type"] == "invoice.issued" and payload["version"]
    assert payload["data"]["number"] == invoice.number
    assert payload["data"]["due_on"] == invoice.due_on.isoformat()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("delivered", 1)
    assert call.request.headers["webhook-id"] == delivery.event_id
    with pytest.raises(Exception, match="signature"):
        Webhook(endpoint().secret).verify(call.request.body, dict(call.request.headers))


def test_a_rolled_back_write_announces_nothing(django_capture_on_commit_callbacks):
    endpoint()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        invoice_issue(invoice=make_invoice(TENANT_A), actor="ops")
    # Queued for after the commit, not sent inside the write (beside the finance receivable).
    assert len([c for c in callbacks if "webhooks.deliver" in c.__qualname__]) == 1


@responses.activate
def test_failures_are_retried_with_backoff_then_given_up_and_logged(settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    endpoint()
    responses.add(responses.POST, URL, status=500)
    responses.add(responses.POST, URL, body=requests.ConnectTimeout("timed out"))
    responses.add(responses.POST, URL, status=503)
    (delivery,) = webhook_event_emit(tenant_id=TENANT_A, event_type="invoice.paid", data={"x": 1})

    assert webhook_delivery_attempt(delivery_id=delivery.pk) == "retrying"
    delivery.refresh_from_db()
    assert webhook_delivery_attempt(delivery_id=delivery.pk) == "not_due"  # backoff holds it
    make_due(delivery)
    assert webhook_delivery_attempt(delivery_id=delivery.pk) == "retrying"
    make_due(delivery)
    assert webhook_delivery_attempt(delivery_id=delivery.pk) == "failed"

    attempts = list(WebhookAttempt.objects.order_by("number").values_list("status_code", "error"))
    assert attempts[0] == (500, "answered 500")
    assert attempts[1][0] is None and "ConnectTimeout" in attempts[1][1]
    assert attempts[2] == (503, "answered 503")
    assert [backoff(n) for n in (1, 2, 3, 10)] == [30, 60, 120, 3600]


@responses.activate
def test_an_endpoint_that_keeps_failing_is_disabled_with_a_notice(settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    settings.WEBHOOK_DISABLE_AFTER_FAILED_DELIVERIES = 2
    hook = endpoint()
    responses.add(responses.POST, URL, status=500)
    for _ in range(2):
        (delivery,) = webhook_event_emit(tenant_id=TENANT_A, event_type="invoice.paid", data={})
        assert webhook_delivery_attempt(delivery_id=delivery.pk) == "failed"
    hook.refresh_from_db()
    assert not hook.is_active and "2 failed deliveries in a row" in hook.disabled_reason
    assert webhook_event_emit(tenant_id=TENANT_A, event_type="invoice.paid", data={}) == []


@responses.activate
def test_redeliver_sends_the_same_event_id_again():
    hook = endpoint()
    responses.add(responses.POST, URL, status=200)
    (delivery,) = webhook_event_emit(tenant_id=TENANT_A, event_type="invoice.paid", data={})
    webhook_delivery_attempt(delivery_id=delivery.pk)
    assert webhook_deliveries_redeliver(delivery_ids=[delivery.pk], actor="ops") == 1
    again = WebhookDelivery.objects.exclude(pk=delivery.pk).get()
    webhook_delivery_attempt(delivery_id=again.pk)
    first, second = responses.calls
    assert first.request.headers["webhook-id"] == second.request.headers["webhook-id"]
    Webhook(hook.secret).verify(second.request.body, dict(second.request.headers))


@responses.activate
def test_a_paid_invoice_and_a_state_change_are_events(django_capture_on_commit_callbacks):
    endpoint(events=("invoice.paid", "deployment.state_changed"))
    responses.add(responses.POST, URL, status=200)
    invoice = invoice_issue(invoice=make_invoice(TENANT_A), actor="ops")  # not subscribed
    with django_capture_on_commit_callbacks(execute=True):
        invoice_mark_paid(invoice=invoice, actor="finance")
        deployment_transition(
            deployment=make_deployment(tenant_id=TENANT_A),
            to_state="paused",
            actor="ops",
            reason="holiday",
            by_tenant=False,
        )
    types = sorted(WebhookDelivery.objects.values_list("event_type", "status"))
    assert types == [("deployment.state_changed", "delivered"), ("invoice.paid", "delivered")]
    change = WebhookDelivery.objects.get(event_type="deployment.state_changed").payload["data"]
    assert (change["from_state"], change["to_state"], change["reason"]) == (
        "active",
        "paused",
        "holiday",
    )


def test_a_subscription_change_is_an_event():
    endpoint(events=("subscription.changed",))
    seed_catalog()
    deployment = make_deployment(tenant_id=TENANT_A)
    subscription_create(deployment=deployment, plan_code="studio", actor="ops")
    delivery = WebhookDelivery.objects.get()
    assert delivery.event_type == "subscription.changed"
    assert delivery.payload["data"]["change"] == "created"
    assert delivery.payload["data"]["deployment_id"] == deployment.pk


def test_the_invoice_api_shows_the_due_date():
    invoice = invoice_issue(invoice=make_invoice(TENANT_A), actor="ops")
    api = make_api_client(TENANT_A, ["tenant_user"], sub="alice")
    body = api.get(f"/api/v1/invoices/{invoice.pk}").json()
    assert body["due_on"] == invoice.due_on.isoformat()


@pytest.mark.parametrize("url", [123, None, ["https://x.example"], "https://10.0.0.1/x"])
def test_changing_the_url_to_a_bad_one_is_a_400_naming_url_and_changes_nothing(settings, url):
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    hook = endpoint()
    api = make_api_client(TENANT_A, ["tenant_user"], sub="alice")
    response = api.patch(f"/api/v1/webhooks/{hook.pk}", {"url": url}, format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()["error"]["fields"]) == ["url"]
    hook.refresh_from_db()
    assert hook.url == URL


def test_re_enabling_an_endpoint_clears_its_notice():
    hook = endpoint()
    WebhookEndpoint.objects.filter(pk=hook.pk).update(
        is_active=False,
        disabled_reason="disabled after 5 failed deliveries",
        failed_deliveries_in_a_row=5,
    )
    api = make_api_client(TENANT_A, ["tenant_user"], sub="alice")
    body = api.patch(f"/api/v1/webhooks/{hook.pk}", {"is_active": True}, format="json").json()
    assert (body["is_active"], body["disabled_reason"], body["failed_deliveries_in_a_row"]) == (
        True,
        "",
        0,
    )
