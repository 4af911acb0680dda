"""Webhooks in the admin: endpoints (with their disabled notice) and every delivery with its
attempts; *Redeliver* sends a delivery again with the same event id."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webhooks.services import webhook_deliveries_redeliver


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = (
        "tenant_id",
        "url",
        "is_active",
        "failed_deliveries_in_a_row",
        "disabled_reason",
    )
    list_filter = ("is_active",)
    search_fields = ("=tenant_id", "url")
    readonly_fields = [f.name for f in WebhookEndpoint._meta.fields if f.name != "id"]
    exclude = ("secret",)
    actions = None

    def has_add_permission(self, request) -> bool:
        return False  # registered through the API (which shows the secret once)


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = ("number", "occurred_at", "status_code", "error", "duration_ms")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "event_type",
        "event_id",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
        "last_error",
        "created_at",
        "delivered_at",
    )
    list_filter = ("status", "event_type")
    search_fields = ("=event_id", "=endpoint__tenant_id")
    list_select_related = ("endpoint",)
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]
    inlines = [WebhookAttemptInline]
    actions = ["redeliver_selected"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_redeliver_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("webhooks.redeliver_webhook")

    @admin.action(description="Redeliver", permissions=["redeliver"])
    def redeliver_selected(self, request: HttpRequest, queryset: QuerySet):
        count = webhook_deliveries_redeliver(
            delivery_ids=list(queryset.values_list("pk", flat=True)),
            actor=f"admin:{request.user.get_username()}",
        )
        self.message_user(request, f"{count} delivery(ies) queued again.", messages.SUCCESS)
