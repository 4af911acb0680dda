"""Catalog API shapes: money as integer cents, quantities as exact decimal strings."""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from arcadia_cloud.money import QTY_DECIMAL_PLACES, QTY_MAX_DIGITS, format_decimal
from arcadia_cloud.parsing import column_integer_field
from catalog.models import Addon, Plan, PlanItem, PlanVersion
from catalog.services import PlanItemInput
from pricing import kinds as billing_kinds
from pricing.sizes import parse_scopes


class QuantityField(serializers.DecimalField):
    """An exact, non-negative quantity; rendered without storage padding ("744", "0.5")."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", Decimal(0))
        super().__init__(max_digits=QTY_MAX_DIGITS, decimal_places=QTY_DECIMAL_PLACES, **kwargs)

    def to_representation(self, value):
        return None if value is None else format_decimal(value)


CurrencyField = extend_schema_field({"type": "string", "pattern": "^[A-Z]{3}$", "example": "AUD"})(
    serializers.RegexField
)


def currency_field(**kwargs) -> serializers.RegexField:
    return CurrencyField(
        r"^[A-Z]{3}$",
        max_length=3,
        error_messages={"invalid": "must be an ISO 4217 code: three upper-case letters (AUD)"},
        **kwargs,
    )


# ---------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------


class SizeScopesField(serializers.ListField):
    """A list of size scopes; a plan item stores them comma-separated."""

    def to_representation(self, data):
        if isinstance(data, str):
            data = parse_scopes(data)
        return super().to_representation(data)


class PlanItemSerializer(serializers.Serializer):
    resource_kind = serializers.ChoiceField(choices=billing_kinds.choices())
    included_qty = QuantityField()
    overage_unit = serializers.ChoiceField(
        choices=billing_kinds.unit_choices(),
        required=False,
        allow_null=True,
        help_text="defaults to the kind's overage unit (1k_tokens for llm_tokens)",
    )
    overage_price_cents = column_integer_field(PlanItem, "overage_price_cents", min_value=0)
    hard_cap_qty = QuantityField(required=False, allow_null=True, default=None)
    allowance_sizes = SizeScopesField(
        child=serializers.CharField(max_length=64),
        required=False,
        default=list,
        max_length=20,
        help_text="issue 18: the sizes the allowance covers (slugs, or family prefixes ending "
        "in '-' such as 's-'); empty: every size. Other sizes are priced by their size price.",
    )
    allowance_max_memory_mb = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=1,
        max_value=2**31 - 1,
        help_text="issue 18: the most memory (MB) a covered size may have, e.g. 4096",
    )


class PlanVersionSerializer(serializers.ModelSerializer):
    plan_code = serializers.CharField(source="plan.code", read_only=True)
    items = PlanItemSerializer(many=True, read_only=True)

    class Meta:
        model = PlanVersion
        fields = [
            "id",
            "plan_code",
            "number",
            "status",
            "base_price_cents",
            "currency",
            "published_at",
            "retired_at",
            "items",
        ]
        read_only_fields = fields


class PlanSerializer(serializers.ModelSerializer):
    """A plan with the version a new signup gets (null until one is published)."""

    active_version = serializers.SerializerMethodField()

    class Meta:
        model = Plan
        fields = ["code", "name", "description", "active_version"]

    @extend_schema_field(PlanVersionSerializer(allow_null=True))
    def get_active_version(self, plan: Plan) -> dict | None:
        active = getattr(plan, "active_versions", None)
        if not active:
            return None
        return PlanVersionSerializer(active[0], context=self.context).data


class PlanDetailSerializer(serializers.ModelSerializer):
    """A plan with every version the caller may see, newest first."""

    versions = PlanVersionSerializer(source="visible_versions", many=True, read_only=True)

    class Meta:
        model = Plan
        fields = ["code", "name", "description", "versions"]


class AddonSerializer(serializers.ModelSerializer):
    qty = QuantityField(read_only=True)

    class Meta:
        model = Addon
        fields = ["code", "name", "resource_kind", "qty", "price_cents", "currency", "is_active"]
        read_only_fields = fields


# ---------------------------------------------------------------------------------------------
# Input
# ---------------------------------------------------------------------------------------------


class PlanCreateSerializer(serializers.Serializer):
    code = serializers.SlugField(max_length=50)
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")


class PlanItemsSerializer(serializers.Serializer):
    items = PlanItemSerializer(many=True, allow_empty=True)


class PlanVersionCreateSerializer(PlanItemsSerializer):
    base_price_cents = column_integer_field(PlanVersion, "base_price_cents", min_value=0)
    currency = currency_field()


class AddonCreateSerializer(serializers.Serializer):
    code = serializers.SlugField(max_length=50)
    name = serializers.CharField(max_length=200)
    resource_kind = serializers.ChoiceField(choices=billing_kinds.choices())
    qty = QuantityField()
    price_cents = column_integer_field(Addon, "price_cents", min_value=0)
    currency = currency_field()
    is_active = serializers.BooleanField(required=False, default=True)


def item_inputs(validated: dict) -> list[PlanItemInput]:
    """The service's input type for each validated item."""
    return [PlanItemInput(**item) for item in validated["items"]]
