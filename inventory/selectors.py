"""Inventory reads."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.db.models.functions import Coalesce

from deployments.selectors import deployment_ids_of_tenant
from inventory.models import CloudResource


def resources_with_effective_tenant() -> QuerySet[CloudResource]:
    """Resources annotated with `effective_tenant_id`: the deployment's tenant, else their own."""
    return CloudResource.objects.select_related("project", "deployment").annotate(
        effective_tenant_id=Coalesce("deployment__tenant_id", "tenant_id")
    )


def owned_by_tenant(queryset: QuerySet[CloudResource], tenant_id: str) -> QuerySet[CloudResource]:
    """Rows whose effective tenant is `tenant_id`: attached to one of its deployments, or to no
    deployment and its own tenant.

    The tenant's deployment ids are read first (one small query) so that both alternatives are
    conditions on this table's own indexed columns (deployment_id, tenant_id), which PostgreSQL
    answers with two index scans ORed together. Written as one join instead
    (`deployment.tenant_id = t OR …`), the OR spans two tables and every tenant's list scanned
    the whole inventory (docs/performance.md).
    """
    return queryset.filter(
        Q(deployment_id__in=deployment_ids_of_tenant(tenant_id))
        | Q(deployment__isnull=True, tenant_id=tenant_id)
    )
