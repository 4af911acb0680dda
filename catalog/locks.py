"""Row locks of the catalog, taken here and nowhere else.

Inside the catalog: plan row → its version rows. Creating, editing and publishing a version all
lock the plan first, so version numbers cannot collide and two publishes of the same plan run
one after the other. Where the catalog sits in the order across apps: docs/CONVENTIONS.md,
"Lock order" (other apps only read catalog rows).
"""

from __future__ import annotations

import datetime as dt

from arcadia_cloud.locks import advisory_xact_lock
from catalog.models import Addon, Plan, PlanVersion, PlanVersionStatus, ResourcePrice
from catalog.selectors import resource_prices_overlapping


def lock_plan(plan_id: int) -> Plan:
    return Plan.objects.select_for_update().get(pk=plan_id)


def lock_version(version_id: int) -> PlanVersion:
    """The version (not its plan, already locked by the caller), with its plan loaded."""
    return (
        PlanVersion.objects.select_for_update(of=("self",))
        .select_related("plan")
        .get(pk=version_id)
    )


def lock_active_version_of(plan_id: int) -> PlanVersion | None:
    """The plan's active version, locked (call with the plan locked), or None."""
    return (
        PlanVersion.objects.select_for_update()
        .filter(plan_id=plan_id, status=PlanVersionStatus.ACTIVE)
        .first()
    )


def lock_addon(addon_id: int) -> Addon:
    return Addon.objects.select_for_update().get(pk=addon_id)


def lock_resource_prices_overlapping(
    *,
    resource_kind: str,
    currency: str,
    start: dt.date,
    end: dt.date | None,
    size_scope: str = "",
) -> list[ResourcePrice]:
    """The prices of the pair (and size scope) sharing a day with [start, end), locked in pk
    order."""
    return list(
        resource_prices_overlapping(
            resource_kind=resource_kind,
            currency=currency,
            start=start,
            end=end,
            size_scope=size_scope,
        )
        .select_for_update()
        .order_by("pk")
    )


PROVIDER_PRICES_SYNC_LOCK = "catalog:provider-prices-sync"


def lock_provider_prices_sync() -> None:
    """Until the transaction ends, no other price-list sync writes: two at once would both
    close the same changed price and open its successor twice."""
    advisory_xact_lock(PROVIDER_PRICES_SYNC_LOCK)
