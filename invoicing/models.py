"""Tables of the invoicing app.

Metering (SPEC §11): `usage_records` and `metering_config`. LLM usage (SPEC §12):
`llm_usage_events`. Tenant invoices live beside them in their own section.
"""

from __future__ import annotations

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now

from catalog import billing_kinds

# ---------------------------------------------------------------------------------------------
# Metering
# ---------------------------------------------------------------------------------------------

DEFAULT_RETENTION_DAYS = 400
# Usage must outlive the rollup of the month it belongs to (run on the 1st of the next month)
# and a late re-run of it: two full months is the least an operator may configure.
MIN_RETENTION_DAYS = 62


class Granularity(models.TextChoices):
    DAILY = "daily"
    HOURLY = "hourly"


class UsageSource(models.TextChoices):
    METER = "meter", "metered from inventory"
    LLM_GATEWAY = "llm_gateway", "reported by the LLM gateway"
    MANUAL = "manual", "entered by an operator"


class UsageRecord(models.Model):
    """One metered observation: what a deployment used of one billing kind in one period.

    `period_start` is a UTC instant: midnight for daily rows, the hour for hourly rows, so both
    granularities share one column and one index.

    The exact quantity is `qty_numerator / qty_denominator`. Storage accrues as size ÷ days in
    the month per day, which no finite decimal holds (1/31 GB-month), so the row keeps the exact
    fraction and `qty` is that fraction rounded half-up to 6 places, for people and exports.
    `invoicing.selectors.usage_for_deployments` sums the exact fractions and rounds once, so ten
    days of two DNS zones in May add up to exactly 20/31 = 0.645161 (SPEC §17 example 3), not to
    twenty rounded days (0.645160). Whole quantities (hours, tokens) have denominator 1.
    """

    deployment = models.ForeignKey(
        "deployments.Deployment", on_delete=models.PROTECT, related_name="usage_records"
    )
    resource = models.ForeignKey(
        "inventory.CloudResource",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="usage_records",
    )
    resource_kind = models.CharField(
        max_length=32, choices=billing_kinds.choices(), help_text="The billing kind."
    )
    period_start = models.DateTimeField()
    granularity = models.CharField(
        max_length=8, choices=Granularity.choices, default=Granularity.DAILY
    )
    qty = models.DecimalField(max_digits=20, decimal_places=6)
    qty_numerator = models.DecimalField(max_digits=20, decimal_places=6)
    qty_denominator = models.PositiveIntegerField(default=1)
    source = models.CharField(max_length=16, choices=UsageSource.choices)
    # Reserved for splitting a shared resource's usage between deployments; nothing writes it yet.
    sub_attribution = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        db_table = "usage_records"
        ordering = ["deployment_id", "period_start", "resource_kind", "id"]
        constraints = [
            # SPEC §11's key, resource first: the metering run also asks "was this resource
            # metered that day?" whatever its deployment, and this index answers that too.
            models.UniqueConstraint(
                fields=["resource", "period_start", "granularity", "deployment"],
                condition=Q(resource__isnull=False),
                name="usage_record_unique_per_resource",
            ),
            # Rows without a resource (LLM tokens, manual entries): one per source and kind.
            models.UniqueConstraint(
                fields=["deployment", "resource_kind", "period_start", "granularity", "source"],
                condition=Q(resource__isnull=True),
                name="usage_record_unique_without_resource",
            ),
            models.CheckConstraint(condition=Q(qty__gte=0), name="usage_record_qty_non_negative"),
            models.CheckConstraint(
                condition=Q(qty_numerator__gte=0), name="usage_record_numerator_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(qty_denominator__gte=1), name="usage_record_denominator_positive"
            ),
            models.CheckConstraint(
                condition=Q(granularity__in=Granularity.values),
                name="usage_record_granularity_known",
            ),
            models.CheckConstraint(
                condition=Q(source__in=UsageSource.values), name="usage_record_source_known"
            ),
        ]
        indexes = [
            # usage_for_period / usage_for_deployments: one deployment's rows in a day range.
            models.Index(fields=["deployment", "period_start"], name="usage_record_by_deployment"),
        ]

    def __str__(self) -> str:
        return f"{self.resource_kind} {self.qty} for {self.deployment_id} at {self.period_start}"


class MeteringConfig(models.Model):
    """How one billing kind is metered: the granularity of its rows and how long they are kept.

    A kind without a row is metered daily and kept DEFAULT_RETENTION_DAYS days.
    """

    billing_kind = models.CharField(max_length=32, unique=True, choices=billing_kinds.choices())
    granularity = models.CharField(
        max_length=8, choices=Granularity.choices, default=Granularity.DAILY
    )
    retention_days = models.PositiveIntegerField(
        default=DEFAULT_RETENTION_DAYS,
        validators=[MinValueValidator(MIN_RETENTION_DAYS)],
        help_text=f"Usage rows older than this are deleted (at least {MIN_RETENTION_DAYS}).",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "metering_config"
        ordering = ["billing_kind"]
        verbose_name = "metering config"
        verbose_name_plural = "metering config"
        constraints = [
            models.CheckConstraint(
                condition=Q(retention_days__gte=MIN_RETENTION_DAYS),
                name="metering_config_retention_minimum",
            ),
            models.CheckConstraint(
                condition=Q(granularity__in=Granularity.values),
                name="metering_config_granularity_known",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.billing_kind}: {self.granularity}, kept {self.retention_days} days"


# ---------------------------------------------------------------------------------------------
# LLM usage
# ---------------------------------------------------------------------------------------------


class LLMBillingMode(models.TextChoices):
    """How an event is billed: its deployment's llm_mode when the event was received.

    Recorded per event so a deployment switching mode mid-month never bills an event twice
    (once as llm_tokens usage and once as a passthrough charge) or not at all.
    """

    PLAN = "plan"
    PASSTHROUGH = "passthrough"


class LLMUsageEvent(models.Model):
    """One priced LLM request as reported by the gateway, the pricing authority (SPEC §12)."""

    gateway_request_id = models.CharField(max_length=200, unique=True)
    deployment = models.ForeignKey(
        "deployments.Deployment", on_delete=models.PROTECT, related_name="llm_usage_events"
    )
    tenant_id = models.CharField(max_length=200)
    model = models.CharField(max_length=200)
    input_tokens = models.BigIntegerField()
    output_tokens = models.BigIntegerField()
    charge = models.DecimalField(max_digits=20, decimal_places=8)
    currency = models.CharField(max_length=3, help_text="ISO 4217 code of the charge.")
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(db_default=Now())
    billed_as = models.CharField(max_length=16, choices=LLMBillingMode.choices)
    # sha256 of the event as reported: a repeated gateway_request_id with the same hash is a
    # duplicate delivery, with another hash a conflict.
    payload_hash = models.CharField(max_length=64)

    class Meta:
        db_table = "llm_usage_events"
        ordering = ["occurred_at", "id"]
        verbose_name = "LLM usage event"
        constraints = [
            models.CheckConstraint(
                condition=Q(input_tokens__gte=0, output_tokens__gte=0),
                name="llm_usage_tokens_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(charge__gte=0), name="llm_usage_charge_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(billed_as__in=LLMBillingMode.values), name="llm_usage_billed_as_known"
            ),
        ]
        indexes = [
            models.Index(fields=["deployment", "occurred_at"], name="llm_usage_by_deployment"),
        ]

    def __str__(self) -> str:
        return f"{self.gateway_request_id} ({self.charge} {self.currency})"
