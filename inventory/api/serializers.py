from rest_framework import serializers

from inventory.models import CloudResource, CloudResourceEvent
from inventory.selectors import project_visible_to


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
        """The resource's DigitalOcean project; null for a tenant when the project is another
        tenant's (the view puts the caller in the context as `viewer_tenant_id`)."""
        if not project_visible_to(resource.project, self.context.get("viewer_tenant_id")):
            return None
        return {"id": resource.project.pk, "name": resource.project.name}


class ResourceDetailSerializer(ResourceSerializer):
    events = ResourceEventSerializer(
        source="history",
        many=True,
        read_only=True,
        help_text="Oldest first. A tenant sees only the events of the time the resource was "
        "theirs (or nobody's); platform_admin sees all.",
    )

    class Meta(ResourceSerializer.Meta):
        fields = [*ResourceSerializer.Meta.fields, "events"]
