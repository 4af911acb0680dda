"""Row locks of the deployments domain, taken here and nowhere else.

A service that needs several takes them in the order across apps (docs/CONVENTIONS.md, "Lock
order"): deployment → subscription → (catalog rows are only read) → cloud resources (inventory
locks those, in pk order). So two services can never wait on each other.
"""

from __future__ import annotations

from deployments.models import Deployment, Subscription


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
