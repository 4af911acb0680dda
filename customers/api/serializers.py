"""Input and output of the billing-profile endpoint."""

from __future__ import annotations

from rest_framework import serializers

from customers.models import MAX_BILLING_EMAILS, MAX_PAYMENT_TERMS_DAYS


class BillingProfileSerializer(serializers.Serializer):
    tenant_id = serializers.CharField(read_only=True)
    exists = serializers.BooleanField(
        read_only=True, help_text="False until the profile is first saved (all fields empty)."
    )
    legal_name = serializers.CharField(max_length=200)
    abn = serializers.CharField(
        max_length=40,
        allow_blank=True,
        required=False,
        default="",
        help_text="Australian Business Number; any spacing in, 11 digits out.",
    )
    address = serializers.CharField(max_length=1000, allow_blank=True, required=False, default="")
    billing_emails = serializers.ListField(
        child=serializers.CharField(max_length=254),
        max_length=MAX_BILLING_EMAILS,
        required=False,
        default=list,
    )
    payment_terms_days = serializers.IntegerField(
        min_value=0,
        max_value=MAX_PAYMENT_TERMS_DAYS,
        allow_null=True,
        required=False,
        default=None,
        help_text="Days from issue to due date; null: the platform's default.",
    )
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)


class BillingProfileQuerySerializer(serializers.Serializer):
    tenant_id = serializers.CharField(max_length=200, required=False, allow_blank=True)
