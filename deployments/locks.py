"""Row locks of the deployments domain, taken here and nowhere else.

Lock order, across apps: deployment → subscription → (catalog rows are only read) → cloud
resources (ordered by pk). A service that needs several takes them in that order, so two
services can never wait on each other.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet

from deployments.models import Deployment, Subscription
from inventory.models import CloudResource


def lock_deployment(deployment_id: int) -> Deployment:
    return Deployment.objects.select_for_update().get(pk=deployment_id)


def lock_subscription_of(deployment: Deployment) -> Subscription | None:
    """The deployment's subscription, locked (call with the deployment already locked)."""
    return (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("plan_version__plan")
        .filter(deployment=deployment)
        .first()
    )


def lock_subscription(subscription_id: int) -> Subscription:
    return (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("deployment", "plan_version__plan")
        .get(pk=subscription_id)
    )


def lock_resources(resource_ids: Iterable[int]) -> QuerySet[CloudResource]:
    """The resources, locked in pk order; only what attribution needs is loaded."""
    return (
        CloudResource.objects.select_for_update()
        .filter(pk__in=list(resource_ids))
        .only("id", "kind", "name", "deployment_id", "deleted_at")
        .order_by("pk")
    )
