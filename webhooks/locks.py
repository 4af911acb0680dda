"""Locks of the webhooks domain, taken here and nowhere else: an endpoint row (changing it) and a
delivery row (attempting it: SKIP LOCKED, after the transaction that emitted the event has
committed). Each is taken alone, so neither waits on, or holds up, another domain's lock."""

from __future__ import annotations

from webhooks.models import WebhookDelivery, WebhookEndpoint


def lock_delivery_if_free(delivery_id: int) -> WebhookDelivery | None:
    """The delivery locked, or None when another worker is delivering it (or it is gone)."""
    return (
        WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("endpoint")
        .filter(pk=delivery_id)
        .first()
    )


def lock_endpoint(endpoint_id: int) -> WebhookEndpoint:
    return WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
