"""Input and output of the adjustment-note endpoints."""

from __future__ import annotations

from rest_framework import serializers

from invoicing.credit_notes.services import MAX_LINES, MAX_REASON_LENGTH
from invoicing.models import CreditNote, CreditNoteLine, CreditNoteSettlement

MAX_CENTS = 10**15


class CreditNoteLineSerializer(serializers.ModelSerializer):
    invoice_line_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = CreditNoteLine
        fields = ["position", "invoice_line_id", "description", "amount_cents"]
        read_only_fields = fields


class CreditNoteSerializer(serializers.ModelSerializer):
    invoice_id = serializers.IntegerField(read_only=True)
    invoice_number = serializers.CharField(source="invoice.number", read_only=True)
    lines = CreditNoteLineSerializer(many=True, read_only=True)

    class Meta:
        model = CreditNote
        fields = [
            "id",
            "number",
            "invoice_id",
            "invoice_number",
            "tenant_id",
            "currency",
            "reason",
            "settlement",
            "subtotal_cents",
            "tax_cents",
            "total_cents",
            "refund_reference",
            "refunded_on",
            "issued_at",
            "lines",
        ]
        read_only_fields = fields


class CreditLineInputSerializer(serializers.Serializer):
    line_id = serializers.IntegerField(min_value=1, max_value=2**62)
    amount_cents = serializers.IntegerField(
        min_value=1,
        max_value=MAX_CENTS,
        required=False,
        help_text="Ex-GST cents to credit of the line; omitted: all that is left of it.",
    )


class CreditNoteCreateSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=MAX_REASON_LENGTH)
    settlement = serializers.ChoiceField(
        choices=CreditNoteSettlement.choices, default=CreditNoteSettlement.CREDIT
    )
    lines = CreditLineInputSerializer(
        many=True,
        required=False,
        max_length=MAX_LINES,
        help_text="The lines to credit; omitted: everything still creditable on the invoice.",
    )
    refund_reference = serializers.CharField(
        max_length=200, required=False, default="", allow_blank=True
    )
    refunded_on = serializers.DateField(required=False, default=None, allow_null=True)
