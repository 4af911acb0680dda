from __future__ import annotations

from rest_framework import serializers

from webhooks.events import EVENT_TYPES
from webhooks.models import WebhookEndpoint


class WebhookEndpointSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "tenant_id",
            "url",
            "events",
            "is_active",
            "disabled_reason",
            "failed_deliveries_in_a_row",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    """The create response: the only time the signing secret is shown."""

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class WebhookEndpointCreateSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=2000, help_text="https URL of the receiver.")
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_TYPES), allow_empty=False, max_length=20
    )
    tenant_id = serializers.CharField(
        required=False, max_length=200, help_text="platform_admin only: the tenant it is for."
    )


class WebhookEndpointUpdateSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=2000, required=False)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_TYPES),
        allow_empty=False,
        max_length=20,
        required=False,
    )
    is_active = serializers.BooleanField(required=False)
