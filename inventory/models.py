from __future__ import annotations

from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from arcadia_cloud.models import AppendOnlyModel
from pricing.kinds import RESOURCE_KINDS

PROVIDER_DIGITALOCEAN = "digitalocean"


class ProjectPurpose(models.TextChoices):
    INTERNAL = "internal"
    TENANT = "tenant"
    SHARED = "shared"


class CloudProject(models.Model):
    """Mirror of a DigitalOcean project. Operators classify projects to tenants here."""

    provider = models.CharField(max_length=32, default=PROVIDER_DIGITALOCEAN)
    provider_id = models.CharField(max_length=64)
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True, default="")
    is_default = models.BooleanField(default=False)
    tenant_id = models.CharField(max_length=200, null=True, blank=True, db_index=True)
    purpose = models.CharField(
        max_length=16, choices=ProjectPurpose.choices, default=ProjectPurpose.TENANT
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "cloud_projects"
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "provider_id"], name="cloud_project_unique")
        ]

    def __str__(self) -> str:
        return self.name


# The kinds inventory knows, as names code branches on (`ResourceKind.DROPLET == "droplet"`, with
# its label), generated from the one registry, `pricing.kinds.RESOURCE_KINDS`: naming a kind the
# registry lacks fails at import. Unknown DigitalOcean kinds are still stored, under their
# normalized name, so `CloudResource.kind` takes no choices.
ResourceKind = models.TextChoices(
    "ResourceKind",
    [(kind.code.upper(), (kind.code, kind.label)) for kind in RESOURCE_KINDS.values()],
    module=__name__,
)


