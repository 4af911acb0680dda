"""Every write of the drift app: recording desired state, the sweep and accepting drift.

Locks come from `drift.locks`, in one order (so writers never deadlock): the resource's
`cloud_provisioned` row first, then its `cloud_drift` rows. Inventory rows are read, never
locked; the `drift_detected` events are written by inventory's service.

Revert (changing live infrastructure back to the spec) is out of scope: nothing here does it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from arcadia_cloud.errors import Conflict, NotFound
from drift.locks import (
    lock_drift,
    lock_or_create_provisioned,
    lock_provisioned_chunk,
    lock_provisioned_of,
)
from drift.models import CloudDrift, CloudProvisioned, DriftStatus
from drift.rules import Mismatch, adopt_live_value, find_mismatches, loosely_equal, spec_validate
from inventory.models import CloudResource
from inventory.services import DriftObservation, resource_events_record_drift

logger = logging.getLogger(__name__)

SYSTEM_ACTOR = "system"
# Provisioned resources handled per transaction by the sweep: bounds memory, lock hold time
# and the query count (a constant number of queries per chunk).
SWEEP_CHUNK_SIZE = 500


@transaction.atomic
def provisioned_record(*, resource: CloudResource, spec: Any, actor: str) -> CloudProvisioned:
    """Record the desired state of `resource`: create it at version 1 or bump the version.

    Re-recording an identical spec is a no-op (no version bump), so automation may post its
    desired state on every deploy. Open drifts are reconciled against the new spec by the next
    sweep, not here.
    """
    cleaned = spec_validate(spec)
    provisioned, created = lock_or_create_provisioned(
        resource=resource,
        defaults={"spec": cleaned, "recorded_by": actor, "recorded_at": timezone.now()},
    )
    if not created and provisioned.spec != cleaned:
        _bump_spec(provisioned, spec=cleaned, actor=actor, now=timezone.now())
    return provisioned


def _bump_spec(
    provisioned: CloudProvisioned, *, spec: dict[str, Any], actor: str, now: dt.datetime
) -> None:
    """Write a new spec version; the caller holds the provisioned row lock."""
    provisioned.spec = spec
    provisioned.spec_version += 1
    provisioned.recorded_at = now
    provisioned.recorded_by = actor
    provisioned.save(update_fields=["spec", "spec_version", "recorded_at", "recorded_by"])


@dataclass(frozen=True)
class DriftAcceptance:
    drift: CloudDrift
    provisioned: CloudProvisioned


@transaction.atomic
def drift_accept(*, drift: CloudDrift, actor: str) -> DriftAcceptance:
    """Adopt the live value the drift shows into the spec, bump spec_version, close the drift.

    The provisioned row and then the drift row are locked and the drift re-read, so of two
    concurrent accepts exactly one wins; the other gets a 409 and the version moves once.
    """
    provisioned = lock_provisioned_of(drift.resource_id)
    if provisioned is None:
        raise NotFound(f"Resource {drift.resource_id} has no provisioned spec to update.")
    locked = lock_drift(drift.pk)
    if not locked.is_open:
        by = f" by {locked.resolved_by}" if locked.resolved_by else ""
        raise Conflict(
            f"Drift {locked.pk} is already {locked.status}{by}; only open drift can be accepted."
        )
    now = timezone.now()
    adopted = adopt_live_value(provisioned.spec, field=locked.field, actual=locked.actual)
    _bump_spec(provisioned, spec=adopted, actor=actor, now=now)
    locked.status = DriftStatus.ACCEPTED
    locked.resolved_at = now
    locked.resolved_by = actor
    locked.save(update_fields=["status", "resolved_at", "resolved_by"])
    return DriftAcceptance(drift=locked, provisioned=provisioned)


@dataclass
class DriftSweepSummary:
    """What one sweep did. `refreshed` counts open drifts whose values changed."""

    resources: int = 0
    opened: int = 0
    refreshed: int = 0
    unchanged: int = 0
    closed_stale: int = 0

    def add(self, other: DriftSweepSummary) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def drift_detect_all(*, now: dt.datetime | None = None) -> DriftSweepSummary:
    """Compare every provisioned resource with its inventory row; open, refresh or close drift.

    Runs in chunks of SWEEP_CHUNK_SIZE provisioned rows, each in its own transaction, so a sweep
    over 100,000 resources neither holds locks for minutes nor loads everything at once. Each
    chunk costs a constant number of queries however many drifts it finds.
    """
    now = now or timezone.now()
    summary = DriftSweepSummary()
    after_pk = 0
    while True:
        with transaction.atomic(durable=True):
            chunk = lock_provisioned_chunk(after_pk=after_pk, size=SWEEP_CHUNK_SIZE)
            if chunk:
                summary.add(_sweep_chunk(chunk, now=now))
        if len(chunk) < SWEEP_CHUNK_SIZE:
            break
        after_pk = chunk[-1].pk
    logger.info("drift sweep: %s", summary.as_dict())
    return summary


@dataclass
class _ChunkWrites:
    new_drifts: list[CloudDrift] = field(default_factory=list)
    refreshed: list[CloudDrift] = field(default_factory=list)
    stale_ids: list[int] = field(default_factory=list)
    events: list[DriftObservation] = field(default_factory=list)
    unchanged: int = 0


def _sweep_chunk(chunk: Sequence[CloudProvisioned], *, now: dt.datetime) -> DriftSweepSummary:
    open_drifts = {
        (drift.resource_id, drift.field): drift
        for drift in CloudDrift.objects.filter(
            status=DriftStatus.OPEN, resource_id__in=[row.resource_id for row in chunk]
        )
    }
    writes = _ChunkWrites()
    for provisioned in chunk:
        resource = provisioned.resource
        for mismatch in find_mismatches(spec=provisioned.spec, resource=resource):
            current = open_drifts.pop((resource.pk, mismatch.field), None)
            _reconcile_mismatch(writes, resource, mismatch, current, now=now)
    # Every open drift this sweep did not confirm no longer describes the live state: its field
    # matches again, left the spec, or belongs to a resource that is gone (the `exists` drift
    # supersedes it).
    writes.stale_ids = [drift.pk for drift in open_drifts.values()]
    _apply_writes(writes, now=now)
    return DriftSweepSummary(
        resources=len(chunk),
        opened=len(writes.new_drifts),
        refreshed=len(writes.refreshed),
        unchanged=writes.unchanged,
        closed_stale=len(writes.stale_ids),
    )


def _reconcile_mismatch(
    writes: _ChunkWrites,
    resource: CloudResource,
    mismatch: Mismatch,
    current: CloudDrift | None,
    *,
    now: dt.datetime,
) -> None:
    """Open a drift, refresh the open one, or leave it be; queue the event when news.

    A refresh keeps `detected_at` (how long the drift has been open is what the inbox needs)
    and only a changed actual value is news worth a `drift_detected` event. A changed expected
    value (the spec was re-recorded) is written without an event: the spec change is audited
    by the provisioned record itself.
    """
    if current is None:
        writes.new_drifts.append(
            CloudDrift(
                resource=resource,
                field=mismatch.field,
                expected=mismatch.expected,
                actual=mismatch.actual,
                detected_at=now,
            )
        )
        writes.events.append(_observation(resource, mismatch))
        return
    actual_changed = not loosely_equal(current.actual, mismatch.actual)
    expected_changed = not loosely_equal(current.expected, mismatch.expected)
    if not (actual_changed or expected_changed):
        writes.unchanged += 1
        return
    current.actual = mismatch.actual
    current.expected = mismatch.expected
    writes.refreshed.append(current)
    if actual_changed:
        writes.events.append(_observation(resource, mismatch))


def _observation(resource: CloudResource, mismatch: Mismatch) -> DriftObservation:
    return DriftObservation(
        resource_id=resource.pk,
        field=mismatch.field,
        expected=mismatch.expected,
        actual=mismatch.actual,
    )


def _apply_writes(writes: _ChunkWrites, *, now: dt.datetime) -> None:
    """At most four statements, whatever the chunk found (the events are written by inventory,
    whose table they are)."""
    if writes.new_drifts:
        # The provisioned row locks already serialize sweeps per resource, so no conflict is
        # expected; ignoring one keeps a writer outside that protocol from crashing the sweep.
        CloudDrift.objects.bulk_create(writes.new_drifts, ignore_conflicts=True)
    if writes.refreshed:
        CloudDrift.objects.bulk_update(writes.refreshed, ["expected", "actual"])
    if writes.stale_ids:
        CloudDrift.objects.filter(pk__in=writes.stale_ids, status=DriftStatus.OPEN).update(
            status=DriftStatus.STALE, resolved_at=now, resolved_by=SYSTEM_ACTOR
        )
    if writes.events:
        resource_events_record_drift(drifts=writes.events, actor=SYSTEM_ACTOR, now=now)
