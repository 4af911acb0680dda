"""Builders for inventory rows in tests: the one `make_resource` every app's tests use."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

from django.utils import timezone

from deployments.models import Deployment
from inventory.models import CloudProject, CloudResource, ResourceMeasurement
from inventory.services import history_record

# Before every period the suites bill, meter or match, so a resource counts on every day of them.
LONG_AGO = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

_ids = itertools.count(1)


def make_project(
    *, name: str | None = None, tenant_id: str | None = None, **kwargs
) -> CloudProject:
    n = next(_ids)
    return CloudProject.objects.create(
        provider_id=kwargs.pop("provider_id", f"proj-{n}"),
        name=name or f"project-{n}",
        tenant_id=tenant_id,
        **kwargs,
    )


def make_resource(
    kind: str = "droplet",
    *,
    name: str | None = None,
    provider_id: str | None = None,
    deployment: Deployment | None = None,
    size_gb: object = None,
    first_seen_at: dt.datetime = LONG_AGO,
    last_seen_at: dt.datetime | None = None,
    **fields: Any,
) -> CloudResource:
    """A `cloud_resources` row written directly, as a sync leaves it: live since LONG_AGO and
    seen now (or until its `deleted_at`). `deployment` attributes it (and its tenant);
    `size_gb` goes into `attrs`; any other column is a keyword. Its history starts at
    `first_seen_at` with this state (a later direct `.save()` does not change the history:
    go through `inventory.services` or `change_resource` for what metering should see)."""
    n = next(_ids)
    attrs = dict(fields.pop("attrs", None) or {})
    if size_gb is not None:
        attrs["size_gb"] = size_gb
    if deployment is not None:
        fields.setdefault("tenant_id", deployment.tenant_id)
    if last_seen_at is None:
        last_seen_at = fields.get("deleted_at") or max(first_seen_at, timezone.now())
    resource = CloudResource.objects.create(
        kind=kind,
        provider_id=provider_id or str(900000 + n),
        name=f"{kind}-{n}" if name is None else name,
        attrs=attrs,
        deployment=deployment,
        first_seen_at=first_seen_at,
        last_seen_at=last_seen_at,
        **fields,
    )
    # Its billed timeline, as the chokepoint starts it: from its first sighting.
    history_record([], at=first_seen_at, created=[(resource.pk, first_seen_at)])
    return resource


def change_resource(
    resource: CloudResource, *, at: dt.datetime, attrs: dict | None = None, **fields: Any
) -> CloudResource:
    """Change a resource's row at `at` and record it in its history, as the inventory
    chokepoint does for a change a sync observed (`attrs` are merged)."""
    for name, value in fields.items():
        setattr(resource, name, value)
    if attrs is not None:
        resource.attrs = {**(resource.attrs or {}), **attrs}
    resource.save()
    history_record([resource.pk], at=at)
    return resource


def make_measurement(
    resource: CloudResource,
    day: dt.date,
    metric: str,
    value: object,
    *,
    status: str = "complete",
    reason: str = "",
) -> ResourceMeasurement:
    """A `resource_measurements` row written directly, as a measurement run leaves it."""
    return ResourceMeasurement.objects.create(
        resource=resource,
        day=day,
        metric=metric,
        value=None if value is None else Decimal(str(value)),
        status=status,
        reason=reason,
        source="test",
    )
