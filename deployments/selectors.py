"""Reads of deployments and subscriptions, with bounded query counts, and the subscriptions a
month prices as the pricing loader takes them (`pricing_subjects_active_between`, their
snapshotted add-ons and days)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Exists, F, OuterRef, Prefetch, Q, QuerySet

from catalog.selectors import addon_terms
from deployments.models import (
    Deployment,
    DeploymentEvent,
    Subscription,
    SubscriptionAddon,
    SubscriptionEvent,
    SubscriptionScheduledChange,
    SubscriptionSegment,
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
        Prefetch(
            "subscription__segments",
            queryset=SubscriptionSegment.objects.select_related("plan_version__plan"),
        ),
        Prefetch(
            "subscription__scheduled_changes",
            queryset=SubscriptionScheduledChange.objects.select_related(
                "plan_version__plan"
            ).order_by("-requested_at", "-id"),
        ),
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
    rows = (
        subscriptions.annotate(
            segmented=Exists(SubscriptionSegment.objects.filter(subscription_id=OuterRef("pk")))
        )
        .order_by("deployment__tenant_id", "deployment_id")
        .values_list(
            "pk",
            "plan_version_id",
            "deployment_id",
            "deployment__slug",
            "deployment__tenant_id",
            "status",
            "started_on",
            "cancelled_on",
            "trial_ends_at",
            "segmented",
        )
    )
    subjects = []
    for row in rows:
        pk, version_id, deployment_id, slug, tenant_id, status, started_on, cancelled_on = row[:8]
        bills_from = trial_first_billable_day(started_on, row[8])
        if bills_from > end or (cancelled_on is not None and cancelled_on < bills_from):
            continue  # trial days only in the range: nothing of them is billed
        subjects.append(
            PricingSubject(
                tenant_id=tenant_id,
                plan_version_id=version_id,
                subscription_id=pk,
                deployment_id=deployment_id,
                deployment_slug=slug,
                status=status,
                started_on=started_on,
                cancelled_on=cancelled_on,
                bills_from=bills_from if bills_from != started_on else None,
                segmented=row[9],
            )
        )
    return subjects


def trial_first_billable_day(started_on: dt.date, trial_ends_at: dt.datetime | None) -> dt.date:
    """The first day a subscription is billed: its start, or the day its trial ends on (a trial
    ends at 00:00 UTC of its first billable day; one ending later in a day bills from the next).
    """
    if trial_ends_at is None:
        return started_on
    ends = trial_ends_at.astimezone(dt.UTC)
    day = ends.date() if ends.time() == dt.time.min else ends.date() + dt.timedelta(days=1)
    return max(started_on, day)


def segment_terms(
    subscription_ids: Iterable[int], start: dt.date, end: dt.date
) -> dict[int, list[SegmentTerms]]:
    """{subscription id: its segments overlapping [start, end], in day order} in one query;
    each segment's add-ons as engine terms from its snapshot."""
    ids = sorted(set(subscription_ids))
    found: dict[int, list[SegmentTerms]] = {pk: [] for pk in ids}
    if not ids:
        return found
    rows = (
        SubscriptionSegment.objects.filter(subscription_id__in=ids, starts_on__lte=end)
        .filter(Q(ends_on__isnull=True) | Q(ends_on__gte=start))
        .order_by("subscription_id", "starts_on")
    )
    for segment in rows:
        found[segment.subscription_id].append(
            SegmentTerms(
                plan_version_id=segment.plan_version_id,
                addons=addon_terms(_SnapshotRow(**row) for row in segment.addons),
                starts_on=segment.starts_on,
                ends_on=segment.ends_on,
            )
        )
    return found


@dataclass(frozen=True)
class SegmentTerms:
    plan_version_id: int
    addons: tuple[AddonTerms, ...]
    starts_on: dt.date
    ends_on: dt.date | None


@dataclass(frozen=True)
class _SnapshotRow:
    code: str
    resource_kind: str
    qty: str
    price_cents: int
    currency: str
    name: str = ""


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
