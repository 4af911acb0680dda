"""Row locks of the drift app, taken here and nowhere else.

A resource's `cloud_provisioned` row first, then its `cloud_drift` rows: every writer of a
resource's drifts holds that provisioned row lock, so the sweep, a concurrent sweep and an
accept serialize per resource. Inventory rows are read, never locked: syncs are not held up by
drift work. The order across apps: docs/CONVENTIONS.md, "Lock order".
"""

from __future__ import annotations

from typing import Any

from drift.models import CloudDrift, CloudProvisioned
from inventory.models import CloudResource


def lock_or_create_provisioned(
    *, resource: CloudResource, defaults: dict[str, Any]
) -> tuple[CloudProvisioned, bool]:
    """The resource's provisioned row, locked, or a new one from `defaults` (an insert holds its
    row until commit, and the unique resource key makes a racing insert wait); True if new."""
    return CloudProvisioned.objects.select_for_update().get_or_create(
        resource=resource, defaults=defaults
    )


def lock_provisioned_of(resource_id: int) -> CloudProvisioned | None:
    return CloudProvisioned.objects.select_for_update().filter(resource_id=resource_id).first()


def lock_drift(drift_id: int) -> CloudDrift:
    """A drift row (call with its resource's provisioned row locked)."""
    return CloudDrift.objects.select_for_update().get(pk=drift_id)


def lock_provisioned_chunk(*, after_pk: int, size: int) -> list[CloudProvisioned]:
    """The next `size` provisioned rows in pk order (the lock order), with their resources.

    Only the provisioned rows are locked (`of=("self",)`); a concurrent sweep waits here and
    then sees this one's committed drifts.
    """
    return list(
        CloudProvisioned.objects.select_related("resource")
        .select_for_update(of=("self",))
        .filter(pk__gt=after_pk)
        .order_by("pk")[:size]
    )
