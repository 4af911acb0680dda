"""Every write of the webhooks domain: endpoints, emitting events, delivering them.

An event is emitted inside the transaction of the write it reports (`webhook_event_emit`): one
delivery row per subscribed active endpoint, queued for the `webhooks.deliver` task when that
transaction commits (a rolled-back write announces nothing). A delivery is one signed POST
(Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature`, through the
`standardwebhooks` package); a failure (timeout, refused, not 2xx) schedules the next attempt
with exponential backoff (30 s doubling, at most an hour apart) until WEBHOOK_MAX_ATTEMPTS, and
the `webhooks.retry_due` sweep sends what is due. Every attempt is logged. An endpoint whose
deliveries fail WEBHOOK_DISABLE_AFTER_FAILED_DELIVERIES times in a row is disabled, with the
reason as its notice. Delivery never runs in the emitting transaction, so a slow or failing
receiver never blocks the write or task that emitted the event.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import secrets
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from standardwebhooks import Webhook

from arcadia_cloud.celery import enqueue_on_commit
from arcadia_cloud.errors import field_error
from arcadia_cloud.tenancy import clean_tenant_id
from webhooks.events import EVENT_TYPES, PAYLOAD_VERSION
from webhooks.locks import lock_delivery_if_free, lock_endpoint
from webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webhooks.urls_check import clean_webhook_url, refusal_before_delivery

logger = logging.getLogger(__name__)

DELIVER_TASK = "webhooks.deliver"
BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 3600
SECRET_BYTES = 24
USER_AGENT = "ArcadiaCloud-Webhooks/1"


# ---------------------------------------------------------------------------------------------
# Endpoints
# ---------------------------------------------------------------------------------------------


def clean_events(value: object) -> list[str]:
    if not isinstance(value, list) or not value:
        raise field_error("events", f"a non-empty list of event types: {', '.join(EVENT_TYPES)}")
    unknown = [item for item in value if item not in EVENT_TYPES]
    if unknown:
        raise field_error(
            "events", f"unknown event type {unknown[0]!r}; known: {', '.join(EVENT_TYPES)}"
        )
    return [event for event in EVENT_TYPES if event in value]


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


@transaction.atomic
def webhook_endpoint_create(
    *, tenant_id: str, url: str, events: list[str], actor: str
) -> WebhookEndpoint:
    """A new endpoint with a fresh secret (the caller shows `endpoint.secret` once)."""
    return WebhookEndpoint.objects.create(
        tenant_id=clean_tenant_id(tenant_id),
        url=clean_webhook_url(url),
        events=clean_events(events),
        secret=new_secret(),
        created_by=actor,
    )


@transaction.atomic
def webhook_endpoint_update(
    *, endpoint: WebhookEndpoint, values: Mapping[str, Any], actor: str
) -> WebhookEndpoint:
    """Change the URL, the events or re-enable it (`is_active`: a re-enabled endpoint starts
    its failure count again)."""
    endpoint = lock_endpoint(endpoint.pk)
    fields = ["updated_at"]
    if "url" in values:
        endpoint.url = clean_webhook_url(values["url"])
        fields.append("url")
    if "events" in values:
        endpoint.events = clean_events(values["events"])
        fields.append("events")
    if "is_active" in values:
        endpoint.is_active = bool(values["is_active"])
        if endpoint.is_active:
            endpoint.disabled_reason, endpoint.failed_deliveries_in_a_row = "", 0
        else:
            endpoint.disabled_reason = f"disabled by {actor}"
        fields += ["is_active", "disabled_reason", "failed_deliveries_in_a_row"]
    endpoint.save(update_fields=fields)
    return endpoint


@transaction.atomic
def webhook_endpoint_delete(*, endpoint: WebhookEndpoint, actor: str) -> None:
    logger.info("webhook endpoint %s (%s) deleted by %s", endpoint.pk, endpoint.url, actor)
    endpoint.delete()


# ---------------------------------------------------------------------------------------------
# Events and deliveries
# ---------------------------------------------------------------------------------------------


def webhook_event_emit(
    *, tenant_id: str, event_type: str, data: Mapping[str, Any]
) -> list[WebhookDelivery]:
    """Queue `event_type` for every active endpoint of the tenant subscribed to it; sent after
    the caller's transaction commits. No endpoint: nothing is written."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    endpoints = [
        endpoint
        for endpoint in WebhookEndpoint.objects.filter(tenant_id=tenant_id, is_active=True)
        if event_type in endpoint.events
    ]
    if not endpoints:
        return []
    now = timezone.now()
    event_id = f"msg_{uuid.uuid4().hex}"
    payload = {
        "type": event_type,
        "version": PAYLOAD_VERSION,
        "timestamp": now.isoformat(),
        "tenant_id": tenant_id,
        "data": dict(data),
    }
    deliveries = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            endpoint=endpoint,
            event_id=event_id,
            event_type=event_type,
            payload=payload,
            next_attempt_at=now,
            created_at=now,
        )
        for endpoint in endpoints
    )
    for delivery in deliveries:
        enqueue_on_commit(DELIVER_TASK, delivery.pk)
    return deliveries


