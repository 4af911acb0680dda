"""Locks of the webhooks domain, taken here and nowhere else. A delivery row is the only lock:
taken alone (SKIP LOCKED), after the transaction that emitted the event has committed, so it
never waits on, or holds up, any other domain's lock."""

from __future__ import annotations

from webhooks.models import WebhookDelivery


def lock_delivery_if_free(delivery_id: int) -> WebhookDelivery | None:
    """The delivery locked, or None when another worker is delivering it (or it is gone)."""
    return (
        WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("endpoint")
        .filter(pk=delivery_id)
        .first()
    )
