"""Desired state of provisioned resources and the drift between it and what inventory sees.

`cloud_provisioned` holds, per resource, the spec we meant to build; the hourly sweep
(`drift.services.drift_detect_all`) compares it with the inventory mirror and keeps one
`cloud_drift` row open per mismatching (resource, field). Resolved drifts stay as history.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from inventory.models import CloudResource

FIELD_MAX_LENGTH = 100


class CloudProvisioned(models.Model):
    """The desired state of one resource, versioned: every accepted change bumps spec_version."""

    resource = models.OneToOneField(
        CloudResource, on_delete=models.PROTECT, related_name="provisioned"
    )
    spec = models.JSONField(
        help_text="Desired state: field name → value. Top-level resource fields (name, region, "
        "size_slug, status, ...) or attrs keys; `exists` (boolean) for presence."
    )
    spec_version = models.PositiveIntegerField(default=1)
    recorded_at = models.DateTimeField(default=timezone.now)
    recorded_by = models.CharField(max_length=200)

    class Meta:
        db_table = "cloud_provisioned"
        verbose_name = "provisioned spec"
        # No delete: drift history refers to the expectations recorded here.
        default_permissions = ("add", "change", "view")
        constraints = [
            models.CheckConstraint(
                condition=Q(spec_version__gte=1), name="provisioned_spec_version_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.resource} v{self.spec_version}"


class DriftStatus(models.TextChoices):
    """Lifecycle of a drift.

    `reverted` exists for the day live infrastructure can be changed back to the spec; nothing
    sets it today (SPEC §7: revert is out of scope and nothing may pretend to do it).
    """

    OPEN = "open"
    ACCEPTED = "accepted"
    REVERTED = "reverted"
    STALE = "stale"


class CloudDrift(models.Model):
    """One observed difference between a resource's spec and its live state.

    At most one row per (resource, field) is open, enforced by a partial unique index; closed
    rows (accepted, stale, reverted) are kept as history. Rows change only through
    `drift.services`: the admin and the API are read-only apart from "accept".
    """

    resource = models.ForeignKey(CloudResource, on_delete=models.PROTECT, related_name="drifts")
    field = models.CharField(max_length=FIELD_MAX_LENGTH)
    expected = models.JSONField(null=True, blank=True)
    actual = models.JSONField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=DriftStatus.choices, default=DriftStatus.OPEN)
    detected_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        db_table = "cloud_drift"
        verbose_name = "drift"
        default_permissions = ("view",)
        permissions = [("accept_drift", "Can accept drift (adopt the live value into the spec)")]
        constraints = [
            models.UniqueConstraint(
                fields=["resource", "field"],
                condition=Q(status=DriftStatus.OPEN),
                name="drift_one_open_per_resource_field",
            ),
            models.CheckConstraint(
                condition=(
                    Q(status=DriftStatus.OPEN, resolved_at__isnull=True)
                    | (~Q(status=DriftStatus.OPEN) & Q(resolved_at__isnull=False))
                ),
                name="drift_resolved_at_matches_status",
            ),
        ]
        indexes = [
            # The inbox and the history: one status, newest first.
            models.Index(fields=["status", "-detected_at"], name="drift_status_detected"),
        ]

    def __str__(self) -> str:
        return f"{self.resource} {self.field} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status == DriftStatus.OPEN
