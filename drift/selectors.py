"""Reads of the drift app: the inbox, its history and single lookups (no query per row)."""

from __future__ import annotations

from django.db.models import QuerySet

from arcadia_cloud.errors import NotFound
from drift.models import CloudDrift, CloudProvisioned, DriftStatus
from inventory.models import CloudResource

STATUS_ALL = "all"
LIST_STATUSES = (*DriftStatus.values, STATUS_ALL)


def _drifts_with_context() -> QuerySet[CloudDrift]:
    # One join brings the resource and its current spec version along with every drift.
    return CloudDrift.objects.select_related("resource", "resource__provisioned")


def drift_list(
    *,
    status: str = DriftStatus.OPEN,
    resource_id: int | None = None,
    field: str | None = None,
) -> QuerySet[CloudDrift]:
    """The open inbox by default; another status (or "all") for history. Newest first."""
    drifts = _drifts_with_context()
    if status != STATUS_ALL:
        drifts = drifts.filter(status=status)
    if resource_id is not None:
        drifts = drifts.filter(resource_id=resource_id)
    if field:
        drifts = drifts.filter(field=field)
    return drifts.order_by("-detected_at", "-id")


def drift_get(*, drift_id: int) -> CloudDrift:
    drift = _drifts_with_context().filter(pk=drift_id).first()
    if drift is None:
        raise NotFound(f"No drift with id {drift_id}.")
    return drift


def resource_get(*, resource_id: int) -> CloudResource:
    """Any inventory resource, tombstoned ones included (a spec may expect it to be gone)."""
    resource = CloudResource.objects.filter(pk=resource_id).first()
    if resource is None:
        raise NotFound(f"No inventory resource with id {resource_id}.")
    return resource


def provisioned_get(*, resource_id: int) -> CloudProvisioned:
    provisioned = CloudProvisioned.objects.filter(resource_id=resource_id).first()
    if provisioned is None:
        raise NotFound(f"Resource {resource_id} has no provisioned spec.")
    return provisioned
