"""Builders for inventory rows in tests: the one `make_resource` every app's tests use."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

from django.utils import timezone

from deployments.models import Deployment
from inventory.models import CloudProject, CloudResource, ResourceMeasurement

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
    `size_gb` goes into `attrs`; any other column is a keyword."""
    n = next(_ids)
    attrs = dict(fields.pop("attrs", None) or {})
    if size_gb is not None:
        attrs["size_gb"] = size_gb
    if deployment is not None:
        fields.setdefault("tenant_id", deployment.tenant_id)
    if last_seen_at is None:
        last_seen_at = fields.get("deleted_at") or max(first_seen_at, timezone.now())
    return CloudResource.objects.create(
        kind=kind,
        provider_id=provider_id or str(900000 + n),
        name=f"{kind}-{n}" if name is None else name,
        attrs=attrs,
        deployment=deployment,
        first_seen_at=first_seen_at,
        last_seen_at=last_seen_at,
        **fields,
    )


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
