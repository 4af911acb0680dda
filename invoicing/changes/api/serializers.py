"""Shapes of the plan-change API (issue 20)."""

from __future__ import annotations

from rest_framework import serializers

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
