"""Locks on inventory's tables, taken here and nowhere else.

Inventory owns `cloud_resources` and `cloud_projects`: other apps that need a resource held
still (attaching it to a deployment) ask inventory's services, which lock through this module.
Where these locks sit in the order across apps: docs/CONVENTIONS.md, "Lock order".
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager

from arcadia_cloud.locks import try_advisory_lock
from inventory.models import CloudProject, CloudResource

# Rows other tables reference (usage records, invoice lines) are held FOR NO KEY UPDATE: it
# serializes writers of the row as FOR UPDATE does, but leaves the KEY SHARE lock a concurrent
# insert's foreign-key check takes alone, so metering inserting a day's usage and an attach
# holding the same rows can never deadlock (keys are never changed).


def lock_resources(resource_ids: Iterable[int]) -> list[CloudResource]:
    """The resources, locked in pk order; only what attribution needs is loaded."""
    return list(
        CloudResource.objects.select_for_update(no_key=True)
        .filter(pk__in=list(resource_ids))
        .only("id", "kind", "name", "deployment_id", "deleted_at")
        .order_by("pk")
    )


def lock_project(project_id: int) -> CloudProject:
    return CloudProject.objects.select_for_update().get(pk=project_id)


def sync_lock(target: str) -> AbstractContextManager[bool]:
    """Entered, yields True when this process may sync `target` and False while another run of
    it holds the lock (a session-level try-lock: the second run skips instead of queueing)."""
    return try_advisory_lock(f"inventory-sync:{target}")


def measurement_lock(metric: str) -> AbstractContextManager[bool]:
    """Entered, yields True when this process may take `metric`'s measurements and False while
    another run holds the lock (a session-level try-lock: a second worker skips, so no resource
    is asked for twice)."""
    return try_advisory_lock(f"inventory-measure:{metric}")
