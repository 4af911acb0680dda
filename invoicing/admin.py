"""Metering and LLM usage in the operators' admin.

Usage records and LLM events are evidence for invoices: read-only here. Metering config is the
one thing operators edit (granularity and retention per billing kind).
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from invoicing.models import LLMUsageEvent, MeteringConfig, UsageRecord


class ReadOnlyAdmin(admin.ModelAdmin):
    # Tables of millions of rows: no exact COUNT(*) on every page, and newest first by primary
    # key (rows arrive roughly in time order) rather than a sort no index serves.
    show_full_result_count = False
    ordering = ("-id",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(UsageRecord)
class UsageRecordAdmin(ReadOnlyAdmin):
    list_display = (
        "period_start",
        "deployment",
        "resource_kind",
        "resource",
        "qty",
        "granularity",
        "source",
    )
    list_filter = ("resource_kind", "source", "granularity")
    list_select_related = ("deployment", "resource")
    date_hierarchy = "period_start"
    search_fields = ("deployment__slug", "deployment__tenant_id", "resource__name")
    raw_id_fields = ("deployment", "resource")


@admin.register(MeteringConfig)
class MeteringConfigAdmin(admin.ModelAdmin):
    list_display = ("billing_kind", "granularity", "retention_days", "updated_at")
    list_editable = ("granularity", "retention_days")
    readonly_fields = ("updated_at",)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        # A kind without a row falls back to the defaults; deleting one would silently reset it.
        return False


@admin.register(LLMUsageEvent)
class LLMUsageEventAdmin(ReadOnlyAdmin):
    list_display = (
        "gateway_request_id",
        "deployment",
        "tenant_id",
        "model",
        "input_tokens",
        "output_tokens",
        "charge",
        "currency",
        "billed_as",
        "occurred_at",
        "received_at",
    )
    list_filter = ("model", "currency", "billed_as")
    list_select_related = ("deployment",)
    search_fields = ("=gateway_request_id",)
    date_hierarchy = "occurred_at"
    raw_id_fields = ("deployment",)
