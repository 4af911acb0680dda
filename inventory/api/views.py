from django.db.models import Q
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics

from arcadia_cloud.filtering import FilterSet
from arcadia_cloud.pagination import KeysetPagination
from arcadia_cloud.parsing import ObjectIdFilter
from arcadia_cloud.permissions import TenantScopedMixin
from arcadia_cloud.rows import RowsListMixin
from inventory.api.serializers import ResourceDetailSerializer, ResourceSerializer
from inventory.models import CloudProject, CloudResource
from inventory.selectors import (
    owned_by_tenant,
    project_tenant_visible_to,
    resource_history,
    resource_page_rows,
    resources_with_effective_tenant,
)

# What a list item prints (ResourceSerializer's fields), read as columns.
_ROW_FIELDS = (
    "id",
    "provider",
    "kind",
    "provider_id",
    "name",
    "region",
    "size_slug",
    "status",
    "attrs",
    "effective_tenant_id",
    "project_id",
    "project__name",
    "project__tenant_id",
    "deployment_id",
    "first_seen_at",
    "last_seen_at",
    "stale_strike_count",
    "deleted_at",
)


class ResourceFilter(FilterSet):
    kind = filters.CharFilter()
    project = ObjectIdFilter(model=CloudProject, field_name="project_id")
    # Bounded by the key of the model the foreign key points at (inventory never imports the
    # deployments app, a floor above it).
    deployment = ObjectIdFilter(
        model=CloudResource._meta.get_field("deployment").related_model,
        field_name="deployment_id",
    )
    tenant_id = extend_schema_field(str)(
        filters.CharFilter(method="filter_tenant", help_text="platform_admin only")
    )
    include_deleted = filters.BooleanFilter(method="filter_deleted")

    def filter_tenant(self, queryset, name, value):
        principal = getattr(self.request, "user", None)
        if not getattr(principal, "is_platform_admin", False):
            return queryset  # tenants are already confined to their own rows
        return owned_by_tenant(queryset, value)

    def filter_deleted(self, queryset, name, value):
        return queryset

    @property
    def qs(self):
        queryset = super().qs
        if not self.form.cleaned_data.get("include_deleted"):
            queryset = queryset.filter(deleted_at__isnull=True)
        if self.form.cleaned_data.get("project") is not None:
            queryset = self._only_projects_the_caller_may_see(queryset)
        return queryset

    def _only_projects_the_caller_may_see(self, queryset):
        """A tenant's project filter never matches another tenant's project (the list shows a
        tenant no such project, so filtering by its id must not reveal which rows are in it)."""
        principal = getattr(self.request, "user", None)
        if getattr(principal, "is_platform_admin", False):
            return queryset
        return queryset.filter(
            Q(project__tenant_id__isnull=True)
            | Q(project__tenant_id=getattr(principal, "tenant_id", None))
        )


class InventoryScope(TenantScopedMixin):
    """Tenants see resources whose effective tenant (deployment's, else own) is theirs, and of
    those nothing that belongs to another tenant (its project, its time's events)."""

    def filter_to_tenant(self, queryset, tenant_id):
        return owned_by_tenant(queryset, tenant_id)

    @property
    def viewer_tenant_id(self) -> str | None:
        """None for a platform admin (sees everything), else the caller's tenant."""
        principal = self.principal
        if principal is not None and principal.is_platform_admin:
            return None
        return principal.tenant_id if principal is not None else ""

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "viewer_tenant_id": self.viewer_tenant_id}


@extend_schema(tags=["inventory"])
class ResourceListView(RowsListMixin, InventoryScope, generics.ListAPIView):
    """Keyset pages in (kind, name, id) order (the `resource_list_order` index): the
    inventory is the largest list (100,000 rows and more), so no `COUNT(*)` and no offset."""

    # Items are built from `values()` rows as ResourceSerializer prints them (arcadia_cloud.rows).

    serializer_class = ResourceSerializer
    filterset_class = ResourceFilter
    pagination_class = KeysetPagination
    keyset_ordering = ("kind", "name", "id")
    row_fields = _ROW_FIELDS
    row_model = CloudResource

    def get_queryset(self):
        return self.scope_queryset(resources_with_effective_tenant())

    def read_page(self, filters, page):
        return resource_page_rows(
            viewer_tenant_id=self.viewer_tenant_id,
            page=page,
            kind=filters.get("kind"),
            project_id=filters.get("project"),
            deployment_id=filters.get("deployment"),
            tenant_id=filters.get("tenant_id"),
            include_deleted=bool(filters.get("include_deleted")),
        )

    def render_rows(self, rows):
        viewer = self.viewer_tenant_id
        return [
            {
                "id": row["id"],
                "provider": row["provider"],
                "kind": row["kind"],
                "provider_id": row["provider_id"],
                "name": row["name"],
                "region": row["region"],
                "size_slug": row["size_slug"],
                "status": row["status"],
                "attrs": row["attrs"],
                "tenant_id": row["effective_tenant_id"],
                "project": (
                    {"id": row["project_id"], "name": row["project__name"]}
                    if row["project_id"] is not None
                    and project_tenant_visible_to(row["project__tenant_id"], viewer)
                    else None
                ),
                "deployment_id": row["deployment_id"],
                "first_seen_at": row["first_seen_at"],
                "last_seen_at": row["last_seen_at"],
                "stale_strike_count": row["stale_strike_count"],
                "deleted_at": row["deleted_at"],
            }
            for row in rows
        ]


@extend_schema(tags=["inventory"])
class ResourceDetailView(InventoryScope, generics.RetrieveAPIView):
    serializer_class = ResourceDetailSerializer

    def get_queryset(self):
        return self.scope_queryset(resources_with_effective_tenant())

    def get_object(self):
        resource = super().get_object()
        resource.history = resource_history(resource, viewer_tenant_id=self.viewer_tenant_id)
        return resource
