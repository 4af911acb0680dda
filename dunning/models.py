"""Dunning (getting paid): the policy, the steps it took on each invoice, and the queue of
infrastructure actions an operator confirms.

A step is one row per (invoice, deployment, step): its unique `key` is what makes each step
happen once, whoever runs the daily task and however often (docs/decisions.md, "Dunning").
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from arcadia_cloud.models import AppendOnlyModel


class DunningPolicy(models.Model):
    """When to remind, when a deployment goes past_due and when it is suspended, counted in days
    from the invoice's `due_on`. One policy is the default (the one the daily task applies)."""

    name = models.CharField(max_length=100, unique=True)
    is_default = models.BooleanField(default=False)
    reminder_offsets = models.JSONField(
        default=list,
        blank=True,
        help_text="Days relative to the due date a reminder goes out, e.g. [-3, 1, 7].",
    )
    past_due_after_days = models.PositiveSmallIntegerField(
        default=3, help_text="Grace: the deployments go past_due this many days after due."
    )
    suspend_after_days = models.PositiveSmallIntegerField(
        default=14, help_text="The deployments are suspended this many days after due."
    )
    power_off_on_suspend = models.BooleanField(
        default=False,
        help_text="Queue a power-off of the suspended deployment's droplets (operator confirms).",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "dunning_policies"
        ordering = ["-is_default", "name"]
        verbose_name_plural = "dunning policies"
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="dunning_one_default"
            ),
            models.CheckConstraint(
                condition=Q(suspend_after_days__gte=models.F("past_due_after_days")),
                name="dunning_suspend_not_before_past_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name}{' (default)' if self.is_default else ''}"


class DunningPolicyChange(AppendOnlyModel):
    """The audit of a policy: every change, who made it, the fields before and after."""

    policy = models.ForeignKey(DunningPolicy, on_delete=models.PROTECT, related_name="changes")
    actor = models.CharField(max_length=200)
    changes = models.JSONField(default=dict)
    occurred_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "dunning_policy_changes"
        ordering = ["occurred_at", "id"]
        default_permissions = ("view",)

    def __str__(self) -> str:
        return f"{self.policy_id} changed by {self.actor}"


class StepKind(models.TextChoices):
    REMINDER = "reminder"
    PAST_DUE = "past_due"
    SUSPENDED = "suspended"
    REINSTATED = "reinstated"


class StepOutcome(models.TextChoices):
    APPLIED = "applied"
    HELD = "held"  # billing_action_suspended on the deployment; applied once the hold is lifted
    SKIPPED = "skipped"  # not applicable any more (an operator moved the state, a later reminder)


class DunningStep(models.Model):
    """One step of one invoice's dunning (a reminder is invoice-wide: no deployment)."""

    key = models.CharField(max_length=120, unique=True)
    invoice = models.ForeignKey(
        "invoicing.TenantInvoice", on_delete=models.PROTECT, related_name="dunning_steps"
    )
    deployment = models.ForeignKey(
        "deployments.Deployment",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="dunning_steps",
    )
    kind = models.CharField(max_length=16, choices=StepKind.choices)
    offset_days = models.SmallIntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=8, choices=StepOutcome.choices)
    detail = models.TextField(blank=True, default="")
    due_day = models.DateField(help_text="The day the step became due.")
    recorded_at = models.DateTimeField(default=timezone.now)
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "dunning_steps"
        ordering = ["invoice_id", "due_day", "id"]
        default_permissions = ("view",)
        indexes = [models.Index(fields=["deployment", "recorded_at"], name="dunning_by_deployment")]

    def __str__(self) -> str:
        return f"{self.key}: {self.outcome}"


class ActionKind(models.TextChoices):
    POWER_OFF = "power_off"
    POWER_ON = "power_on"


class ActionStatus(models.TextChoices):
    PENDING = "pending", "pending confirmation"
    CONFIRMED = "confirmed"  # queued for DigitalOcean
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"  # retried by the sweep until MAX_ATTEMPTS
    DISMISSED = "dismissed"


class InfrastructureAction(models.Model):
    """A droplet power action dunning wants: power_off waits for an operator's Confirm;
    power_on (reinstatement) is confirmed at once. Tracked to completion on DigitalOcean."""

    deployment = models.ForeignKey(
        "deployments.Deployment", on_delete=models.PROTECT, related_name="infrastructure_actions"
    )
    resource = models.ForeignKey(
        "inventory.CloudResource", on_delete=models.PROTECT, related_name="+"
    )
    step = models.ForeignKey(
        DunningStep, null=True, blank=True, on_delete=models.PROTECT, related_name="actions"
    )
    kind = models.CharField(max_length=16, choices=ActionKind.choices)
    status = models.CharField(
        max_length=16, choices=ActionStatus.choices, default=ActionStatus.PENDING
    )
    provider_action_id = models.CharField(max_length=40, blank=True, default="")
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    decided_by = models.CharField(max_length=200, blank=True, default="")
    decided_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "dunning_infrastructure_actions"
        ordering = ["-created_at", "id"]
        default_permissions = ("view",)
        permissions = [("decide_infrastructure_action", "Can confirm or dismiss power actions")]

    def __str__(self) -> str:
        return f"{self.kind} {self.resource_id} ({self.status})"
