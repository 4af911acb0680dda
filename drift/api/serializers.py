from __future__ import annotations

from rest_framework import serializers

from arcadia_cloud.parsing import object_id_field
from drift.models import CloudDrift, CloudProvisioned
from drift.selectors import LIST_STATUSES
from inventory.models import CloudResource


class DriftListQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=LIST_STATUSES,
        default="open",
        help_text="`open` (the inbox, default), a resolved status for history, or `all`.",
    )
    resource = object_id_field(CloudResource, required=False, help_text="Resource id.")
    field = serializers.CharField(required=False, max_length=100, help_text="Spec field name.")


class DriftResourceSerializer(serializers.ModelSerializer):
    class Meta:
        model = CloudResource
        fields = ["id", "kind", "provider_id", "name", "region", "deleted_at"]


class DriftSerializer(serializers.ModelSerializer):
    resource = DriftResourceSerializer(read_only=True)
    expected = serializers.JSONField(read_only=True, help_text="Desired value from the spec.")
    actual = serializers.JSONField(read_only=True, help_text="Live value seen in inventory.")
    spec_version = serializers.IntegerField(
        source="resource.provisioned.spec_version",
        read_only=True,
        help_text="Current version of the resource's provisioned spec.",
    )

    class Meta:
        model = CloudDrift
        fields = [
            "id",
            "resource",
            "field",
            "expected",
            "actual",
            "status",
            "detected_at",
            "resolved_at",
            "resolved_by",
            "spec_version",
        ]
        read_only_fields = fields


class ProvisionedInputSerializer(serializers.Serializer):
    # Any JSON here: drift.rules.spec_validate is the one place a spec is judged.
    spec = serializers.JSONField(
        help_text='Desired state, a JSON object of field → value, e.g. {"size_slug": '
        '"s-2vcpu-4gb", "region": "syd1", "tags": ["web"]}. Top-level resource fields or attrs '
        "keys; `exists` (boolean) for presence."
    )


class ProvisionedSerializer(serializers.ModelSerializer):
    resource_id = serializers.IntegerField(read_only=True)
    spec = serializers.JSONField(read_only=True)

    class Meta:
        model = CloudProvisioned
        fields = ["resource_id", "spec", "spec_version", "recorded_at", "recorded_by"]
        read_only_fields = fields
