"""Small factories for drift tests: inventory rows are written directly (tests.inventory)."""

from __future__ import annotations

import itertools
from typing import Any

from drift.models import CloudDrift, CloudProvisioned
from drift.services import provisioned_record
from inventory.models import CloudResource
from tests.inventory.factories import make_resource

_sequence = itertools.count(1)

DEFAULT_ATTRS: dict[str, Any] = {"vcpus": 1, "memory": 1024, "tags": ["web", "prod"]}


def make_droplet(**overrides: Any) -> CloudResource:
    """A live droplet as the drift tests watch it: what `make_provisioned`'s default spec asks
    for (syd1, s-1vcpu-1gb), active, with a few attributes."""
    values: dict[str, Any] = {
        "name": f"web-{next(_sequence)}",
        "region": "syd1",
        "size_slug": "s-1vcpu-1gb",
        "status": "active",
        "attrs": dict(DEFAULT_ATTRS),
    }
    values.update(overrides)
    return make_resource(**values)


def make_provisioned(
    resource: CloudResource | None = None, spec: dict[str, Any] | None = None
) -> CloudProvisioned:
    return provisioned_record(
        resource=resource or make_droplet(),
        spec=spec if spec is not None else {"size_slug": "s-1vcpu-1gb", "region": "syd1"},
        actor="test:factory",
    )


def set_live(resource: CloudResource, **fields: Any) -> None:
    """Change what inventory sees, as a sync would."""
    CloudResource.objects.filter(pk=resource.pk).update(**fields)


def open_drifts(resource: CloudResource | None = None):
    drifts = CloudDrift.objects.filter(status="open")
    return drifts.filter(resource=resource) if resource is not None else drifts
