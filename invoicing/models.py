"""Tables of the invoicing app.

Metering (SPEC §11): `usage_records` and `metering_config`. LLM usage (SPEC §12):
`llm_usage_events`. Tenant invoices (SPEC §13): `tenant_invoices`, `tenant_invoice_lines`,
`invoice_number_counters` and `tenant_invoice_events`, in their own section at the end.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Now
from django.utils import timezone

from arcadia_cloud.models import AppendOnlyModel
from arcadia_cloud.money import (
    CHARGE_DECIMAL_PLACES,
    LINE_QTY_DECIMAL_PLACES,
    QTY_DECIMAL_PLACES,
    QTY_MAX_DIGITS,
)
from pricing import kinds as billing_kinds

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
    MEASURED = "measured", "measured at the source"
    LLM_GATEWAY = "llm_gateway", "reported by the LLM gateway"
    MANUAL = "manual", "entered by an operator"


class UsageRecord(models.Model):
    """One metered observation: what a deployment used of one billing kind in one period.

    `period_start` is a UTC instant: midnight for daily rows, the hour for hourly rows, so both
    granularities share one column and one index.

    The exact quantity is `qty_numerator / qty_denominator`. Storage accrues as size ÷ days in
    the month per day, which no finite decimal holds (1/31 GB-month), so the row keeps the exact
    fraction and `qty` is that fraction rounded half-up to 6 places, for people and exports.
    `invoicing.usage.selectors.usage_for_deployments` sums the exact fractions and rounds once, so
    ten days of two DNS zones in May add up to exactly 20/31 = 0.645161 (SPEC §17 example 3), not to
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
    qty = models.DecimalField(max_digits=QTY_MAX_DIGITS, decimal_places=QTY_DECIMAL_PLACES)
    qty_numerator = models.DecimalField(
        max_digits=QTY_MAX_DIGITS, decimal_places=QTY_DECIMAL_PLACES
    )
    qty_denominator = models.PositiveIntegerField(default=1)
    source = models.CharField(max_length=16, choices=UsageSource.choices)
    # The size slug the resource ran at (the history's `size_slug`): a day of a resize is split
    # by size, so each part is priced by its size (issue 18); "" when size does not matter.
    size_slug = models.CharField(max_length=64, blank=True, default="", db_default="")
    # Reserved for splitting a shared resource's usage between deployments; nothing writes it yet.
    sub_attribution = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        db_table = "usage_records"
        ordering = ["deployment_id", "period_start", "resource_kind", "id"]
        constraints = [
            # SPEC §11's key, resource first: the metering run also asks "was this resource
            # metered that day?" whatever its deployment, and this index answers that too.
            # resource_kind: a droplet has its droplet_hours row and its measured bandwidth_gb.
            # size_slug: a day of a resize has one row per size it ran at.
            models.UniqueConstraint(
                fields=[
                    "resource",
                    "period_start",
                    "granularity",
                    "deployment",
                    "resource_kind",
                    "size_slug",
                ],
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


class UsageMonthTotal(models.Model):
    """The month's usage rows summed per (deployment, billing kind, size slug, denominator):
    what the pricing advisor reads instead of scanning millions of rows (issue 18).

    Derived, never edited: on PostgreSQL, statement-level triggers on `usage_records`
    (migration 0014) add every inserted row, subtract every deleted one and apply every update
    in the writer's own statement, whichever writer it is (the metering SQL, bulk inserts, the
    LLM upsert, retention, a shell). Numerators of one denominator add exactly, so a total is
    the exact fraction `qty_numerator / qty_denominator` of its rows. A key without rows has
    no row. Other databases (the SQLite quick start) have no triggers and no rows here: the
    selector reads the usage rows there (`invoicing.usage.selectors.month_units`).
    """

    month = models.DateField(help_text="The UTC month of the rows' period_start (its first day).")
    deployment = models.ForeignKey(
        "deployments.Deployment", on_delete=models.DO_NOTHING, related_name="+"
    )
    resource_kind = models.CharField(max_length=32)
    size_slug = models.CharField(max_length=64, blank=True, default="")
    qty_denominator = models.PositiveIntegerField()
    qty_numerator = models.DecimalField(max_digits=40, decimal_places=QTY_DECIMAL_PLACES)
    rows = models.BigIntegerField(help_text="How many usage rows the total sums.")

    class Meta:
        db_table = "usage_month_totals"
        default_permissions = ("view",)
        constraints = [
            models.UniqueConstraint(
                fields=["month", "deployment", "resource_kind", "size_slug", "qty_denominator"],
                name="usage_month_total_key",
            )
        ]
        indexes = [
            # The trigger drops keys whose last row went: found through this small index.
            models.Index(fields=["rows"], condition=Q(rows=0), name="usage_month_total_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.deployment_id} {self.resource_kind} {self.size_slug}"


def validate_billable_statuses(value: object) -> None:
    """A list of 1-20 distinct non-empty status strings (at most 32 characters), or null."""
    if value is None:
        return
    if (
        not isinstance(value, list)
        or not 1 <= len(value) <= 20
        or not all(isinstance(v, str) and 0 < len(v.strip()) <= 32 for v in value)
        or len(set(value)) != len(value)
    ):
        raise ValidationError(
            "must be a list of 1 to 20 distinct status names (non-empty strings of at most "
            "32 characters), or empty for the registry default"
        )


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
    billable_statuses = models.JSONField(
        null=True,
        blank=True,
        validators=[validate_billable_statuses],
        help_text=(
            "Hourly kinds only: the resource statuses that bill, as a JSON list (e.g. "
            '["active", "off"] to bill powered-off droplets as DigitalOcean does). Empty: the '
            "registry default (pricing/kinds.py)."
        ),
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
    charge = models.DecimalField(max_digits=20, decimal_places=CHARGE_DECIMAL_PLACES)
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


# ---------------------------------------------------------------------------------------------
# Tenant invoices (SPEC §13)
# ---------------------------------------------------------------------------------------------


class InvoiceStatus(models.TextChoices):
    DRAFT = "draft"
    ISSUED = "issued"
    PAID = "paid"
    VOID = "void"


class InvoiceLineKind(models.TextChoices):
    PLAN_BASE = "plan_base"
    ADDON = "addon"
    OVERAGE = "overage"
    USAGE = "usage"
    LLM_USAGE = "llm_usage"
    TAX = "tax"
    # Credit of adjustment notes consumed after tax (`pricing.credit`): a negative amount.
    CREDIT = "credit"


class TenantInvoice(models.Model):
    """One tenant's bill for one calendar month, in ONE currency.

    Written by the rollup as a `draft` (which a forced rollup may regenerate), then frozen when
    `issued`: from then on the amounts and lines never change (a database trigger refuses it,
    see migration 0004), only the status moves on to `paid` or `void`. The number is assigned
    when issued, gaplessly per year (`invoice_number_counters`); a void invoice keeps it.
    """

    tenant_id = models.CharField(max_length=200)
    period_start = models.DateField(help_text="The first day of the billed month.")
    period_end = models.DateField(help_text="The last day of the billed month (inclusive).")
    currency = models.CharField(max_length=3, help_text="ISO 4217 code of every amount.")
    subtotal_cents = models.BigIntegerField(help_text="Every line but the tax line.")
    tax_cents = models.BigIntegerField()
    total_cents = models.BigIntegerField()
    status = models.CharField(
        max_length=8, choices=InvoiceStatus.choices, default=InvoiceStatus.DRAFT
    )
    number = models.CharField(max_length=40, null=True, blank=True, unique=True)
    issued_at = models.DateTimeField(null=True, blank=True)
    due_on = models.DateField(
        null=True, blank=True, help_text="Issue day (UTC) + the tenant's payment terms."
    )
    paid_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.TextField(blank=True, default="")
    generated_at = models.DateTimeField(help_text="When the rollup last wrote the lines.")
    # Credit of the tenant's adjustment notes this invoice consumes, after tax (its `credit`
    # lines): what the tenant pays is total - credit (`amount_due_cents`).
    credit_cents = models.BigIntegerField(default=0)
    # Frozen when issued: the seller and the buyer as the tax invoice names them
    # (`invoicing.documents.parties`); `due_on` too (the trigger of migration 0007).
    parties = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "tenant_invoices"
        ordering = ["-period_start", "tenant_id", "id"]
        # Invoices are written by the rollup and changed only through the status services, so
        # the stock add / change / delete permissions would mean nothing.
        default_permissions = ("view",)
        permissions = [
            ("issue_invoice", "Can issue invoices (assigns their number)"),
            ("void_invoice", "Can void invoices"),
            ("mark_invoice_paid", "Can mark invoices paid"),
            ("export_invoices", "Can export invoices as CSV or XLSX"),
            ("regenerate_invoice", "Can regenerate draft invoices"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant_id", "period_start"], name="tenant_invoice_one_per_period"
            ),
            models.CheckConstraint(
                condition=Q(total_cents=F("subtotal_cents") + F("tax_cents")),
                name="tenant_invoice_total_is_subtotal_plus_tax",
            ),
            models.CheckConstraint(
                condition=Q(subtotal_cents__gte=0, tax_cents__gte=0),
                name="tenant_invoice_amounts_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(credit_cents__gte=0, credit_cents__lte=F("total_cents")),
                name="tenant_invoice_credit_within_total",
            ),
            models.CheckConstraint(
                condition=Q(period_start__day=1, period_end__gte=F("period_start")),
                name="tenant_invoice_period_is_a_month",
            ),
            models.CheckConstraint(
                condition=Q(status__in=InvoiceStatus.values), name="tenant_invoice_status_known"
            ),
            # A draft has no number yet; an issued or paid invoice always has one; a void one
            # keeps the number it had (none when voided as a draft).
            models.CheckConstraint(
                condition=(
                    Q(status=InvoiceStatus.DRAFT, number__isnull=True)
                    | Q(status__in=[InvoiceStatus.ISSUED, InvoiceStatus.PAID], number__isnull=False)
                    | Q(status=InvoiceStatus.VOID)
                ),
                name="tenant_invoice_number_matches_status",
            ),
            models.CheckConstraint(
                condition=~Q(status=InvoiceStatus.PAID) | Q(paid_at__isnull=False),
                name="tenant_invoice_paid_has_paid_at",
            ),
            models.CheckConstraint(
                condition=~Q(status=InvoiceStatus.VOID)
                | (Q(voided_at__isnull=False) & ~Q(void_reason="")),
                name="tenant_invoice_void_has_reason",
            ),
        ]
        indexes = [
            # The finance list and export: a period's invoices by status.
            models.Index(fields=["period_start", "status"], name="tenant_invoice_by_period"),
        ]

    def __str__(self) -> str:
        label = self.number or f"draft #{self.pk}"
        return f"{label} {self.tenant_id} {self.period_start:%Y-%m}"

    @property
    def amount_due_cents(self) -> int:
        return self.total_cents - self.credit_cents


class TenantInvoiceLine(models.Model):
    """One priced line: the quote engine's uniform line, persisted near verbatim.

    Lines are tagged with the deployment and subscription they bill (both NULL for tenant-level
    lines such as the tax line). `meta` carries what explains `amount_cents`. Deleting an invoice
    never cascades to its lines (PROTECT): only the rollup removes a DRAFT's lines to rewrite
    them, and the trigger of migration 0004 refuses any change to the lines of an invoice that
    is no longer a draft.
    """

    invoice = models.ForeignKey(TenantInvoice, on_delete=models.PROTECT, related_name="lines")
    position = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=InvoiceLineKind.choices)
    deployment = models.ForeignKey(
        "deployments.Deployment",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="invoice_lines",
    )
    subscription = models.ForeignKey(
        "deployments.Subscription",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="invoice_lines",
    )
    resource_kind = models.CharField(
        max_length=32, null=True, blank=True, choices=billing_kinds.choices()
    )
    description = models.CharField(max_length=300)
    # 9 places: 1k_tokens overage is a 6-place token count divided by 1000.
    qty = models.DecimalField(max_digits=20, decimal_places=LINE_QTY_DECIMAL_PLACES)
    unit = models.CharField(max_length=16)
    unit_price_cents = models.BigIntegerField()
    amount_cents = models.BigIntegerField()
    meta = models.JSONField(default=dict, blank=True)

    class Meta:
        db_table = "tenant_invoice_lines"
        ordering = ["invoice_id", "position"]
        default_permissions = ("view",)
        constraints = [
            models.UniqueConstraint(
                fields=["invoice", "position"], name="tenant_invoice_line_position_unique"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=InvoiceLineKind.values), name="tenant_invoice_line_kind_known"
            ),
            # Every line is non-negative but a credit line, which is never positive.
            models.CheckConstraint(
                condition=(
                    ~Q(kind=InvoiceLineKind.CREDIT)
                    & Q(qty__gte=0, unit_price_cents__gte=0, amount_cents__gte=0)
                )
                | Q(
                    kind=InvoiceLineKind.CREDIT,
                    qty__gte=0,
                    unit_price_cents__lte=0,
                    amount_cents__lte=0,
                ),
                name="tenant_invoice_line_sign",
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=[InvoiceLineKind.TAX, InvoiceLineKind.CREDIT])
                | Q(deployment__isnull=True, subscription__isnull=True),
                name="tenant_invoice_line_tax_is_tenant_level",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount_cents}c ({self.description})"


class InvoiceNumberCounter(models.Model):
    """The last invoice number issued per (prefix, year).

    The issue service locks the row (SELECT … FOR UPDATE) and increments it in the same
    transaction that issues the invoice, so numbers are unique and gapless: a rolled-back issue
    rolls its number back too, and concurrent issues queue on the row.
    """

    prefix = models.CharField(max_length=16)
    year = models.PositiveSmallIntegerField()
    last_number = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "invoice_number_counters"
        default_permissions = ("view",)
        constraints = [
            models.UniqueConstraint(fields=["prefix", "year"], name="invoice_number_counter_once")
        ]

    def __str__(self) -> str:
        return f"{self.prefix}-{self.year}: {self.last_number}"


class InvoiceEventType(models.TextChoices):
    GENERATED = "generated"
    REGENERATED = "regenerated"
    ISSUED = "issued"
    PAID = "paid"
    VOIDED = "voided"
    CREDITED = "credited"  # an adjustment note was issued against it


class TenantInvoiceEvent(AppendOnlyModel):
    """Append-only history of an invoice: every write, who made it and what it changed."""

    invoice = models.ForeignKey(TenantInvoice, on_delete=models.PROTECT, related_name="events")
    type = models.CharField(max_length=16, choices=InvoiceEventType.choices)
    actor = models.CharField(max_length=200)
    details = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "tenant_invoice_events"
        ordering = ["occurred_at", "id"]
        default_permissions = ("view",)
        indexes = [
            models.Index(fields=["invoice", "occurred_at"], name="tenant_invoice_event_by_time")
        ]

    def __str__(self) -> str:
        return f"{self.type} invoice {self.invoice_id} by {self.actor}"


class RollupRun(models.Model):
    """One month-end rollup fanned out over Celery workers: the period's tenants split into
    chunks (`RollupRunChunk`), each chunk a task any worker may take. The chunk that finishes
    last writes the run's report (`report`, the `RollupReport` as a dict), so the report of a
    run is complete however its chunks were delivered. Written by the rollup only."""

    period_start = models.DateField(help_text="The first day of the month rolled up.")
    force = models.BooleanField(default=False)
    actor = models.CharField(max_length=200)
    chunk_size = models.PositiveIntegerField()
    chunks_total = models.PositiveIntegerField()
    tenants_total = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    report = models.JSONField(null=True, blank=True)

    class Meta:
        db_table = "rollup_runs"
        ordering = ["-started_at", "-id"]
        default_permissions = ("view",)
        indexes = [models.Index(fields=["period_start", "started_at"], name="rollup_run_by_period")]

    def __str__(self) -> str:
        return f"rollup {self.period_start:%Y-%m} run {self.pk}"


class RollupRunChunk(models.Model):
    """Some of a run's tenants, rolled up by one task; `results` (the tenants' results as
    dicts) and `finished_at` are written once, by the first delivery that completes it."""

    run = models.ForeignKey(RollupRun, on_delete=models.CASCADE, related_name="chunks")
    number = models.PositiveIntegerField()
    tenant_ids = models.JSONField()
    results = models.JSONField(null=True, blank=True)
    deliveries = models.PositiveIntegerField(
        default=0, help_text="How many times a worker started it (more than 1: redelivered)."
    )
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "rollup_run_chunks"
        ordering = ["run", "number"]
        default_permissions = ("view",)
        constraints = [
            models.UniqueConstraint(fields=["run", "number"], name="rollup_run_chunk_once")
        ]

    def __str__(self) -> str:
        return f"{self.run} chunk {self.number}"


# ---------------------------------------------------------------------------------------------
# Adjustment notes (credit notes)
# ---------------------------------------------------------------------------------------------


class CreditNoteSettlement(models.TextChoices):
    """What the note gives the tenant back: credit on its balance (consumed by its next
    invoices as a `credit` line) or a refund paid outside (amount, date, reference)."""

    CREDIT = "credit"
    REFUND = "refund"


class CreditNote(models.Model):
    """An adjustment note against an issued or paid invoice (`invoicing.credit_notes`).

    Issued when created — numbered from its own gapless per-year counter
    (`ARC-CN-2026-000001`), the parties frozen — and immutable from then on (a database
    trigger refuses any change to its content or lines, see migration 0007). `subtotal_cents`
    is the credited amount ex-GST, `tax_cents` the GST adjusted half-up on it.
    """

    number = models.CharField(max_length=40, unique=True)
    invoice = models.ForeignKey(
        TenantInvoice, on_delete=models.PROTECT, related_name="credit_notes"
    )
    tenant_id = models.CharField(max_length=200)
    currency = models.CharField(max_length=3)
    reason = models.TextField()
    settlement = models.CharField(max_length=8, choices=CreditNoteSettlement.choices)
    subtotal_cents = models.BigIntegerField()
    tax_cents = models.BigIntegerField()
    total_cents = models.BigIntegerField()
    refund_reference = models.CharField(max_length=200, blank=True, default="")
    refunded_on = models.DateField(null=True, blank=True)
    parties = models.JSONField(default=dict, blank=True)
    issued_at = models.DateTimeField()
    created_by = models.CharField(max_length=200)

    class Meta:
        db_table = "credit_notes"
        ordering = ["-issued_at", "-id"]
        verbose_name = "adjustment note"
        default_permissions = ("view",)
        permissions = [("create_credit_note", "Can issue adjustment notes")]
        constraints = [
            models.CheckConstraint(
                condition=Q(total_cents=F("subtotal_cents") + F("tax_cents")),
                name="credit_note_total_is_subtotal_plus_tax",
            ),
            models.CheckConstraint(
                condition=Q(subtotal_cents__gt=0, tax_cents__gte=0),
                name="credit_note_amounts_positive",
            ),
            models.CheckConstraint(
                condition=Q(settlement__in=CreditNoteSettlement.values),
                name="credit_note_settlement_known",
            ),
            models.CheckConstraint(
                condition=Q(settlement=CreditNoteSettlement.CREDIT)
                | (Q(refunded_on__isnull=False) & ~Q(refund_reference="")),
                name="credit_note_refund_has_date_and_reference",
            ),
        ]
        indexes = [models.Index(fields=["tenant_id", "issued_at"], name="credit_note_by_tenant")]

    def __str__(self) -> str:
        return f"{self.number} on {self.invoice_id} ({self.total_cents}c)"


class CreditNoteLine(models.Model):
    """What one note credits of one invoice line, ex-GST."""

    note = models.ForeignKey(CreditNote, on_delete=models.PROTECT, related_name="lines")
    position = models.PositiveIntegerField()
    invoice_line = models.ForeignKey(
        TenantInvoiceLine, on_delete=models.PROTECT, related_name="credited_by"
    )
    description = models.CharField(max_length=300)
    amount_cents = models.BigIntegerField()

    class Meta:
        db_table = "credit_note_lines"
        ordering = ["note_id", "position"]
        default_permissions = ("view",)
        constraints = [
            models.UniqueConstraint(fields=["note", "position"], name="credit_note_line_position"),
            models.CheckConstraint(
                condition=Q(amount_cents__gt=0), name="credit_note_line_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount_cents}c of line {self.invoice_line_id}"


# ---------------------------------------------------------------------------------------------
# Delivery of documents: receivables pushed to finance, documents emailed
# ---------------------------------------------------------------------------------------------


class DocumentType(models.TextChoices):
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"


class ReceivableStatus(models.TextChoices):
    PENDING = "pending"  # queued, or waiting for a retry (last_error says why)
    PUSHED = "pushed"  # finance accepted it (finance_status: created / updated)
    REJECTED = "rejected"  # finance answered 4xx: an operator pushes again once fixed
    SKIPPED = "skipped"  # FINANCE_URL is not set


def _one_document(name: str) -> models.CheckConstraint:
    """A row about exactly one issued document: an invoice or an adjustment note, as its
    `document_type` says."""
    return models.CheckConstraint(
        condition=(
            Q(document_type=DocumentType.INVOICE, invoice__isnull=False)
            & Q(credit_note__isnull=True)
        )
        | (
            Q(document_type=DocumentType.CREDIT_NOTE, credit_note__isnull=False)
            & Q(invoice__isnull=True)
        ),
        name=name,
    )


class ReceivablePush(models.Model):
    """One issued document as a receivable in finance (`invoicing.receivables`): exactly one
    row per document, so retries and "Push again" update it, never add another."""

    document_type = models.CharField(max_length=16, choices=DocumentType.choices)
    invoice = models.OneToOneField(
        TenantInvoice,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="receivable_push",
    )
    credit_note = models.OneToOneField(
        CreditNote,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="receivable_push",
    )
    external_id = models.CharField(max_length=40, unique=True, help_text="The number.")
    status = models.CharField(
        max_length=16, choices=ReceivableStatus.choices, default=ReceivableStatus.PENDING
    )
    finance_status = models.CharField(max_length=32, blank=True, default="")
    finance_id = models.CharField(max_length=100, blank=True, default="")
    payload_hash = models.CharField(max_length=64, blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    pushed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "receivable_pushes"
        ordering = ["-created_at", "-id"]
        default_permissions = ("view",)
        permissions = [("push_receivable", "Can push receivables to finance again")]
        constraints = [
            _one_document("receivable_push_one_document"),
        ]

    def __str__(self) -> str:
        return f"{self.document_type} {self.external_id}: {self.status}"


class EmailStatus(models.TextChoices):
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"  # retried by the task; last_error says why
    SKIPPED = "skipped"  # no billing email on the tenant's profile


class DocumentEmail(models.Model):
    """One emailing of an issued document's PDF to the tenant's billing emails: a row per
    sending (issue, each *Resend*), with who it went to, when and what came of it."""

    document_type = models.CharField(max_length=16, choices=DocumentType.choices)
    invoice = models.ForeignKey(
        TenantInvoice, null=True, blank=True, on_delete=models.PROTECT, related_name="emails"
    )
    credit_note = models.ForeignKey(
        CreditNote, null=True, blank=True, on_delete=models.PROTECT, related_name="emails"
    )
    recipients = models.JSONField(default=list, blank=True)
    status = models.CharField(
        max_length=16, choices=EmailStatus.choices, default=EmailStatus.QUEUED
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    sent_at = models.DateTimeField(null=True, blank=True)
    requested_by = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "document_emails"
        ordering = ["-created_at", "-id"]
        default_permissions = ("view",)
        permissions = [("resend_document_email", "Can resend documents by email")]
        constraints = [
            _one_document("document_email_one_document"),
        ]

    def __str__(self) -> str:
        return f"{self.document_type} email to {', '.join(self.recipients)}: {self.status}"


# ---------------------------------------------------------------------------------------------
# Margin summaries (issue 22): revenue kept per period, tenant, deployment and kind
# ---------------------------------------------------------------------------------------------


class RevenueSummary(models.Model):
    """What the period's revenue lines and adjustment notes add up to for one tenant, per
    (currency, deployment, reported kind): the rows analytics' margin_summary and by_kind read
    instead of the lines (docs/decisions.md, issue 22).

    Derived, never edited: `invoicing.summaries.revenue_summary_refresh` rewrites a (period,
    tenant)'s rows from its lines in the transaction of every writer that changes them (the
    rollup, a void, an adjustment note). `invoiced_*` are the ex-tax lines of the period's
    non-void invoices, `credited_*` what the notes ISSUED in the period credit (negative).
    A row exists only where at least one line does.
    """

    period = models.DateField(help_text="The month (its first day).")
    tenant_id = models.CharField(max_length=200)
    currency = models.CharField(max_length=3)
    deployment = models.ForeignKey(
        "deployments.Deployment",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    kind = models.CharField(max_length=32, help_text="The kind by_kind reports the lines under.")
    invoiced_cents = models.BigIntegerField(default=0)
    invoiced_lines = models.PositiveIntegerField(default=0)
    credited_cents = models.BigIntegerField(default=0)
    credited_lines = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "revenue_summaries"
        default_permissions = ("view",)
        indexes = [models.Index(fields=["period", "tenant_id"], name="revenue_summary_key")]

    def __str__(self) -> str:
        return f"{self.period:%Y-%m} {self.tenant_id} {self.kind} {self.revenue_cents}c"

    @property
    def revenue_cents(self) -> int:
        return self.invoiced_cents + self.credited_cents


class RevenueDeploymentTotal(models.Model):
    """The period's revenue of one tenant per (currency, deployment): `revenue_summaries`
    summed over kinds — the rows `margin_summary` reads (issue 22: a few per deployment
    rather than one per kind). Rewritten with the tenant's summary rows in the same
    transaction (`invoicing.summaries.revenue_summary_refresh`); NULL deployment: tenant-level
    lines."""

    period = models.DateField(help_text="The month (its first day).")
    tenant_id = models.CharField(max_length=200)
    currency = models.CharField(max_length=3)
    deployment = models.ForeignKey(
        "deployments.Deployment",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    invoiced_cents = models.BigIntegerField(default=0)
    credited_cents = models.BigIntegerField(default=0)

    class Meta:
        db_table = "revenue_deployment_totals"
        default_permissions = ("view",)
        indexes = [
            models.Index(fields=["period", "tenant_id"], name="revenue_deployment_total_key")
        ]

    def __str__(self) -> str:
        return f"{self.period:%Y-%m} {self.tenant_id} {self.deployment_id}"


# Revenue kind totals are spread over this many rows per (period, currency, kind), by tenant,
# so two rollup workers rarely wait on the same row (`invoicing.summaries.kind_shard`).
REVENUE_KIND_SHARDS = 16


class RevenueKindTotal(models.Model):
    """The period's revenue per (currency, reported kind), over all tenants: `revenue_summaries`
    summed — the few rows `by_kind` reads (issue 22). Kept by deltas in the same transaction
    as the summary rows (`invoicing.summaries.revenue_summary_refresh`: what the tenants' rows
    were, subtracted; what they are, added; in ONE upsert in key order). Spread over
    REVENUE_KIND_SHARDS rows by tenant so parallel rollup workers seldom touch the same row;
    `by_kind` adds the shards. A row exists only while at least one line counts in it."""

    period = models.DateField(help_text="The month (its first day).")
    currency = models.CharField(max_length=3)
    kind = models.CharField(max_length=32)
    shard = models.PositiveSmallIntegerField()
    invoiced_cents = models.BigIntegerField(default=0)
    invoiced_lines = models.BigIntegerField(default=0)
    credited_cents = models.BigIntegerField(default=0)
    credited_lines = models.BigIntegerField(default=0)

    class Meta:
        db_table = "revenue_kind_totals"
        default_permissions = ("view",)
        constraints = [
            models.UniqueConstraint(
                fields=["period", "currency", "kind", "shard"], name="revenue_kind_total_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.period:%Y-%m} {self.currency} {self.kind} #{self.shard}"
