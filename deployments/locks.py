"""Row locks of the deployments domain, taken here and nowhere else.

A service that needs several takes them in the order across apps (docs/CONVENTIONS.md, "Lock
order"): deployment → subscription → (catalog rows are only read) → cloud resources (inventory
locks those, in pk order). So two services can never wait on each other.
"""

from __future__ import annotations

from deployments.models import Deployment, Subscription

# FOR NO KEY UPDATE: writers of a deployment or subscription serialize, while inserts that only
# reference them (usage records, LLM events, invoice lines: a foreign-key check's KEY SHARE lock)
# never wait on a state change, and so can never deadlock with one. Keys are never changed.


def lock_deployment(deployment_id: int) -> Deployment:
    return Deployment.objects.select_for_update(no_key=True).get(pk=deployment_id)


def lock_subscription_of(deployment: Deployment) -> Subscription | None:
    """The deployment's subscription, locked (call with the deployment already locked)."""
    return (
        Subscription.objects.select_for_update(of=("self",), no_key=True)
        .select_related("plan_version__plan")
        .filter(deployment=deployment)
        .first()
    )


def lock_subscription(subscription_id: int) -> Subscription:
    return (
        Subscription.objects.select_for_update(of=("self",), no_key=True)
        .select_related("deployment", "plan_version__plan")
        .get(pk=subscription_id)
    )
