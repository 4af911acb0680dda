"""Reads of deployments and subscriptions, with bounded query counts, and the pricing terms of a
subscription for the quote engine (rollup and live accrual call these)."""

from __future__ import annotations

import datetime as dt

from django.db.models import F, Prefetch, Q, QuerySet

from catalog.selectors import addon_terms, plan_terms
from deployments.models import (
    Deployment,
    DeploymentEvent,
    Subscription,
    SubscriptionAddon,
    SubscriptionEvent,
)
from pricing.engine import AddonTerms, PlanTerms


def deployments_list() -> QuerySet[Deployment]:
    """Deployments with their subscription, its plan and add-ons: two queries for any count."""
    return (
        Deployment.objects.select_related("subscription__plan_version__plan")
        .prefetch_related(
            Prefetch("subscription__addons", queryset=SubscriptionAddon.objects.order_by("code"))
        )
        .order_by("tenant_id", "slug", "id")
    )


def deployments_with_details() -> QuerySet[Deployment]:
    """Deployments ready to render in full: also the deployment's and subscription's events."""
    return deployments_list().prefetch_related(
        Prefetch("events", queryset=DeploymentEvent.objects.order_by("occurred_at", "id")),
        Prefetch(
            "subscription__events", queryset=SubscriptionEvent.objects.order_by("occurred_at", "id")
        ),
    )


def _subscriptions() -> QuerySet[Subscription]:
    return Subscription.objects.select_related("deployment", "plan_version__plan").prefetch_related(
        "plan_version__items",
        Prefetch("addons", queryset=SubscriptionAddon.objects.order_by("code")),
    )


def subscription_for_deployment(deployment: Deployment) -> Subscription | None:
    """The deployment's subscription with its version, items and snapshotted add-ons, or None."""
    return _subscriptions().filter(deployment=deployment).first()


def subscriptions_active_between(start: dt.date, end: dt.date) -> QuerySet[Subscription]:
    """Subscriptions active on at least one day of [start, end] (both inclusive), prefetched.

    A subscription cancelled before its start day never ran and is left out.
    """
    return (
        _subscriptions()
        .filter(started_on__lte=end)
        .filter(
            Q(cancelled_on__isnull=True)
            | (Q(cancelled_on__gte=start) & Q(cancelled_on__gte=F("started_on")))
        )
        .order_by("deployment__tenant_id", "deployment_id")
    )


def subscription_pricing_terms(
    subscription: Subscription,
) -> tuple[PlanTerms, tuple[AddonTerms, ...]]:
    """The bound plan version and the SNAPSHOTTED add-ons as quote-engine terms.

    Never the live catalog add-ons: a later catalog change must not reprice a subscriber.
    """
    return plan_terms(subscription.plan_version), addon_terms(subscription.addons.all())
