"""Shapes of the plan-change API (issue 20)."""

from __future__ import annotations

from rest_framework import serializers

from arcadia_cloud.parsing import object_id_field
from catalog.models import PlanVersion
from deployments.services import ChangeEffective


class ChangePlanSerializer(serializers.Serializer):
    plan_code = serializers.CharField(max_length=50)
    addons = serializers.ListField(
        child=serializers.CharField(max_length=50),
        required=False,
        allow_null=True,
        default=None,
        max_length=50,
        help_text="the add-on codes wanted after the change; omitted or null: keep the attached",
    )
    effective = serializers.ChoiceField(
        choices=[(value, value) for value in ChangeEffective.CHOICES],
        default=ChangeEffective.NOW,
    )
    on = serializers.DateField(
        required=False,
        allow_null=True,
        default=None,
        help_text="operators only: the day an immediate change takes effect (default today)",
    )


class PriceSerializer(serializers.Serializer):
    currency = serializers.CharField()
    subtotal_cents = serializers.IntegerField()
    tax_cents = serializers.IntegerField()
    total_cents = serializers.IntegerField()
    lines = serializers.ListField(child=serializers.DictField())


class ChangePreviewSerializer(serializers.Serializer):
    effective_on = serializers.DateField()
    month = serializers.CharField()
    through = serializers.DateField()
    before = PriceSerializer(allow_null=True)
    after = PriceSerializer(allow_null=True)
    difference_cents = serializers.IntegerField()


class MigrateSerializer(serializers.Serializer):
    to_version = object_id_field(PlanVersion, help_text="an active version of the plan")
    effective = serializers.ChoiceField(
        choices=[(value, value) for value in ChangeEffective.CHOICES],
        default=ChangeEffective.PERIOD_END,
    )
    on = serializers.DateField(
        required=False,
        allow_null=True,
        default=None,
        help_text="for an immediate move: the day it takes effect (default today)",
    )
    preview = serializers.BooleanField(
        default=False, help_text="do it, price the per-tenant effect, roll back"
    )


class MigratedSerializer(serializers.Serializer):
    subscription_id = serializers.IntegerField()
    tenant_id = serializers.CharField()
    deployment = serializers.CharField()
    reason = serializers.CharField(required=False)


class TenantEffectSerializer(serializers.Serializer):
    tenant_id = serializers.CharField()
    month = serializers.CharField()
    before_total_cents = serializers.IntegerField()
    after_total_cents = serializers.IntegerField()
    difference_cents = serializers.IntegerField()


class MigrationSerializer(serializers.Serializer):
    from_version = serializers.IntegerField()
    to_version = serializers.IntegerField()
    effective = serializers.CharField()
    effective_on = serializers.DateField()
    preview = serializers.BooleanField()
    moved = MigratedSerializer(many=True)
    failed = MigratedSerializer(many=True)
    tenants = TenantEffectSerializer(many=True)
