"""Who may call what, and the ONE place tenant scoping is enforced.

- `platform_admin` sees and changes everything;
- `llm_gateway` may only post LLM usage;
- anyone else is a tenant user confined to its own `tenant_id`. Another tenant's object is
  a 404, never a 403, so existence never leaks.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework.permissions import BasePermission

from arcadia_cloud.auth import Principal


def principal_of(request) -> Principal | None:
    user = getattr(request, "user", None)
    return user if isinstance(user, Principal) else None


class IsApiCaller(BasePermission):
    """Default for every API view: an authenticated caller that is not gateway-only."""

    message = "This token may not call this endpoint."

    def has_permission(self, request, view) -> bool:
        principal = principal_of(request)
        return principal is not None and not principal.is_gateway_only


class IsPlatformAdmin(BasePermission):
    message = "This endpoint requires the platform_admin role."

    def has_permission(self, request, view) -> bool:
        principal = principal_of(request)
        return principal is not None and principal.is_platform_admin


class IsLLMGatewayOrAdmin(BasePermission):
    message = "This endpoint requires the llm_gateway or platform_admin role."

    def has_permission(self, request, view) -> bool:
        principal = principal_of(request)
        return principal is not None and (principal.is_llm_gateway or principal.is_platform_admin)


class TenantScopedMixin:
    """Every tenant-owned API view mixes this in; nothing else filters by tenant.

    `tenant_lookup` names the field holding the owner's tenant id; views whose ownership is
    derived (e.g. a resource's effective tenant) override `filter_to_tenant`. Object lookups go
    through `get_queryset`, so an object outside the caller's scope is simply not found (404).
    """

    tenant_lookup = "tenant_id"

    @property
    def principal(self) -> Principal:
        return principal_of(self.request)

    def filter_to_tenant(self, queryset: QuerySet, tenant_id: str) -> QuerySet:
        return queryset.filter(**{self.tenant_lookup: tenant_id})

    def scope_queryset(self, queryset: QuerySet) -> QuerySet:
        principal = self.principal
        if principal is None:
            return queryset.none()
        if principal.is_platform_admin:
            return queryset
        return self.filter_to_tenant(queryset, principal.tenant_id)

    def get_queryset(self) -> QuerySet:
        return self.scope_queryset(super().get_queryset())

    def tenant_for_write(self, requested: Any = None) -> str:
        """The tenant a create writes to: the caller's own unless an admin names another."""
        principal = self.principal
        if principal.is_platform_admin and requested:
            return str(requested)
        return principal.tenant_id
