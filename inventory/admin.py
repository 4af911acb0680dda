from django.contrib import admin, messages
from django.utils.html import format_html

from arcadia_cloud.admin_helpers import ReadOnlyAdminMixin, admin_actor
from arcadia_cloud.errors import CALLER_ERRORS
from arcadia_cloud.tenancy import validate_tenant_id
from inventory.models import (
    CloudProject,
    CloudResource,
    CloudResourceEvent,
    ResourceMeasurement,
    SyncStatus,
)
from inventory.services import (
    project_classify,
    resources_attach_to_deployment,
    resources_detach_from_deployment,
)


@admin.register(CloudProject)
class CloudProjectAdmin(admin.ModelAdmin):
    """Operators classify projects here: tenant_id and purpose are theirs; the rest is mirrored."""

    list_display = ("name", "tenant_id", "purpose", "is_default", "resource_count", "updated_at")
    list_filter = ("purpose", "is_default")
    list_editable = ("tenant_id", "purpose")
    search_fields = ("name", "provider_id", "tenant_id")
    readonly_fields = (
        "provider",
        "provider_id",
        "name",
        "description",
        "is_default",
        "created_at",
        "updated_at",
    )
    fields = (
        "name",
        "tenant_id",
        "purpose",
        "description",
        "is_default",
        "provider",
        "provider_id",
        "created_at",
        "updated_at",
    )

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "tenant_id":
            field.validators.append(validate_tenant_id)  # the service's rule, shown on the form
        return field

    @admin.display(description="live resources")
    def resource_count(self, project):
        return project.resources.filter(deleted_at__isnull=True).count()

    def save_model(self, request, obj, form, change):
        result = project_classify(
            project=obj,
            tenant_id=form.cleaned_data.get("tenant_id"),
            purpose=form.cleaned_data.get("purpose", obj.purpose),
            actor=admin_actor(request),
        )
        if result.attributed:
            messages.info(request, f"{obj.name}: {result.attributed} resources re-attributed.")


class CloudResourceEventInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = CloudResourceEvent
    fields = ("occurred_at", "type", "actor", "changes")
    readonly_fields = fields
    extra = 0
    ordering = ("-occurred_at", "-id")


class DeletedFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return (("live", "live"), ("deleted", "tombstoned"), ("striking", "missing from a sync"))

    def queryset(self, request, queryset):
        if self.value() == "live":
            return queryset.filter(deleted_at__isnull=True)
        if self.value() == "deleted":
            return queryset.filter(deleted_at__isnull=False)
        if self.value() == "striking":
            return queryset.filter(deleted_at__isnull=True, stale_strike_count__gt=0)
        return queryset


@admin.register(CloudResource)
class CloudResourceAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "kind",
        "region",
        "size_slug",
        "status",
        "tenant_id",
        "project",
        "deployment",
        "state_badge",
        "last_seen_at",
    )
    list_filter = ("kind", DeletedFilter, "project", "tenant_id", "region")
    search_fields = ("name", "provider_id")
    list_select_related = ("project", "deployment")
    readonly_fields = [f.name for f in CloudResource._meta.fields if f.name != "deployment"]
    inlines = [CloudResourceEventInline]
    list_per_page = 100
    # "Attach to a deployment…" is added by the deployments admin (deployments/admin.py), the
    # floor above: inventory never imports the deployments app.

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        """The one editable field, `deployment`, goes through the inventory services: the
        `attributed` event and the billed history (issue 17) follow the change."""
        if "deployment" not in form.changed_data:
            return
        actor = admin_actor(request)
        before = CloudResource.objects.values_list("deployment_id", flat=True).get(pk=obj.pk)
        try:
            if obj.deployment_id is None:
                resources_detach_from_deployment(
                    resource_ids=[obj.pk], deployment_id=before, actor=actor
                )
            else:
                resources_attach_to_deployment(
                    resource_ids=[obj.pk],
                    deployment_id=obj.deployment_id,
                    actor=actor,
                    reassign=True,
                )
        except CALLER_ERRORS as error:
            messages.error(request, f"{obj}: {error}")

    @admin.display(description="state")
    def state_badge(self, resource):
        if resource.deleted_at:
            return format_html('<span style="color:#b00">tombstoned</span>')
        if resource.stale_strike_count:
            return format_html(
                '<span style="color:#c60">{} strike(s)</span>', resource.stale_strike_count
            )
        return "live"


@admin.register(CloudResourceEvent)
class CloudResourceEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("occurred_at", "type", "resource", "actor")
    list_filter = ("type",)
    search_fields = ("resource__name", "resource__provider_id", "actor")
    list_select_related = ("resource",)
    date_hierarchy = "occurred_at"


@admin.register(ResourceMeasurement)
class ResourceMeasurementAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Measurements at the source (bucket sizes, droplet traffic): read-only, as measured."""

    list_display = ("day", "metric", "resource", "value", "status", "reason", "measured_at")
    list_filter = ("metric", "status", "source")
    search_fields = ("resource__name", "resource__provider_id")
    list_select_related = ("resource",)
    date_hierarchy = "day"


@admin.register(SyncStatus)
class SyncStatusAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Each sync target's last success and failure: a kind failing here is what metering
    reports as `skipped: {kind: {"sync_failing": n}}` (its resources are metered once it
    recovers)."""

    list_display = ("target", "failing", "last_succeeded_at", "last_failed_at", "last_error")
    search_fields = ("target",)

    @admin.display(boolean=True, description="failing")
    def failing(self, obj: SyncStatus) -> bool:
        return obj.failing
