"""Small builders for inventory rows in tests."""

from __future__ import annotations

import itertools

from django.utils import timezone

from inventory.models import CloudProject, CloudResource

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


def make_resource(*, kind: str = "droplet", name: str | None = None, **kwargs) -> CloudResource:
    n = next(_ids)
    now = timezone.now()
    kwargs.setdefault("first_seen_at", now)
    kwargs.setdefault("last_seen_at", now)
    return CloudResource.objects.create(
        kind=kind,
        provider_id=kwargs.pop("provider_id", str(900000 + n)),
        name=name or f"{kind}-{n}",
        **kwargs,
    )
