from __future__ import annotations

from rest_framework import serializers

from arcadia_cloud.parsing import PeriodField
from billing.classify import DERIVED_KINDS
from billing.models import (
    CloudBalanceSnapshot,
    CloudCostLine,
    CloudInvoice,
    MatchStatus,
)
from inventory.models import CloudResource

DEFAULT_LINE_LIMIT = 500
MAX_LINE_LIMIT = 5000
USD_FIELD = {"max_digits": 14, "decimal_places": 4, "read_only": True}


class CostLinesQuerySerializer(serializers.Serializer):
    period = PeriodField(
        help_text="The billed month: YYYY-MM or YYYY-MM-01.",
        error_messages={"required": "is required: the billed month as YYYY-MM or YYYY-MM-01."},
    )
    kind = serializers.ChoiceField(
        choices=DERIVED_KINDS, required=False, help_text="Derived DigitalOcean kind."
    )
    match_status = serializers.ChoiceField(choices=MatchStatus.choices, required=False)
    limit = serializers.IntegerField(
        required=False,
        default=DEFAULT_LINE_LIMIT,
        min_value=1,
        max_value=MAX_LINE_LIMIT,
        help_text=f"At most this many lines (default {DEFAULT_LINE_LIMIT}, max {MAX_LINE_LIMIT}).",
    )
    cursor = serializers.CharField(
        required=False,
        max_length=2048,
        help_text="Where the page starts: the `next` link of the previous page.",
    )


class InvoiceListQuerySerializer(serializers.Serializer):
    period = PeriodField(required=False, help_text="Only invoices of this month (YYYY-MM).")


class BalanceSerializer(serializers.ModelSerializer):
    month_to_date_balance = serializers.DecimalField(**USD_FIELD)
    account_balance = serializers.DecimalField(**USD_FIELD)
    month_to_date_usage = serializers.DecimalField(**USD_FIELD)
    currency = serializers.SerializerMethodField()

    class Meta:
        model = CloudBalanceSnapshot
        fields = [
            "month_to_date_balance",
            "account_balance",
            "month_to_date_usage",
            "currency",
            "generated_at",
            "fetched_at",
        ]
        read_only_fields = fields

    def get_currency(self, snapshot) -> str:
        return "USD"


class MatchedResourceSerializer(serializers.ModelSerializer):
    tenant_id = serializers.SerializerMethodField()

    class Meta:
        model = CloudResource
        fields = ["id", "kind", "provider_id", "name", "tenant_id", "deployment_id", "deleted_at"]
        read_only_fields = fields

    def get_tenant_id(self, resource) -> str | None:
        """Effective tenant: the deployment's, else the resource's own (SPEC §14)."""
        if resource.deployment_id is not None:
            return resource.deployment.tenant_id
        return resource.tenant_id


class CostLineSerializer(serializers.ModelSerializer):
    invoice_uuid = serializers.CharField(source="invoice.invoice_uuid", read_only=True)
    period = serializers.DateField(source="invoice.period", read_only=True)
    currency = serializers.CharField(source="invoice.currency", read_only=True)
    amount = serializers.DecimalField(**USD_FIELD)
    resource = MatchedResourceSerializer(read_only=True, allow_null=True)

    class Meta:
        model = CloudCostLine
        fields = [
            "id",
            "invoice_uuid",
            "period",
            "line_number",
            "product",
            "group_description",
            "description",
            "hours",
            "start_at",
            "end_at",
            "amount",
            "currency",
            "project_name",
            "category",
            "kind",
            "resource_name",
            "is_tax",
            "match_status",
            "match_code",
            "match_reason",
            "resource",
        ]
        read_only_fields = fields


class CostLinePageSerializer(serializers.Serializer):
    period = serializers.DateField()
    kind = serializers.CharField(allow_null=True)
    match_status = serializers.CharField(allow_null=True)
    limit = serializers.IntegerField()
    count = serializers.IntegerField(help_text="Lines matching the filters, on every page.")
    truncated = serializers.BooleanField(help_text="True when more lines follow this page.")
    next = serializers.URLField(
        allow_null=True, help_text="The next page, in (invoice, line) order; null on the last."
    )
    results = CostLineSerializer(many=True)


class InvoiceSerializer(serializers.ModelSerializer):
    amount = serializers.DecimalField(**USD_FIELD)
    net_amount = serializers.DecimalField(**USD_FIELD)
    tax_amount = serializers.DecimalField(**USD_FIELD)

    class Meta:
        model = CloudInvoice
        fields = [
            "id",
            "invoice_uuid",
            "invoice_id",
            "period",
            "description",
            "issued_at",
            "amount",
            "net_amount",
            "tax_amount",
            "currency",
            "lines_ingested_at",
            "line_count",
            "matched_count",
            "unmatched_count",
            "ambiguous_count",
            "pushed_to_finance_at",
            "finance_status",
            "finance_invoice_id",
            "last_error",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ReasonGroupSerializer(serializers.Serializer):
    status = serializers.CharField()
    code = serializers.CharField()
    label = serializers.CharField()
    count = serializers.IntegerField()
    amount = serializers.DecimalField(max_digits=16, decimal_places=4)
    examples = serializers.ListField(child=serializers.CharField())


class MatchReportSerializer(serializers.Serializer):
    line_count = serializers.IntegerField()
    matched = serializers.IntegerField()
    unmatched = serializers.IntegerField()
    ambiguous = serializers.IntegerField()
    groups = ReasonGroupSerializer(many=True)


class InvoiceDetailSerializer(serializers.Serializer):
    invoice = InvoiceSerializer()
    match_report = MatchReportSerializer()
