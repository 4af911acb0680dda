"""Webhook endpoints tenant apps register, the deliveries of each event, every attempt."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from arcadia_cloud.models import AppendOnlyModel


class WebhookEndpoint(models.Model):
    """A tenant app's receiver. The secret signs every delivery (Standard Webhooks); the API
    shows it once, when the endpoint is created."""

    tenant_id = models.CharField(max_length=200, db_index=True)
    url = models.URLField(max_length=2000)
    events = models.JSONField(default=list, help_text="Event types delivered here.")
    secret = models.CharField(max_length=100)
    is_active = models.BooleanField(default=True)
    disabled_reason = models.TextField(blank=True, default="")
    failed_deliveries_in_a_row = models.PositiveIntegerField(default=0)
    created_by = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "webhook_endpoints"
        ordering = ["tenant_id", "id"]

    def __str__(self) -> str:
        return f"{self.tenant_id}: {self.url}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # every attempt of the bounded retry window failed


class WebhookDelivery(models.Model):
    """One event for one endpoint. `event_id` is the Standard Webhooks message id (webhook-id):
    a redelivery keeps it, so the receiver can tell a repeat."""

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event_id = models.CharField(max_length=64)
    event_type = models.CharField(max_length=64)
    payload = models.JSONField()
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "webhook_deliveries"
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        default_permissions = ("view",)
        permissions = [("redeliver_webhook", "Can redeliver webhook deliveries")]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} → {self.endpoint_id} ({self.status})"


class WebhookAttempt(AppendOnlyModel):
    """Every attempt to deliver, with what the receiver answered (or why none came)."""

    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    number = models.PositiveSmallIntegerField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    duration_ms = models.PositiveIntegerField(default=0)
    occurred_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "webhook_attempts"
        ordering = ["occurred_at", "id"]
        default_permissions = ("view",)

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}: {self.status_code or self.error}"
