"""Small builders for metering and LLM usage tests."""

from __future__ import annotations

import datetime as dt
import itertools

from deployments.models import Deployment
from inventory.models import CloudResource
from tests.conftest import TENANT_A

_ids = itertools.count(1)

LONG_AGO = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def at(day: dt.date, hour: int = 0, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute, second), tzinfo=dt.UTC)


def make_deployment(*, tenant_id: str = TENANT_A, llm_mode: str = "passthrough") -> Deployment:
    n = next(_ids)
    return Deployment.objects.create(
        tenant_id=tenant_id, slug=f"app-{n}", display_name=f"App {n}", llm_mode=llm_mode
    )


def make_resource(
    kind: str,
    *,
    deployment: Deployment | None,
    status: str = "",
    size_gb: object = None,
    first_seen_at: dt.datetime = LONG_AGO,
    deleted_at: dt.datetime | None = None,
    attrs: dict | None = None,
) -> CloudResource:
    n = next(_ids)
    attrs = dict(attrs or {})
    if size_gb is not None:
        attrs["size_gb"] = size_gb
    return CloudResource.objects.create(
        kind=kind,
        provider_id=f"{kind}-{n}",
        name=f"{kind}-{n}",
        status=status,
        attrs=attrs,
        deployment=deployment,
        tenant_id=deployment.tenant_id if deployment else None,
        first_seen_at=first_seen_at,
        last_seen_at=first_seen_at,
        deleted_at=deleted_at,
    )
