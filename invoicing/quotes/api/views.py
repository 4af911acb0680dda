"""POST /api/v1/quote — a tenant's price preview (SPEC §10)."""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from arcadia_cloud.clock import utc_today
from arcadia_cloud.parsing import parse_input
from arcadia_cloud.validation import FieldError, clean_qty
from invoicing.quotes.services import quote_preview
from pricing import kinds as billing_kinds

MAX_QTY = Decimal("1e15")


class ProjectedUsageField(serializers.DictField):
    """{billing kind: non-negative quantity}; each bad entry is named by its kind."""

    child = serializers.CharField()  # documentation only; values are checked below

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError("must be an object of {billing_kind: quantity}")
        usage, errors = {}, {}
        for kind, raw in data.items():
            if not billing_kinds.is_billing_kind(kind):
                known = ", ".join(billing_kinds.BILLING_KINDS)
                errors[kind] = [f"{kind!r} is not a billing kind; known kinds: {known}"]
                continue
            try:
                usage[kind] = clean_qty(kind, raw, maximum=MAX_QTY)
            except FieldError as exc:
                errors[kind] = [exc.message]
        if errors:
            raise serializers.ValidationError(errors)
        return usage


class ProjectedUsageBySizeField(serializers.DictField):
    """{billing kind: {size slug: non-negative quantity}}; each bad entry named by its path."""

    child = serializers.DictField(child=serializers.CharField())  # documentation only

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError(
                "must be an object of {billing_kind: {size_slug: quantity}}"
            )
        usage, errors = {}, {}
        for kind, by_size in data.items():
            if not billing_kinds.is_billing_kind(kind):
                known = ", ".join(billing_kinds.BILLING_KINDS)
                errors[kind] = [f"{kind!r} is not a billing kind; known kinds: {known}"]
                continue
            if not isinstance(by_size, dict) or not by_size:
                errors[kind] = ["must be a non-empty object of {size_slug: quantity}"]
                continue
            sizes, bad = {}, {}
            for slug, raw in by_size.items():
                try:
                    sizes[slug] = clean_qty(slug, raw, maximum=MAX_QTY)
                except FieldError as exc:
                    bad[slug] = [exc.message]
            if bad:
                errors[kind] = bad
            usage[kind] = sizes
        if errors:
            raise serializers.ValidationError(errors)
        return usage


class QuoteRequestSerializer(serializers.Serializer):
    plan_code = serializers.CharField(max_length=64)
    addons = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, default=list, max_length=50
    )
    projected_usage = ProjectedUsageField(required=False, default=dict)
    projected_usage_by_size = ProjectedUsageBySizeField(
        required=False,
        default=dict,
        help_text=(
            "For kinds priced by size (issue 18): the projected usage split by DigitalOcean size "
            "slug, priced size by size as the invoice prices metered usage. A kind given here "
            "need not be in projected_usage; if it is, its sizes must add up to it."
        ),
    )
    starts_on = serializers.DateField(required=False, allow_null=True, default=None)


_LINE = inline_serializer(
    "QuoteLine",
    {
        "kind": serializers.CharField(),
        "resource_kind": serializers.CharField(allow_null=True),
        "description": serializers.CharField(),
        "qty": serializers.CharField(),
        "unit": serializers.CharField(),
        "unit_price_cents": serializers.IntegerField(),
        "amount_cents": serializers.IntegerField(),
        "meta": serializers.DictField(),
    },
)
_SECTION = {"lines": serializers.ListField(child=_LINE), "total_cents": serializers.IntegerField()}


class QuoteView(APIView):
    """Any authenticated caller: what a plan would cost (first invoice, month, overage)."""

    @extend_schema(
        tags=["quote"],
        request=QuoteRequestSerializer,
        responses=inline_serializer(
            "Quote",
            {
                "plan_code": serializers.CharField(),
                "plan_version": serializers.IntegerField(),
                "currency": serializers.CharField(),
                "recurring": inline_serializer("QuoteRecurring", _SECTION),
                "first_invoice": inline_serializer(
                    "QuoteFirstInvoice", {"fraction": serializers.CharField(), **_SECTION}
                ),
                "overage": inline_serializer("QuoteOverage", _SECTION),
                "all_in_monthly_cents": serializers.IntegerField(),
                "warnings": serializers.ListField(child=serializers.CharField()),
            },
        ),
        examples=[
            OpenApiExample(
                "studio with 50 GB storage, starting 20 May",
                request_only=True,
                value={
                    "plan_code": "studio",
                    "addons": ["storage_50gb"],
                    "projected_usage": {
                        "droplet_hours": 1488,
                        "spaces_gb_month": 200,
                        "llm_tokens": 1500000,
                    },
                    "starts_on": "2026-05-20",
                },
            ),
            OpenApiExample(
                "studio with a large droplet and a GPU droplet all month, by size",
                request_only=True,
                value={
                    "plan_code": "studio",
                    "projected_usage_by_size": {
                        "droplet_hours": {"s-1vcpu-1gb": 720, "m-24vcpu-192gb": 720},
                        "gpu_droplet_hours": {"gpu-h100x1-80gb": 720},
                    },
                },
            ),
        ],
    )
    def post(self, request):
        data = parse_input(QuoteRequestSerializer, request.data)
        result = quote_preview(
            plan_code=data["plan_code"],
            addon_codes=data["addons"],
            projected_usage=data["projected_usage"],
            projected_usage_by_size=data["projected_usage_by_size"],
            starts_on=data["starts_on"],
            today=utc_today(),
        )
        return Response(result.to_dict())
