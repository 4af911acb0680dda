"""Inventory writes: the upsert chokepoint, three-strike deletion, attribution, classification,
attachment to deployments and drift events.

Every write of `cloud_resources` and `cloud_resource_events` is here, whichever app asks for it
(deployments attaches resources, drift records what it detected); row locks are taken through
`inventory.locks`.

Every sync goes through `upsert_resources` (or its one-row form `upsert_resource`) and then,
only after a COMPLETE listing, `mark_stale`. Both are set-based: an unchanged re-sync of N rows
is a handful of statements, not N.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from arcadia_cloud.errors import Conflict, field_error
from arcadia_cloud.money import quantize_qty
from arcadia_cloud.tenancy import clean_tenant_id
from inventory.locks import lock_project, lock_resources
from inventory.models import (
    PROVIDER_DIGITALOCEAN,
    CloudProject,
    CloudResource,
    CloudResourceEvent,
    CloudResourceHistory,
    KindListing,
    MeasurementStatus,
    ProjectPurpose,
    ResourceEventType,
    ResourceMeasurement,
    SyncStatus,
)
from inventory.normalize import ResourceSnapshot, meaningful_attrs
from inventory.signals import resource_attribution_changed
from pricing.kinds import MEASURED_METRICS, billed_as, billed_size

logger = logging.getLogger(__name__)

STRIKES_TO_DELETE = 3
SYNC_ACTOR = "sync"
CHUNK = 2000
TRACKED_FIELDS = ("name", "region", "size_slug", "status")


@dataclass
class UpsertResult:
    created: int = 0
    updated: int = 0
    restored: int = 0
    unchanged: int = 0

    def __iadd__(self, other: UpsertResult) -> UpsertResult:
        self.created += other.created
        self.updated += other.updated
        self.restored += other.restored
        self.unchanged += other.unchanged
        return self


@dataclass
class StaleResult:
    struck: int = 0
    tombstoned: int = 0


@dataclass
class AttributionResult:
    attributed: int = 0
    unchanged: int = 0
    details: list[str] = field(default_factory=list)


def _chunks(items: Sequence, size: int = CHUNK) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _diff(resource: CloudResource, snapshot: ResourceSnapshot) -> dict[str, list[Any]]:
    """Meaningful differences as {"field": [old, new]}; attrs compared key by key."""
    changes: dict[str, list[Any]] = {}
    for name in TRACKED_FIELDS:
        old, new = getattr(resource, name), getattr(snapshot, name)
        if old != new:
            changes[name] = [old, new]
    old_attrs = meaningful_attrs(resource.attrs or {})
    new_attrs = meaningful_attrs(snapshot.attrs)
    for key in sorted(old_attrs.keys() | new_attrs.keys()):
        if old_attrs.get(key) != new_attrs.get(key):
            changes[f"attrs.{key}"] = [old_attrs.get(key), new_attrs.get(key)]
    return changes


def _load_existing(kind: str, provider_ids: Sequence[str]) -> dict[str, CloudResource]:
    existing: dict[str, CloudResource] = {}
    for chunk in _chunks(list(provider_ids)):
        for resource in CloudResource.objects.filter(
            provider=PROVIDER_DIGITALOCEAN, kind=kind, provider_id__in=chunk
        ):
            existing[resource.provider_id] = resource
    return existing


@transaction.atomic(durable=True)
def upsert_resources(
    snapshots: Iterable[ResourceSnapshot],
    *,
    now: dt.datetime | None = None,
    actor: str = SYNC_ACTOR,
) -> UpsertResult:
    """The chokepoint: insert new rows, restore tombstoned ones, update changed ones.

    A row seen unchanged is not written (a re-sync of an unchanged account writes no row): it
    was seen by this complete listing, which `mark_stale` records (`KindListing`). Only a row
    that had strikes is written, its strikes reset and `last_seen_at = now`.
    """
    now = now or timezone.now()
    by_kind: dict[str, dict[str, ResourceSnapshot]] = defaultdict(dict)
    for snapshot in snapshots:
        by_kind[snapshot.kind][snapshot.provider_id] = snapshot

    result = UpsertResult()
    for kind, seen in by_kind.items():
        result += _upsert_kind(kind, seen, now=now, actor=actor)
    return result


def _upsert_kind(
    kind: str, seen: Mapping[str, ResourceSnapshot], *, now: dt.datetime, actor: str
) -> UpsertResult:
    existing = _load_existing(kind, list(seen))
    result = UpsertResult()
    new_rows: list[CloudResource] = []
    changed_rows: list[CloudResource] = []
    unchanged_ids: list[int] = []
    volatile_rows: list[CloudResource] = []
    events: list[CloudResourceEvent] = []

    for provider_id, snapshot in seen.items():
        resource = existing.get(provider_id)
        if resource is None:
            new_rows.append(
                CloudResource(
                    provider=PROVIDER_DIGITALOCEAN,
                    kind=kind,
                    provider_id=provider_id,
                    name=snapshot.name,
                    region=snapshot.region,
                    size_slug=snapshot.size_slug,
                    status=snapshot.status,
                    attrs=snapshot.attrs,
                    first_seen_at=now,
                    last_seen_at=now,
                )
            )
            continue
        changes = {} if snapshot.placeholder else _diff(resource, snapshot)
        restored = resource.deleted_at is not None
        if not changes and not restored:
            if not snapshot.placeholder and (resource.attrs or {}) != snapshot.attrs:
                # Only volatile attrs moved: stored, without an event.
                resource.attrs = snapshot.attrs
                resource.last_seen_at = now
                resource.stale_strike_count = 0
                volatile_rows.append(resource)
            elif resource.stale_strike_count:
                unchanged_ids.append(resource.pk)  # missed by a listing before: seen again
            else:
                result.unchanged += 1  # nothing to write
            continue
        if not snapshot.placeholder:
            for name in TRACKED_FIELDS:
                setattr(resource, name, getattr(snapshot, name))
            resource.attrs = snapshot.attrs
        resource.last_seen_at = now
        resource.stale_strike_count = 0
        if restored:
            events.append(_event(resource, ResourceEventType.RESTORED, changes, actor, now))
            resource.deleted_at = None
            result.restored += 1
        else:
            events.append(_event(resource, ResourceEventType.UPDATED, changes, actor, now))
            result.updated += 1
        changed_rows.append(resource)

    if new_rows:
        created = CloudResource.objects.bulk_create(new_rows, batch_size=1000)
        events.extend(
            _event(
                r, ResourceEventType.DISCOVERED, {"name": r.name, "region": r.region}, actor, now
            )
            for r in created
        )
        result.created = len(created)
    if changed_rows:
        CloudResource.objects.bulk_update(
            changed_rows,
            [*TRACKED_FIELDS, "attrs", "last_seen_at", "stale_strike_count", "deleted_at"],
            batch_size=500,
        )
    if volatile_rows:
        CloudResource.objects.bulk_update(
            volatile_rows, ["attrs", "last_seen_at", "stale_strike_count"], batch_size=500
        )
    for chunk in _chunks(unchanged_ids):
        CloudResource.objects.filter(pk__in=chunk).update(last_seen_at=now, stale_strike_count=0)
    result.unchanged += len(unchanged_ids) + len(volatile_rows)
    if events:
        CloudResourceEvent.objects.bulk_create(events, batch_size=1000)
    history_record(
        [r.pk for r in changed_rows],
        at=now,
        created=[(r.pk, _created_at(r.attrs, now)) for r in new_rows],
    )
    return result


def upsert_resource(
    snapshot: ResourceSnapshot, *, now: dt.datetime | None = None, actor: str = SYNC_ACTOR
) -> UpsertResult:
    """One-row form of the chokepoint."""
    return upsert_resources([snapshot], now=now, actor=actor)


def _event(
    resource: CloudResource, type_: str, changes: Mapping[str, Any], actor: str, now: dt.datetime
) -> CloudResourceEvent:
    return CloudResourceEvent(
        resource=resource, type=type_, changes=dict(changes), actor=actor, occurred_at=now
    )


@transaction.atomic(durable=True)
def mark_stale(
    *,
    kind: str,
    seen_provider_ids: Iterable[str],
    now: dt.datetime | None = None,
    actor: str = SYNC_ACTOR,
) -> StaleResult:
    """One strike for every live row of `kind` a complete listing did not return.

    The third strike tombstones the row with a `deleted` event; `deleted_at` is the last moment
    the resource was seen alive (metering and cost matching want when it vanished, not when we
    became sure). Call this ONLY after every page of the listing was fetched: a partial or failed
    sync must never add a strike. It records the listing (`KindListing`): a row missing now
    without strikes was returned by the previous complete listing, whose moment becomes its
    `last_seen_at` (an unchanged row is not written on every sync).
    """
    now = now or timezone.now()
    seen = set(seen_provider_ids)
    live = CloudResource.objects.filter(
        provider=PROVIDER_DIGITALOCEAN, kind=kind, deleted_at__isnull=True
    ).values_list("pk", "provider_id", "stale_strike_count")
    missing = [(pk, strikes) for pk, provider_id, strikes in live if provider_id not in seen]
    previous = KindListing.objects.filter(kind=kind).values_list("listed_at", flat=True).first()
    if previous is not None:
        for chunk in _chunks([pk for pk, strikes in missing if not strikes]):
            CloudResource.objects.filter(pk__in=chunk).update(
                last_seen_at=Greatest(F("last_seen_at"), Value(previous))
            )
    KindListing.objects.bulk_create(
        [KindListing(kind=kind, listed_at=now)],
        update_conflicts=True,
        unique_fields=["kind"],
        update_fields=["listed_at"],
    )
    to_tombstone = [pk for pk, strikes in missing if strikes + 1 >= STRIKES_TO_DELETE]
    to_strike = [pk for pk, strikes in missing if strikes + 1 < STRIKES_TO_DELETE]

    for chunk in _chunks(to_strike):
        CloudResource.objects.filter(pk__in=chunk).update(
            stale_strike_count=F("stale_strike_count") + 1
        )
    for chunk in _chunks(to_tombstone):
        # Gone since it was last seen alive: the third strike only confirms it, 30 minutes late.
        CloudResource.objects.filter(pk__in=chunk).update(
            stale_strike_count=STRIKES_TO_DELETE, deleted_at=F("last_seen_at")
        )
    history_record(to_tombstone, at=now)
    CloudResourceEvent.objects.bulk_create(
        [
            CloudResourceEvent(
                resource_id=pk,
                type=ResourceEventType.DELETED,
                changes={"reason": f"missing from {STRIKES_TO_DELETE} complete listings"},
                actor=actor,
                occurred_at=now,
            )
            for pk in to_tombstone
        ],
        batch_size=1000,
    )
    return StaleResult(struck=len(to_strike), tombstoned=len(to_tombstone))


@transaction.atomic(durable=True)
def projects_upsert(
    payloads: Iterable[Mapping[str, Any]], *, internal_name: str, internal_tenant: str
) -> dict[str, CloudProject]:
    """Mirror DO projects; tenant_id and purpose stay operator-owned except for the internal one."""
    by_provider_id = {str(p["id"]): p for p in payloads}
    existing = {
        p.provider_id: p
        for p in CloudProject.objects.filter(
            provider=PROVIDER_DIGITALOCEAN, provider_id__in=list(by_provider_id)
        )
    }
    projects: dict[str, CloudProject] = {}
    for provider_id, payload in by_provider_id.items():
        project = existing.get(provider_id)
        wanted = {
            "name": payload.get("name") or "",
            "description": payload.get("description") or "",
            "is_default": bool(payload.get("is_default")),
        }
        if project is None:
            project = CloudProject(
                provider=PROVIDER_DIGITALOCEAN, provider_id=provider_id, **wanted
            )
            if wanted["name"] == internal_name:
                project.tenant_id, project.purpose = internal_tenant, ProjectPurpose.INTERNAL
            project.save()
        elif any(getattr(project, key) != value for key, value in wanted.items()):
            for key, value in wanted.items():
                setattr(project, key, value)
            project.save(update_fields=[*wanted, "updated_at"])
        projects[provider_id] = project
    return projects


@dataclass(frozen=True)
class Placement:
    """Where attribution says a resource belongs."""

    project: CloudProject | None
    tenant_id: str | None
    reason: str


@transaction.atomic
def resources_attribute(
    placements: Mapping[int, Placement], *, now: dt.datetime | None = None, actor: str = SYNC_ACTOR
) -> AttributionResult:
    """Set project and tenant_id per resource id; `attributed` event only when they change."""
    now = now or timezone.now()
    result = AttributionResult()
    changed: list[CloudResource] = []
    events: list[CloudResourceEvent] = []
    ids = list(placements)
    for chunk in _chunks(ids):
        for resource in CloudResource.objects.filter(pk__in=chunk).only(
            "pk", "project_id", "tenant_id"
        ):
            placement = placements[resource.pk]
            new_project_id = placement.project.pk if placement.project else None
            if resource.project_id == new_project_id and resource.tenant_id == placement.tenant_id:
                result.unchanged += 1
                continue
            changes = {
                "project": [resource.project_id, new_project_id],
                "tenant_id": [resource.tenant_id, placement.tenant_id],
                "reason": placement.reason,
            }
            resource.project_id = new_project_id
            resource.tenant_id = placement.tenant_id
            changed.append(resource)
            events.append(_event(resource, ResourceEventType.ATTRIBUTED, changes, actor, now))
    if changed:
        # A sync places thousands of resources in a handful of projects: one UPDATE per
        # (project, tenant) and chunk of ids, not bulk_update's CASE per row (which cost
        # 13 s for 5,000 rows, quadratic in the batch).
        by_place: dict[tuple[int | None, str | None], list[int]] = defaultdict(list)
        for resource in changed:
            by_place[(resource.project_id, resource.tenant_id)].append(resource.pk)
        for (project_id, tenant_id), pks in by_place.items():
            for chunk in _chunks(pks):
                CloudResource.objects.filter(pk__in=chunk).update(
                    project_id=project_id, tenant_id=tenant_id
                )
        CloudResourceEvent.objects.bulk_create(events, batch_size=1000)
        history_record([r.pk for r in changed], at=now)
    result.attributed = len(changed)
    return result


@transaction.atomic
def project_classify(
    *,
    project: CloudProject,
    tenant_id: str | None,
    purpose: str,
    actor: str,
    now: dt.datetime | None = None,
) -> AttributionResult:
    """An operator assigns a project to a tenant: its live resources follow immediately (as of
    `now`, default the clock)."""
    if purpose not in ProjectPurpose.values:
        raise field_error("purpose", f"must be one of {', '.join(ProjectPurpose.values)}")
    tenant_id = None if tenant_id in (None, "") else clean_tenant_id(tenant_id)
    project = lock_project(project.pk)
    project.tenant_id = tenant_id
    project.purpose = purpose
    project.save(update_fields=["tenant_id", "purpose", "updated_at"])
    placements = {
        pk: Placement(project, project.tenant_id, f"project {project.name} classified")
        for pk in CloudResource.objects.filter(
            project=project, deleted_at__isnull=True
        ).values_list("pk", flat=True)
    }
    return resources_attribute(placements, actor=actor, now=now)


# ---------------------------------------------------------------------------------------------
# Attachment to deployments
# ---------------------------------------------------------------------------------------------

MAX_RESOURCES_PER_CALL = 1000


@dataclass(frozen=True)
class AttachOutcome:
    """Resource ids by what happened to them (`reassigned` ⊆ `attached`)."""

    attached: list[int]
    reassigned: list[int]
    unchanged: list[int]


# Both are called by the deployments service that checked and locked the deployment (lock order:
# deployment → resources); their own atomic block is a savepoint there, so a refusal leaves the
# caller's transaction usable.
@transaction.atomic
def resources_attach_to_deployment(
    *,
    resource_ids: Iterable[int],
    deployment_id: int,
    actor: str,
    reassign: bool = False,
    now: dt.datetime | None = None,
) -> AttachOutcome:
    """Tie resources to a deployment: one UPDATE and one bulk insert of `attributed` events.

    A resource belongs to at most one deployment: one attached elsewhere is a 409 unless
    `reassign=True`. Unknown ids and tombstoned resources are a 400 naming `resource_ids`.
    Already attached here → unchanged, no event. The resources are locked in pk order.
    `now` (default the clock) is when it happened: the event's time and where the resource's
    billed history moves to the deployment.
    """
    ids = clean_resource_ids(resource_ids)
    resources = _locked_live_resources(ids)
    elsewhere = {
        r.pk: r.deployment_id for r in resources if r.deployment_id not in (None, deployment_id)
    }
    if elsewhere and not reassign:
        message = (
            f"resources {_ids_text(elsewhere)} belong to other deployments; "
            "pass reassign=true to move them"
        )
        raise Conflict(
            message,
            fields={"resource_ids": [message]},
            extra={"attached_elsewhere": {str(k): v for k, v in elsewhere.items()}},
        )
    changing = [r for r in resources if r.deployment_id != deployment_id]
    _write_attachment(changing, deployment_id, actor, now=now)
    return AttachOutcome(
        attached=[r.pk for r in changing],
        reassigned=sorted(elsewhere),
        unchanged=[r.pk for r in resources if r.deployment_id == deployment_id],
    )


@transaction.atomic
def resources_detach_from_deployment(
    *, resource_ids: Iterable[int], deployment_id: int, actor: str, now: dt.datetime | None = None
) -> list[int]:
    """Untie resources from a deployment (each must be attached to it); returns their ids."""
    ids = clean_resource_ids(resource_ids)
    resources = lock_resources(ids)
    _refuse_unknown(ids, resources)
    strangers = [r.pk for r in resources if r.deployment_id != deployment_id]
    if strangers:
        raise field_error(
            "resource_ids",
            f"resources {_ids_text(strangers)} are not attached to deployment {deployment_id}",
        )
    _write_attachment(resources, None, actor, now=now)
    return [r.pk for r in resources]


def clean_resource_ids(values: Iterable[int]) -> list[int]:
    """The ids sorted and deduplicated, or a 400 naming `resource_ids`: a non-empty list of at
    most MAX_RESOURCES_PER_CALL positive integers."""
    if isinstance(values, str | bytes):
        raise field_error("resource_ids", "must be a list of resource ids")
    ids = list(values)
    if not ids:
        raise field_error("resource_ids", "must name at least one resource")
    if len(ids) > MAX_RESOURCES_PER_CALL:
        raise field_error("resource_ids", f"at most {MAX_RESOURCES_PER_CALL} ids per call")
    if any(isinstance(i, bool) or not isinstance(i, int) or i < 1 for i in ids):
        raise field_error("resource_ids", "every id must be a positive integer")
    return sorted(set(ids))


def _write_attachment(
    resources: Sequence[CloudResource],
    deployment_id: int | None,
    actor: str,
    *,
    now: dt.datetime | None = None,
) -> None:
    """Set `deployment` on every resource with ONE update and log each change, in bulk."""
    if not resources:
        return
    CloudResource.objects.filter(pk__in=[r.pk for r in resources]).update(
        deployment_id=deployment_id
    )
    now = now or timezone.now()
    history_record([r.pk for r in resources], at=now)
    CloudResourceEvent.objects.bulk_create(
        CloudResourceEvent(
            resource_id=resource.pk,
            type=ResourceEventType.ATTRIBUTED,
            changes={"deployment": [resource.deployment_id, deployment_id]},
            actor=actor,
            occurred_at=now,
        )
        for resource in resources
    )


def _locked_live_resources(ids: list[int]) -> list[CloudResource]:
    resources = lock_resources(ids)
    _refuse_unknown(ids, resources)
    tombstoned = [r.pk for r in resources if r.deleted_at is not None]
    if tombstoned:
        raise field_error(
            "resource_ids",
            f"resources {_ids_text(tombstoned)} are deleted (tombstoned); only live resources "
            "can be attached",
        )
    return resources


def _refuse_unknown(ids: list[int], resources: Sequence[CloudResource]) -> None:
    missing = sorted(set(ids) - {r.pk for r in resources})
    if missing:
        raise field_error("resource_ids", f"no resources with ids {_ids_text(missing)}")


def _ids_text(ids: Iterable[int], limit: int = 20) -> str:
    ids = sorted(ids)
    shown = ", ".join(map(str, ids[:limit]))
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


# ---------------------------------------------------------------------------------------------
# Resource history (the billed timeline metering integrates)
# ---------------------------------------------------------------------------------------------

HistoryState = tuple[str, str, Any, int | None, str | None, str]


def _created_at(attrs: Mapping[str, Any], first_sight: dt.datetime) -> dt.datetime:
    """When DigitalOcean says the resource was created, if that is earlier than our first
    sighting (its history starts there); else the first sighting."""
    raw = attrs.get("created_at") if isinstance(attrs, Mapping) else None
    if not isinstance(raw, str):
        return first_sight
    try:
        created = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return first_sight
    if created.tzinfo is None:
        return first_sight
    return min(created, first_sight)


def _billed_state(
    attrs: Any, kind: str, status: str, deployment_id, tenant_id, size_slug: str = ""
) -> HistoryState:
    attrs = attrs if isinstance(attrs, Mapping) else {}
    billed = billed_as(kind, attrs)
    return (billed, status, billed_size(billed, attrs), deployment_id, tenant_id, size_slug or "")


def _second(moment: dt.datetime) -> dt.datetime:
    return moment.replace(microsecond=0)


def history_record(
    resource_ids: Iterable[int],
    *,
    at: dt.datetime,
    created: Iterable[tuple[int, dt.datetime]] = (),
) -> int:
    """Bring the billed timeline of these resources up to their current row, as of `at`, in
    the caller's transaction; returns how many intervals it opened.

    Set-based per chunk: one read of the rows, one of their open intervals, one bulk update
    closing the intervals whose state changed, one bulk insert opening the new ones. A
    resource's first interval starts at `created` (DigitalOcean's created_at when earlier than
    the first sighting) or `at`; a tombstoned resource's open interval ends at its `deleted_at`
    (its last sighting); a change at or before the open interval's start rewrites that interval
    instead of leaving an empty one. `inventory` writes it wherever a billed field changes.
    """
    starts = {pk: _second(moment) for pk, moment in created}
    ids = sorted(set(resource_ids) | set(starts))
    at = _second(at)
    opened = 0
    reattributed: list[int] = []  # deployment or own tenant changed
    for chunk in _chunks(ids):
        rows = CloudResource.objects.filter(pk__in=chunk).values_list(
            "pk", "kind", "status", "attrs", "deployment_id", "tenant_id", "deleted_at", "size_slug"
        )
        open_intervals = {
            h.resource_id: h
            for h in CloudResourceHistory.objects.filter(
                resource_id__in=chunk, valid_to__isnull=True
            )
        }
        closing: list[CloudResourceHistory] = []
        rewriting: list[CloudResourceHistory] = []
        opening: list[CloudResourceHistory] = []
        for pk, kind, status, attrs, deployment_id, tenant_id, deleted_at, size_slug in rows:
            state = _billed_state(attrs, kind, status, deployment_id, tenant_id, size_slug)
            current = open_intervals.get(pk)
            if deleted_at is not None:
                if current is not None:
                    current.valid_to = max(_second(deleted_at), current.valid_from)
                    closing.append(current)
                elif pk in starts:  # first written already tombstoned (imports, tests)
                    interval = CloudResourceHistory(
                        resource_id=pk,
                        valid_from=starts[pk],
                        valid_to=max(_second(deleted_at), starts[pk]),
                    )
                    _set_state(interval, state)
                    opening.append(interval)
                continue
            if current is not None:
                if _interval_state(current) == state:
                    continue
                if _interval_state(current)[3:] != state[3:]:
                    reattributed.append(pk)
                if at <= current.valid_from:
                    _set_state(current, state)
                    rewriting.append(current)
                    continue
                current.valid_to = at
                closing.append(current)
            interval = CloudResourceHistory(resource_id=pk, valid_from=starts.get(pk, at))
            _set_state(interval, state)
            opening.append(interval)
        if closing:
            CloudResourceHistory.objects.bulk_update(closing, ["valid_to"], batch_size=500)
        if rewriting:
            CloudResourceHistory.objects.bulk_update(
                rewriting,
                ["kind", "status", "size", "deployment", "tenant_id", "size_slug"],
                batch_size=500,
            )
        CloudResourceHistory.objects.bulk_create(opening, batch_size=1000)
        opened += len(opening)
    if reattributed:
        resource_attribution_changed.send(sender=CloudResource, resource_ids=reattributed)
    return opened


def _interval_state(interval: CloudResourceHistory) -> HistoryState:
    size = None if interval.size is None else interval.size.quantize(Decimal("0.000001"))
    return (
        interval.kind,
        interval.status,
        size,
        interval.deployment_id,
        interval.tenant_id,
        interval.size_slug,
    )


def _set_state(interval: CloudResourceHistory, state: HistoryState) -> None:
    (
        interval.kind,
        interval.status,
        interval.size,
        interval.deployment_id,
        interval.tenant_id,
        interval.size_slug,
    ) = state


# ---------------------------------------------------------------------------------------------
# Drift events
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DriftObservation:
    """A field of a resource that differs from its recorded spec, as the drift sweep saw it."""

    resource_id: int
    field: str
    expected: Any
    actual: Any


def resource_events_record_drift(
    *, drifts: Sequence[DriftObservation], actor: str, now: dt.datetime
) -> int:
    """One `drift_detected` event per observation, in one insert (none when there is nothing
    to record); returns how many. Drift decides what is news; inventory keeps the history."""
    CloudResourceEvent.objects.bulk_create(
        CloudResourceEvent(
            resource_id=drift.resource_id,
            type=ResourceEventType.DRIFT_DETECTED,
            changes={"field": drift.field, "expected": drift.expected, "actual": drift.actual},
            actor=actor,
            occurred_at=now,
        )
        for drift in drifts
    )
    return len(drifts)


def resource_event_record_power_action(
    *, resource_id: int, action: str, status: str, details: Mapping[str, Any], actor: str
) -> CloudResourceEvent:
    """A power action on a droplet (dunning's power-off / power-on), as the resource's event.
    The resource's own status is the sync's to mirror; only the event is written here."""
    return CloudResourceEvent.objects.create(
        resource_id=resource_id,
        type=ResourceEventType.POWER_ACTION,
        changes={"action": action, "status": status, **details},
        actor=actor,
    )


# ---------------------------------------------------------------------------------------------
# Measurements at the source (issue 17): bucket sizes, droplet traffic
# ---------------------------------------------------------------------------------------------


@transaction.atomic(durable=True)
def measurement_record(
    *,
    resource_id: int,
    day: dt.date,
    metric: str,
    status: str,
    source: str,
    value: Decimal | None = None,
    reason: str = "",
    detail: Mapping[str, Any] | None = None,
    measured_at: dt.datetime | None = None,
) -> ResourceMeasurement:
    """Record one resource's measurement of `day` (one transaction: one bucket or droplet
    failing never undoes the others). A complete measurement is final: recording the day again
    returns it unchanged, so a re-run never changes what was metered; a partial or failed one
    is replaced by the next attempt."""
    if metric not in MEASURED_METRICS:
        raise field_error("metric", f"{metric!r} is not one of {', '.join(MEASURED_METRICS)}")
    if status not in MeasurementStatus.values:
        raise field_error("status", f"{status!r} is not one of {', '.join(MeasurementStatus)}")
    if status == MeasurementStatus.COMPLETE and (value is None or value < 0):
        raise field_error("value", "a complete measurement needs a value of 0 or more")
    existing = ResourceMeasurement.objects.filter(
        resource_id=resource_id, day=day, metric=metric
    ).first()
    if existing is not None and existing.status == MeasurementStatus.COMPLETE:
        return existing
    fields = {
        "value": None if value is None else quantize_qty(value),
        "status": status,
        "reason": reason[:500],
        "detail": dict(detail or {}),
        "source": source,
        "measured_at": measured_at or timezone.now(),
    }
    measurement, _ = ResourceMeasurement.objects.update_or_create(
        resource_id=resource_id, day=day, metric=metric, defaults=fields
    )
    return measurement


# ---------------------------------------------------------------------------------------------
# Sync outcomes (issue 17: metering says when a day was metered while a sync was failing)
# ---------------------------------------------------------------------------------------------

SYNC_ERROR_MAX_CHARS = 500


def sync_status_record(*, target: str, now: dt.datetime, error: str = "") -> None:
    """Record a sync run's outcome: a success (no `error`) moves `last_succeeded_at` to `now`;
    a failure sets `last_failed_at` and its reason. One upsert, no lock: the last run wins."""
    failed = bool(error)
    row = SyncStatus(
        target=target,
        last_succeeded_at=None if failed else now,
        last_failed_at=now if failed else None,
        last_error=error[:SYNC_ERROR_MAX_CHARS] if failed else "",
    )
    fields = ["last_failed_at", "last_error"] if failed else ["last_succeeded_at"]
    SyncStatus.objects.bulk_create(
        [row], update_conflicts=True, unique_fields=["target"], update_fields=fields
    )
