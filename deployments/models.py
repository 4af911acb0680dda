from __future__ import annotations

from django.db import models
from django.utils import timezone

from arcadia_cloud.models import AppendOnlyModel


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
        max_length=16, choices=DeploymentState.choices, default=DeploymentState.ACTIVE, db_index=True
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
            models.UniqueConstraint(fields=["tenant_id", "slug"], name="deployment_slug_unique_per_tenant")
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
        indexes = [models.Index(fields=["deployment", "occurred_at"], name="deployment_event_by_time")]

    def __str__(self) -> str:
        return f"{self.deployment_id}: {self.from_state or '∅'} → {self.to_state}"
