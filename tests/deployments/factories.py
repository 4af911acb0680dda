"""Builders for deployments in tests (cloud resources: tests.inventory.factories)."""

from __future__ import annotations

import itertools

from deployments.models import Deployment
from deployments.services import deployment_create
from tests.conftest import TENANT_A

ACTOR = "test:deployments"
_ids = itertools.count(1)


def make_deployment(*, tenant_id: str = TENANT_A, slug: str | None = None, **kwargs) -> Deployment:
    n = next(_ids)
    return deployment_create(
        tenant_id=tenant_id,
        slug=f"app-{n}" if slug is None else slug,
        display_name=kwargs.pop("display_name", f"App {n}"),
        actor=kwargs.pop("actor", ACTOR),
        **kwargs,
    )


def force_state(deployment: Deployment, state: str) -> Deployment:
    """Arrange a starting state without the state machine (tests only)."""
    Deployment.objects.filter(pk=deployment.pk).update(state=state)
    deployment.refresh_from_db()
    return deployment
