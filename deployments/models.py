from __future__ import annotations

from django.db import models
from django.utils import timezone

from arcadia_cloud.models import AppendOnlyModel
from arcadia_cloud.money import QTY_DECIMAL_PLACES, QTY_MAX_DIGITS


class DeploymentState(models.TextChoices):
    TRIAL = "trial"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    PAUSED = "paused"
    SUSPENDED = "suspended"
    CANCELLED = "cancelled"
    ARCHIVED = "archived"


class LLMMode(models.TextChoices):
    NONE = "none"
    PLAN = "plan"
    PASSTHROUGH = "passthrough"


class Deployment(models.Model):
    """The billable unit: what a tenant runs, bound to one subscription."""

    tenant_id = models.CharField(max_length=200, db_index=True)
    slug = models.SlugField(max_length=100)
    display_name = models.CharField(max_length=200)
    region = models.CharField(max_length=32, blank=True, default="")
    state = models.CharField(
        max_length=16,
        choices=DeploymentState.choices,
        default=DeploymentState.ACTIVE,
        db_index=True,
    )
    llm_mode = models.CharField(max_length=16, choices=LLMMode.choices, default=LLMMode.PASSTHROUGH)
    billing_action_suspended = models.BooleanField(default=False)
    template_code = models.CharField(max_length=100, null=True, blank=True)
    template_version = models.CharField(max_length=50, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "cloud_deployments"
        ordering = ["tenant_id", "slug"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant_id", "slug"], name="deployment_slug_unique_per_tenant"
            )
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id}/{self.slug}"


class DeploymentEvent(AppendOnlyModel):
    """Every state change of a deployment: from, to, who, why, when."""

    deployment = models.ForeignKey(Deployment, on_delete=models.PROTECT, related_name="events")
    from_state = models.CharField(max_length=16, blank=True, default="")
    to_state = models.CharField(max_length=16)
    actor = models.CharField(max_length=200)
    reason = models.TextField(blank=True, default="")
    occurred_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "cloud_deployment_events"
        ordering = ["occurred_at", "id"]
        indexes = [
            models.Index(fields=["deployment", "occurred_at"], name="deployment_event_by_time")
        ]

    def __str__(self) -> str:
        return f"{self.deployment_id}: {self.from_state or '∅'} → {self.to_state}"


class SubscriptionStatus(models.TextChoices):
    ACTIVE = "active"
    PAUSED = "paused"
    CANCELLED = "cancelled"


class Subscription(models.Model):
    """A deployment's binding to one plan version: what the rollup prices it with.

    It stays on its version when the catalog publishes a new one; only an explicit
    `subscription_change_plan_version` moves it. The current period is the calendar month
    being billed, both ends inclusive.
    """

    deployment = models.OneToOneField(
        Deployment, on_delete=models.PROTECT, related_name="subscription"
    )
    plan_version = models.ForeignKey(
        "catalog.PlanVersion", on_delete=models.PROTECT, related_name="subscriptions"
    )
    status = models.CharField(
        max_length=16, choices=SubscriptionStatus.choices, default=SubscriptionStatus.ACTIVE
    )
    current_period_start = models.DateField()
    current_period_end = models.DateField()
    started_on = models.DateField()
    cancelled_on = models.DateField(null=True, blank=True)
    trial_ends_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "subscriptions"
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(current_period_end__gte=models.F("current_period_start")),
                name="subscription_period_ordered",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(status=SubscriptionStatus.CANCELLED, cancelled_on__isnull=False)
                    | (
                        ~models.Q(status=SubscriptionStatus.CANCELLED)
                        & models.Q(cancelled_on__isnull=True)
                    )
                ),
                name="subscription_cancelled_on_matches_status",
            ),
        ]
        indexes = [
            # The rollup's "active at some point in the period" scan.
            models.Index(fields=["started_on", "cancelled_on"], name="subscription_billing_span"),
        ]

    def __str__(self) -> str:
        return f"{self.deployment} on {self.plan_version}"