@transaction.atomic
def webhook_deliveries_redeliver(*, delivery_ids: Iterable[int], actor: str) -> int:
    """Send these deliveries again as new deliveries with the same event id (the receiver can
    tell a repeat); an operator's action, also for delivered ones."""
    created = 0
    for delivery in WebhookDelivery.objects.filter(pk__in=list(delivery_ids)).order_by("pk"):
        copy = WebhookDelivery.objects.create(
            endpoint=delivery.endpoint,
            event_id=delivery.event_id,
            event_type=delivery.event_type,
            payload=delivery.payload,
        )
        enqueue_on_commit(DELIVER_TASK, copy.pk)
        created += 1
    logger.info("%d webhook deliveries redelivered by %s", created, actor)
    return created


def signed_request(endpoint: WebhookEndpoint, delivery: WebhookDelivery) -> tuple[bytes, dict]:
    """The body and the Standard Webhooks headers for one attempt (signed now)."""
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True)
    sent_at = dt.datetime.fromtimestamp(int(time.time()), tz=dt.UTC)
    signature = Webhook(endpoint.secret).sign(delivery.event_id, sent_at, body)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": delivery.event_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": signature,
    }
    return body.encode(), headers


@transaction.atomic(durable=True)
def webhook_delivery_attempt(*, delivery_id: int) -> str:
    """One attempt at a pending delivery that is due; returns what became of it. A delivery
    another worker holds, or one not due yet, is left alone ("busy" / "not_due")."""
    delivery = lock_delivery_if_free(delivery_id)
    if delivery is None:
        return "busy"
    if delivery.status != DeliveryStatus.PENDING:
        return delivery.status
    now = timezone.now()
    if delivery.next_attempt_at > now:
        return "not_due"
    endpoint = delivery.endpoint
    if not endpoint.is_active:
        return _give_up(delivery, endpoint, f"endpoint disabled: {endpoint.disabled_reason}")
    status_code, error, took = _post(endpoint, delivery)
    delivery.attempts += 1
    WebhookAttempt.objects.create(
        delivery=delivery,
        number=delivery.attempts,
        status_code=status_code,
        error=error,
        duration_ms=took,
    )
    delivery.last_status_code, delivery.last_error = status_code, error
    if not error:
        delivery.status, delivery.delivered_at = DeliveryStatus.DELIVERED, timezone.now()
        _save(delivery)
        if endpoint.failed_deliveries_in_a_row:
            endpoint.failed_deliveries_in_a_row = 0
            endpoint.save(update_fields=["failed_deliveries_in_a_row", "updated_at"])
        return DeliveryStatus.DELIVERED
    if delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        return _give_up(delivery, endpoint, error)
    delivery.next_attempt_at = timezone.now() + dt.timedelta(seconds=backoff(delivery.attempts))
    _save(delivery)
    return "retrying"


def backoff(attempts: int) -> int:
    """Seconds before the next attempt after `attempts` failed ones: 30, 60, 120, … ≤ 1 h."""
    return min(BACKOFF_BASE_SECONDS * 2 ** (attempts - 1), BACKOFF_MAX_SECONDS)


def webhook_deliveries_due() -> list[int]:
    return list(
        WebhookDelivery.objects.filter(
            status=DeliveryStatus.PENDING, next_attempt_at__lte=timezone.now()
        )
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:500]
    )


def _post(endpoint: WebhookEndpoint, delivery: WebhookDelivery) -> tuple[int | None, str, int]:
    started = time.monotonic()
    refusal = refusal_before_delivery(endpoint.url)
    if refusal:
        return None, f"refused: {refusal}", 0
    body, headers = signed_request(endpoint, delivery)
    try:
        response = requests.post(
            endpoint.url,
            data=body,
            headers=headers,
            timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        return None, f"{type(exc).__name__}: {exc}"[:1000], _ms(started)
    if 200 <= response.status_code < 300:
        return response.status_code, "", _ms(started)
    return response.status_code, f"answered {response.status_code}", _ms(started)


def _give_up(delivery: WebhookDelivery, endpoint: WebhookEndpoint, error: str) -> str:
    delivery.status, delivery.last_error = DeliveryStatus.FAILED, error
    _save(delivery)
    endpoint.failed_deliveries_in_a_row += 1
    fields = ["failed_deliveries_in_a_row", "updated_at"]
    limit = settings.WEBHOOK_DISABLE_AFTER_FAILED_DELIVERIES
    if endpoint.is_active and endpoint.failed_deliveries_in_a_row >= limit:
        endpoint.is_active = False
        endpoint.disabled_reason = (
            f"disabled after {endpoint.failed_deliveries_in_a_row} failed deliveries in a row "
            f"(last: {error}); fix the receiver and re-enable it"
        )
        fields += ["is_active", "disabled_reason"]
        logger.warning("webhook endpoint %s disabled: %s", endpoint.pk, endpoint.disabled_reason)
    endpoint.save(update_fields=fields)
    return DeliveryStatus.FAILED


def _save(delivery: WebhookDelivery) -> None:
    delivery.save(
        update_fields=[
            "status",
            "attempts",
            "next_attempt_at",
            "last_status_code",
            "last_error",
            "delivered_at",
        ]
    )


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
