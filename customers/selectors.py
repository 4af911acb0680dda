"""Reads of the customers app."""

from __future__ import annotations

from collections.abc import Iterable

from customers.models import BillingProfile


def billing_profile_of(tenant_id: str) -> BillingProfile | None:
    return BillingProfile.objects.filter(tenant_id=tenant_id).first()


def billing_profiles_of(tenant_ids: Iterable[str]) -> dict[str, BillingProfile]:
    """The profiles of these tenants, in one query (a tenant without one is absent)."""
    return {p.tenant_id: p for p in BillingProfile.objects.filter(tenant_id__in=list(tenant_ids))}