class SubscriptionAddon(models.Model):
    """An add-on as attached: code, kind, qty and price are SNAPSHOTS of the catalog row at
    attach time, so a later catalog change never reprices the subscriber."""

    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, related_name="addons")
    addon = models.ForeignKey("catalog.Addon", on_delete=models.PROTECT, related_name="+")
    code = models.CharField(max_length=50)
    name = models.CharField(max_length=200)
    resource_kind = models.CharField(max_length=32)
    qty = models.DecimalField(max_digits=QTY_MAX_DIGITS, decimal_places=QTY_DECIMAL_PLACES)
    price_cents = models.IntegerField()
    currency = models.CharField(max_length=3)
    attached_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "subscription_addons"
        ordering = ["subscription_id", "code"]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "addon"], name="subscription_addon_once"
            ),
            models.CheckConstraint(
                condition=models.Q(qty__gte=0), name="subscription_addon_qty_non_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(price_cents__gte=0),
                name="subscription_addon_price_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.price_cents}c)"


class SubscriptionEventType(models.TextChoices):
    CREATED = "created"
    ADDON_ATTACHED = "addon_attached"
    PLAN_CHANGED = "plan_changed"
    CHANGE_SCHEDULED = "change_scheduled"
    CHANGE_CANCELLED = "change_cancelled"
    TRIAL_EXTENDED = "trial_extended"
    TRIAL_ENDING = "trial_ending"  # the tenant was told its trial ends soon (`trial.ending`)
    TRIAL_ENDED = "trial_ended"
    CANCELLED = "cancelled"
    PAUSED = "paused"
    RESUMED = "resumed"


class SubscriptionEvent(AppendOnlyModel):
    """Append-only history of a subscription: who changed what, with the details to explain
    every invoice that followed."""

    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, related_name="events")
    type = models.CharField(max_length=32, choices=SubscriptionEventType.choices)
    details = models.JSONField(default=dict, blank=True)
    actor = models.CharField(max_length=200)
    occurred_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "subscription_events"
        ordering = ["occurred_at", "id"]
        indexes = [
            models.Index(fields=["subscription", "occurred_at"], name="subscription_event_by_time")
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.subscription_id} at {self.occurred_at:%Y-%m-%d %H:%M}"


class SubscriptionSegment(models.Model):
    """A stretch of a subscription's days on one plan version and add-on set (issue 20).

    A subscription that never changed has no segments: its one version and its add-on rows
    price every month. The first change writes two: the days before the change on the old terms
    (ends_on set) and the days from it on the new ones (ends_on null: the open segment, always
    the subscription's current version). `addons` snapshots the attached add-ons' terms (code,
    name, resource_kind, qty, price_cents, currency) as they were on the segment's days.
    """

    subscription = models.ForeignKey(
        Subscription, on_delete=models.PROTECT, related_name="segments"
    )
    plan_version = models.ForeignKey(
        "catalog.PlanVersion", on_delete=models.PROTECT, related_name="+"
    )
    addons = models.JSONField(default=list, blank=True)
    starts_on = models.DateField()
    ends_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "subscription_segments"
        ordering = ["subscription_id", "starts_on"]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "starts_on"], name="subscription_segment_start_once"
            ),
            models.UniqueConstraint(
                fields=["subscription"],
                condition=models.Q(ends_on__isnull=True),
                name="subscription_one_open_segment",
            ),
            models.CheckConstraint(
                condition=models.Q(ends_on__isnull=True)
                | models.Q(ends_on__gte=models.F("starts_on")),
                name="subscription_segment_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subscription_id}: v{self.plan_version_id} from {self.starts_on}"


class ScheduledChangeStatus(models.TextChoices):
    PENDING = "pending"
    APPLIED = "applied"
    CANCELLED = "cancelled"


class SubscriptionScheduledChange(models.Model):
    """A plan / add-on change asked for at the period end: applied on `effective_on` (the first
    day of the next period) by the daily task or the rollup, cancellable until then."""

    subscription = models.ForeignKey(
        Subscription, on_delete=models.PROTECT, related_name="scheduled_changes"
    )
    plan_version = models.ForeignKey(
        "catalog.PlanVersion", on_delete=models.PROTECT, related_name="+"
    )
    addon_codes = models.JSONField(default=list, blank=True)
    effective_on = models.DateField()
    status = models.CharField(
        max_length=16, choices=ScheduledChangeStatus.choices, default=ScheduledChangeStatus.PENDING
    )
    requested_by = models.CharField(max_length=200)
    requested_at = models.DateTimeField(default=timezone.now)
    resolved_by = models.CharField(max_length=200, blank=True, default="")
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "subscription_scheduled_changes"
        ordering = ["subscription_id", "effective_on", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription"],
                condition=models.Q(status="pending"),
                name="subscription_one_pending_change",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "effective_on"], name="scheduled_change_due"),
        ]

    def __str__(self) -> str:
        return f"{self.subscription_id} → v{self.plan_version_id} on {self.effective_on}"
