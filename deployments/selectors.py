"""Reads of deployments and subscriptions, with bounded query counts, and the subscriptions a
month prices as the pricing loader takes them (`pricing_subjects_active_between`, their
snapshotted add-ons and days)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db.models import F, Prefetch, Q, QuerySet

from catalog.selectors import addon_terms
from deployments.models import (
    Deployment,
    DeploymentEvent,
    Subscription,
    SubscriptionAddon,
    SubscriptionEvent,
)
from pricing.engine import AddonTerms
from pricing.invoice import PricingSubject


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


def _active_between(start: dt.date, end: dt.date) -> Q:
    """Active on at least one day of [start, end] (both inclusive); a subscription cancelled
    before its start day never ran."""
    return Q(started_on__lte=end) & (
        Q(cancelled_on__isnull=True)
        | (Q(cancelled_on__gte=start) & Q(cancelled_on__gte=F("started_on")))
    )


def subscriptions_active_between(start: dt.date, end: dt.date) -> QuerySet[Subscription]:
    """Subscriptions active on at least one day of [start, end], prefetched for display."""
    return (
        _subscriptions()
        .filter(_active_between(start, end))
        .order_by("deployment__tenant_id", "deployment_id")
    )


def pricing_subjects_active_between(
    start: dt.date, end: dt.date, *, tenant_ids: Iterable[str] | None = None
) -> list[PricingSubject]:
    """The subscriptions active on at least one day of [start, end] as the pricing loader
    takes them, by tenant then deployment: one query (the loader reads their terms)."""
    subscriptions = Subscription.objects.filter(_active_between(start, end))
    if tenant_ids is not None:
        subscriptions = subscriptions.filter(deployment__tenant_id__in=list(tenant_ids))
    rows = subscriptions.order_by("deployment__tenant_id", "deployment_id").values_list(
        "pk",
        "plan_version_id",
        "deployment_id",
        "deployment__slug",
        "deployment__tenant_id",
        "status",
        "started_on",
        "cancelled_on",
    )
    return [
        PricingSubject(
            tenant_id=tenant_id,
            plan_version_id=version_id,
            subscription_id=pk,
            deployment_id=deployment_id,
            deployment_slug=slug,
            status=status,
            started_on=started_on,
            cancelled_on=cancelled_on,
        )
        for pk, version_id, deployment_id, slug, tenant_id, status, started_on, cancelled_on in rows
    ]


def subscription_days(subscription_ids: Iterable[int]) -> dict[int, tuple[dt.date, dt.date | None]]:
    """{subscription id: (started_on, cancelled_on)} in one query."""
    ids = sorted(set(subscription_ids))
    if not ids:
        return {}
    rows = Subscription.objects.filter(pk__in=ids).values_list("pk", "started_on", "cancelled_on")
    return {pk: (started_on, cancelled_on) for pk, started_on, cancelled_on in rows}


def addon_snapshot_terms(subscription_ids: Iterable[int]) -> dict[int, tuple[AddonTerms, ...]]:
    """{subscription id: its SNAPSHOTTED add-ons as engine terms} in one query; a subscription
    without add-ons maps to (). Never the live catalog: a catalog change never reprices a
    subscriber."""
    ids = sorted(set(subscription_ids))
    snapshots: dict[int, list[SubscriptionAddon]] = {pk: [] for pk in ids}
    if ids:
        for snapshot in SubscriptionAddon.objects.filter(subscription_id__in=ids).order_by("code"):
            snapshots[snapshot.subscription_id].append(snapshot)
    return {pk: addon_terms(found) for pk, found in snapshots.items()}
