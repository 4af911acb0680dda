"""Inventory reads."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.db.models.functions import Coalesce

from inventory.models import CloudResource


def resources_with_effective_tenant() -> QuerySet[CloudResource]:
    """Resources annotated with `effective_tenant_id`: the deployment's tenant, else their own."""
    return CloudResource.objects.select_related("project", "deployment").annotate(
        effective_tenant_id=Coalesce("deployment__tenant_id", "tenant_id")
    )


def owned_by_tenant(queryset: QuerySet[CloudResource], tenant_id: str) -> QuerySet[CloudResource]:
    """Rows whose effective tenant is `tenant_id` (written so PostgreSQL can use the indexes)."""
    return queryset.filter(
        Q(deployment__tenant_id=tenant_id) | Q(deployment__isnull=True, tenant_id=tenant_id)
    )
