from rest_framework import serializers

from inventory.models import CloudResource, CloudResourceEvent


class ResourceEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = CloudResourceEvent
        fields = ["id", "type", "changes", "actor", "occurred_at"]


class ResourceSerializer(serializers.ModelSerializer):
    tenant_id = serializers.CharField(source="effective_tenant_id", allow_null=True, read_only=True)
    project = serializers.SerializerMethodField()
    deployment_id = serializers.IntegerField(allow_null=True, read_only=True)

    class Meta:
        model = CloudResource
        fields = [
            "id",
            "provider",
            "kind",
            "provider_id",
            "name",
            "region",
            "size_slug",
            "status",
            "attrs",
            "tenant_id",
            "project",
            "deployment_id",
            "first_seen_at",
            "last_seen_at",
            "stale_strike_count",
            "deleted_at",
        ]

    def get_project(self, resource) -> dict | None:
        if resource.project is None:
            return None
        return {"id": resource.project.pk, "name": resource.project.name}


class ResourceDetailSerializer(ResourceSerializer):
    events = ResourceEventSerializer(many=True, read_only=True)

    class Meta(ResourceSerializer.Meta):
        fields = [*ResourceSerializer.Meta.fields, "events"]