class CloudResource(models.Model):
    """One row per provider resource of every kind; tombstoned (deleted_at), never deleted."""

    provider = models.CharField(max_length=32, default=PROVIDER_DIGITALOCEAN)
    kind = models.CharField(max_length=32)
    provider_id = models.CharField(max_length=128)
    name = models.CharField(max_length=255, blank=True, default="")
    region = models.CharField(max_length=64, blank=True, default="")
    size_slug = models.CharField(max_length=64, blank=True, default="")
    status = models.CharField(max_length=32, blank=True, default="")
    attrs = models.JSONField(default=dict, blank=True)
    tenant_id = models.CharField(max_length=200, null=True, blank=True)
    project = models.ForeignKey(
        CloudProject, null=True, blank=True, on_delete=models.SET_NULL, related_name="resources"
    )
    deployment = models.ForeignKey(
        "deployments.Deployment",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="resources",
    )
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    stale_strike_count = models.PositiveSmallIntegerField(default=0)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "cloud_resources"
        ordering = ["kind", "name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "kind", "provider_id"], name="cloud_resource_unique"
            ),
        ]
        indexes = [
            # mark_stale and the live listings: live rows of one kind.
            models.Index(fields=["kind", "deleted_at"], name="resource_kind_live"),
            # invoice line matching: (kind, lower(name)).
            models.Index("kind", Lower("name"), name="resource_kind_lower_name"),
            models.Index(fields=["tenant_id"], name="resource_tenant"),
            # The inventory list's order: a page of a kind (or of everything) is read off the
            # index instead of sorting every live row (docs/performance.md).
            models.Index(fields=["kind", "name", "id"], name="resource_list_order"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.name or self.provider_id}"

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class KindListing(models.Model):
    """The moment of the last complete listing of a kind (issue 22): an unchanged re-sync
    writes nothing on the resources, so a live row without strikes was seen by its kind's last
    listing, and a row that goes missing takes its `last_seen_at` (hence its `deleted_at`) from
    here: the last complete listing that still returned it."""

    kind = models.CharField(max_length=32, primary_key=True)
    listed_at = models.DateTimeField()

    class Meta:
        db_table = "inventory_kind_listings"

    def __str__(self) -> str:
        return f"{self.kind} listed at {self.listed_at:%Y-%m-%d %H:%M}"


class ResourceEventType(models.TextChoices):
    DISCOVERED = "discovered"
    UPDATED = "updated"
    DELETED = "deleted"
    RESTORED = "restored"
    ATTRIBUTED = "attributed"
    TAGGED = "tagged"
    DRIFT_DETECTED = "drift_detected"
    POWER_ACTION = "power_action"


class CloudResourceEvent(AppendOnlyModel):
    """Append-only audit of everything that happened to a resource."""

    resource = models.ForeignKey(CloudResource, on_delete=models.PROTECT, related_name="events")
    type = models.CharField(max_length=32, choices=ResourceEventType.choices)
    changes = models.JSONField(default=dict, blank=True)
    actor = models.CharField(max_length=200, default="system")
    occurred_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "cloud_resource_events"
        ordering = ["occurred_at", "id"]
        indexes = [models.Index(fields=["resource", "occurred_at"], name="resource_event_by_time")]

    def __str__(self) -> str:
        return f"{self.type} {self.resource_id} at {self.occurred_at:%Y-%m-%d %H:%M}"


class MeasurementStatus(models.TextChoices):
    COMPLETE = "complete"  # the value is the day's measurement: metered
    PARTIAL = "partial"  # stopped part-way (time bound): a lower bound, never metered
    FAILED = "failed"  # the source failed or had no data: nothing known, retried next run


class ResourceMeasurement(models.Model):
    """A day's measurement of one resource taken at the source (issue 17): a Spaces bucket's
    size through the S3 API, a droplet's public outbound traffic from DigitalOcean monitoring.

    One row per (resource, day, metric); `value` is in GB (10^9 bytes), exact to 6 places. Only
    a `complete` row is metered; a partial or failed one says why in `reason` and is replaced
    when a later run measures the day again.
    """

    resource = models.ForeignKey(
        CloudResource, on_delete=models.PROTECT, related_name="measurements"
    )
    day = models.DateField()
    metric = models.CharField(max_length=32)
    value = models.DecimalField(max_digits=24, decimal_places=6, null=True, blank=True)
    status = models.CharField(max_length=16, choices=MeasurementStatus.choices)
    reason = models.CharField(max_length=500, blank=True, default="")
    detail = models.JSONField(default=dict, blank=True)
    source = models.CharField(max_length=32)
    measured_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "resource_measurements"
        ordering = ["-day", "resource_id", "metric"]
        constraints = [
            models.UniqueConstraint(
                fields=["resource", "day", "metric"], name="resource_measurement_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=MeasurementStatus.values),
                name="resource_measurement_status_known",
            ),
        ]
        indexes = [models.Index(fields=["day", "metric"], name="resource_measurement_by_day")]

    def __str__(self) -> str:
        return f"{self.metric} of {self.resource_id} on {self.day}: {self.value} ({self.status})"


class CloudResourceHistory(models.Model):
    """The billed timeline of a resource: one row per interval in which everything billing reads
    of it (what it bills as, status, size, deployment, tenant) stayed the same.

    [valid_from, valid_to), whole seconds; valid_to NULL = still so. Written only by the
    inventory chokepoint (`inventory.services`), in the transaction of the change it records;
    metering integrates it (docs/decisions.md "Resource history"). A tombstoned resource's last
    interval ends at its last sighting; a restored one opens a new interval when seen again.
    """

    resource = models.ForeignKey(
        CloudResource, on_delete=models.PROTECT, related_name="billed_history"
    )
    # What the resource bills as then (`pricing.kinds.billed_as`): its kind, or gpu_droplet /
    # k8s_worker for a droplet.
    kind = models.CharField(max_length=32)
    valid_from = models.DateTimeField()
    valid_to = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=32, blank=True, default="")
    # GB, or a node / instance count (`pricing.kinds.billed_size`); NULL = unknown (not billed).
    size = models.DecimalField(max_digits=21, decimal_places=6, null=True, blank=True)
    deployment = models.ForeignKey(
        "deployments.Deployment",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    tenant_id = models.CharField(max_length=200, null=True, blank=True)
    # DigitalOcean's size slug then (`CloudResource.size_slug`): a resize opens a new interval,
    # so usage is priced by the size it ran at (issue 18).
    size_slug = models.CharField(max_length=64, blank=True, default="", db_default="")

    class Meta:
        db_table = "cloud_resource_history"
        ordering = ["resource_id", "valid_from", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(valid_to__isnull=True)
                | models.Q(valid_to__gte=models.F("valid_from")),
                name="resource_history_ordered",
            ),
            # At most one open interval per resource.
            models.UniqueConstraint(
                fields=["resource"],
                condition=models.Q(valid_to__isnull=True),
                name="resource_history_one_open",
            ),
        ]
        indexes = [
            # Metering: the intervals of attributed resources overlapping a day.
            models.Index(
                fields=["valid_from", "valid_to"],
                condition=models.Q(deployment_id__isnull=False),
                name="resource_history_attributed",
            ),
            models.Index(fields=["resource", "valid_from"], name="resource_history_by_resource"),
        ]

    def __str__(self) -> str:
        return f"{self.resource_id} {self.kind} {self.status} from {self.valid_from:%Y-%m-%d %H:%M}"


class SyncStatus(models.Model):
    """The last outcome of each inventory sync target (a listed kind, `backups`, `projects`):
    when a run last completed its listing and when one last failed, with why. Metering reads it
    to tell a day the history fully knows from one metered while its kind's sync was failing
    (docs/decisions.md "skipped while a sync was failing"). Written only by
    `inventory.services.sync_status_record`."""

    target = models.CharField(max_length=32, unique=True)
    # The `now` of the last run whose listing completed and was applied.
    last_succeeded_at = models.DateTimeField(null=True, blank=True)
    last_failed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        db_table = "inventory_sync_status"
        ordering = ["target"]
        verbose_name_plural = "sync statuses"

    def __str__(self) -> str:
        return self.target

    @property
    def failing(self) -> bool:
        """Its last run failed (no success since)."""
        return self.last_failed_at is not None and (
            self.last_succeeded_at is None or self.last_failed_at > self.last_succeeded_at
        )
