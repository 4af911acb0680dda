"""Input and output of the tenant-invoice endpoints (SPEC §13)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from arcadia_cloud.money import format_decimal
from invoicing.invoices.exports import ExportFormat
from invoicing.invoices.lifecycle import MAX_REASON_LENGTH
from invoicing.models import TenantInvoice, TenantInvoiceLine


class TenantInvoiceLineSerializer(serializers.ModelSerializer):
    deployment_id = serializers.IntegerField(allow_null=True, read_only=True)
    deployment = serializers.SerializerMethodField(help_text="The deployment's slug, or null.")
    subscription_id = serializers.IntegerField(allow_null=True, read_only=True)
    qty = serializers.SerializerMethodField(help_text="Exact quantity in `unit`, as a string.")
    meta = serializers.JSONField(help_text="What explains amount_cents (allowance, fraction...).")

    class Meta:
        model = TenantInvoiceLine
        fields = [
            "position",
            "kind",
            "deployment_id",
            "deployment",
            "subscription_id",
            "resource_kind",
            "description",
            "qty",
            "unit",
            "unit_price_cents",
            "amount_cents",
            "meta",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_deployment(self, line: TenantInvoiceLine) -> str | None:
        return line.deployment.slug if line.deployment else None

    @extend_schema_field(OpenApiTypes.STR)
    def get_qty(self, line: TenantInvoiceLine) -> str:
        return format_decimal(line.qty)


class TenantInvoiceSerializer(serializers.ModelSerializer):
    """An invoice with its lines (position order, the tax line last), in lists and alone."""

    lines = TenantInvoiceLineSerializer(many=True, read_only=True)
    credited_cents = serializers.SerializerMethodField(
        help_text="What the invoice's adjustment notes credit, GST-inclusive."
    )
    net_cents = serializers.SerializerMethodField(
        help_text="total_cents less what its adjustment notes credit."
    )
    amount_due_cents = serializers.IntegerField(
        read_only=True, help_text="total_cents less the credit it consumes (credit_cents)."
    )

    class Meta:
        model = TenantInvoice
        fields = [
            "id",
            "number",
            "tenant_id",
            "period_start",
            "period_end",
            "currency",
            "status",
            "subtotal_cents",
            "tax_cents",
            "total_cents",
            "credit_cents",
            "amount_due_cents",
            "credited_cents",
            "net_cents",
            "due_on",
            "issued_at",
            "paid_at",
            "voided_at",
            "void_reason",
            "generated_at",
            "lines",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.INT)
    def get_credited_cents(self, invoice: TenantInvoice) -> int:
        return _credited(invoice)

    @extend_schema_field(OpenApiTypes.INT)
    def get_net_cents(self, invoice: TenantInvoice) -> int:
        return invoice.total_cents - _credited(invoice)


def _credited(invoice: TenantInvoice) -> int:
    """From the list's annotation (`invoices_list`); one query when the invoice came without."""
    credited = getattr(invoice, "credited_cents", None)
    if credited is None:
        credited = sum(invoice.credit_notes.values_list("total_cents", flat=True))
    return credited


class InvoiceVoidSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=MAX_REASON_LENGTH,
        allow_blank=True,
        required=False,
        default="",
        help_text="Required: why the invoice is void (kept on the invoice and its history).",
    )


class InvoiceMarkPaidSerializer(serializers.Serializer):
    paid_at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        default=None,
        help_text="When the payment arrived (default: now): not before the invoice's issue day "
        "(UTC) and not in the future (INVOICE_PAID_AT_LEEWAY_SECONDS, default 300 s, of leeway).",
    )


class InvoiceExportOptionsSerializer(serializers.Serializer):
    format = serializers.ChoiceField(
        choices=[choice.value for choice in ExportFormat],
        error_messages={"invalid_choice": "{input!r} is not an export format; use csv or xlsx"},
    )
    lines = serializers.BooleanField(
        required=False, default=False, help_text="1: one row per invoice line."
    )
