"""Provider billing (COGS): what DigitalOcean charges us, mirrored line by line.

USD amounts are stored as `Decimal` exactly as DigitalOcean states them (numeric(14, 4)), not
as our own integer cents: these rows mirror an external document, and rounding is done once,
where the figures leave this app (the finance push, analytics), never per line.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from inventory.models import CloudResource

USD = "USD"
USD_MAX_DIGITS = 14
USD_DECIMAL_PLACES = 4


def usd_field(**kwargs) -> models.DecimalField:
    """One column type for every USD amount of this app."""
    return models.DecimalField(
        max_digits=USD_MAX_DIGITS, decimal_places=USD_DECIMAL_PLACES, **kwargs
    )


class CloudBalanceSnapshot(models.Model):
    """DigitalOcean's `/v2/customers/my/balance`, fetched hourly: the month's spend so far."""

    month_to_date_balance = usd_field()
    account_balance = usd_field()
    month_to_date_usage = usd_field()
    generated_at = models.DateTimeField(
        null=True, blank=True, help_text="When DigitalOcean computed the balance."
    )
    fetched_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "cloud_balance_snapshots"
        ordering = ["-fetched_at", "-id"]
        get_latest_by = ["fetched_at", "id"]
        indexes = [models.Index(fields=["-fetched_at", "-id"], name="balance_latest")]

    def __str__(self) -> str:
        return f"balance {self.month_to_date_balance} USD at {self.fetched_at:%Y-%m-%d %H:%M}"


class CloudInvoice(models.Model):
    """One DigitalOcean invoice: the header from billing history, ingest and finance state."""

    invoice_uuid = models.CharField(max_length=64, unique=True)
    invoice_id = models.CharField(
        max_length=64, blank=True, default="", help_text="DigitalOcean's invoice number."
    )
    period = models.DateField(help_text="The billed month, named by its first day.")
    description = models.CharField(max_length=255, blank=True, default="")
    issued_at = models.DateTimeField(
        null=True, blank=True, help_text="The billing-history entry's date."
    )
    amount = usd_field(help_text="Invoice total (tax included) as billing history states it.")
    currency = models.CharField(max_length=3, default=USD)

    lines_ingested_at = models.DateTimeField(null=True, blank=True)
    line_count = models.PositiveIntegerField(default=0)
    matched_count = models.PositiveIntegerField(default=0)
    unmatched_count = models.PositiveIntegerField(default=0)
    ambiguous_count = models.PositiveIntegerField(default=0)
    net_amount = usd_field(default=0, help_text="Sum of the non-tax lines.")
    tax_amount = usd_field(default=0, help_text="Sum of the tax lines.")

    pushed_to_finance_at = models.DateTimeField(null=True, blank=True)
    finance_invoice_id = models.CharField(max_length=100, blank=True, default="")
    finance_status = models.CharField(
        max_length=32, blank=True, default="", help_text="Finance's last answer (created/updated)."
    )
    finance_payload_hash = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="sha256 of the last payload finance accepted; an unchanged one is not re-sent.",
    )
    last_error = models.TextField(blank=True, default="")

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "cloud_invoices"
        ordering = ["-period", "-id"]
        verbose_name = "DigitalOcean invoice"
        # The admin's actions on invoices (arcadia_cloud.roles: operators hold them, finance
        # does not): a re-ingest replaces the cost lines, a push tells finance the figures.
        permissions = [
            ("reingest_cloud_invoice", "Can re-ingest DigitalOcean invoices"),
            ("push_cloud_invoice", "Can push DigitalOcean invoices to finance"),
        ]
        indexes = [models.Index(fields=["period"], name="cloud_invoice_period")]
        constraints = [
            models.CheckConstraint(
                condition=Q(period__day=1), name="cloud_invoice_period_first_of_month"
            ),
            models.CheckConstraint(
                condition=Q(
                    line_count=models.F("matched_count")
                    + models.F("unmatched_count")
                    + models.F("ambiguous_count")
                ),
                name="cloud_invoice_match_counts_add_up",
            ),
        ]

    def __str__(self) -> str:
        return f"DigitalOcean invoice {self.period:%Y-%m} ({self.invoice_uuid})"

    @property
    def is_ingested(self) -> bool:
        return self.lines_ingested_at is not None


class MatchStatus(models.TextChoices):
    MATCHED = "matched"
    UNMATCHED = "unmatched"
    AMBIGUOUS = "ambiguous"


class MatchCode(models.TextChoices):
    """Why a line got its match status: stable codes to group and filter on.

    `match_reason` carries the human sentence for one line; the code is what reports group by.
    """

    LIVE = "live", "matched a live resource"
    TOMBSTONED = "tombstoned", "matched a resource deleted after the line started"
    TAX = "tax", "tax line"
    ACCOUNT_LEVEL = "account_level", "account-level line"
    UNKNOWN_KIND = "unknown_kind", "product has no resource kind"
    NO_NAME = "no_name", "description names no resource"
    NOT_IN_INVENTORY = "not_in_inventory", "no resource of that kind and name"
    NOT_ALIVE = "not_alive", "resource did not exist during the line"
    SEVERAL_CANDIDATES = "several_candidates", "several resources fit"


class CloudCostLine(models.Model):
    """One line of a DigitalOcean invoice CSV, with its derived kind and its matched resource."""

    invoice = models.ForeignKey(CloudInvoice, on_delete=models.CASCADE, related_name="lines")
    line_number = models.PositiveIntegerField(help_text="1-based data row of the CSV.")
    product = models.TextField()
    group_description = models.TextField(blank=True, default="")
    description = models.TextField()
    hours = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    start_at = models.DateTimeField()
    end_at = models.DateTimeField()
    amount = usd_field()
    project_name = models.TextField(blank=True, default="")
    category = models.TextField(blank=True, default="")

    kind = models.CharField(max_length=32, help_text="Resource kind derived from the product.")
    resource_name = models.TextField(
        blank=True, default="", help_text="Resource name extracted from the description."
    )
    is_tax = models.BooleanField(default=False)
    resource = models.ForeignKey(
        CloudResource,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="cost_lines",
    )
    match_status = models.CharField(max_length=16, choices=MatchStatus.choices)
    match_code = models.CharField(max_length=32, choices=MatchCode.choices)
    match_reason = models.TextField(blank=True, default="")

    class Meta:
        db_table = "cloud_cost_lines"
        ordering = ["invoice_id", "line_number"]
        verbose_name = "DigitalOcean cost line"
        constraints = [
            models.UniqueConstraint(
                fields=["invoice", "line_number"], name="cloud_cost_line_unique_number"
            ),
            # Only a matched line points at a resource (a deleted resource nulls it: SET_NULL).
            models.CheckConstraint(
                condition=Q(resource__isnull=True) | Q(match_status=MatchStatus.MATCHED),
                name="cloud_cost_line_resource_only_when_matched",
            ),
            models.CheckConstraint(
                condition=Q(end_at__gte=models.F("start_at")),
                name="cloud_cost_line_ends_after_start",
            ),
        ]
        indexes = [
            # COGS by DO kind for a period: invoices of the period, then their lines by kind.
            models.Index(fields=["invoice", "kind"], name="cost_line_invoice_kind"),
            models.Index(fields=["kind"], name="cost_line_kind"),
            # Match reports and the admin's unmatched / ambiguous lists.
            models.Index(fields=["invoice", "match_status"], name="cost_line_invoice_status"),
        ]

    def __str__(self) -> str:
        return f"line {self.line_number}: {self.description}"


class CloudCostSummary(models.Model):
    """What one DigitalOcean invoice's non-tax cost lines add up to per (kind, match status,
    deployment, attributed tenant): the COGS rows analytics' margin_summary and by_kind read
    instead of the lines (docs/decisions.md, issue 22).

    Derived, never edited: `billing.summaries.cost_summary_refresh` rewrites an invoice's rows
    from its lines in the transaction that (re)writes them (the ingest and its re-match).
    `deployment_id` is the matched resource's deployment and `tenant_id` the tenant the line is
    attributed to (COALESCE(the deployment's tenant, the resource's own)), both as of that
    write; NULL tenant is unattributed COGS. The period is the invoice's (read through it).
    """

    invoice = models.ForeignKey(CloudInvoice, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=32)
    match_status = models.CharField(max_length=16, choices=MatchStatus.choices)
    deployment_id = models.BigIntegerField(null=True, blank=True)
    tenant_id = models.CharField(max_length=200, null=True, blank=True)
    amount = usd_field()
    lines = models.PositiveIntegerField()

    class Meta:
        db_table = "cloud_cost_summaries"
        default_permissions = ("view",)
        indexes = [models.Index(fields=["invoice"], name="cost_summary_invoice")]

    def __str__(self) -> str:
        return f"invoice {self.invoice_id} {self.kind}: {self.amount} USD"


class CloudCostDeploymentTotal(models.Model):
    """One DigitalOcean invoice's non-tax COGS per (attributed tenant, deployment):
    `cloud_cost_summaries` summed over kind and match status — the rows `margin_summary`
    reads (issue 22). Rewritten with the invoice's summary rows, a move included
    (`billing.summaries.cost_summary_refresh`); NULL tenant: unattributed."""

    invoice = models.ForeignKey(CloudInvoice, on_delete=models.CASCADE, related_name="+")
    deployment_id = models.BigIntegerField(null=True, blank=True)
    tenant_id = models.CharField(max_length=200, null=True, blank=True)
    amount = usd_field()
    lines = models.PositiveIntegerField()

    class Meta:
        db_table = "cloud_cost_deployment_totals"
        default_permissions = ("view",)
        # (invoice, tenant): the margin dashboard's page of tenants and its unattributed row.
        indexes = [
            models.Index(fields=["invoice", "tenant_id"], name="cost_deployment_total_tenant")
        ]

    def __str__(self) -> str:
        return f"invoice {self.invoice_id} {self.tenant_id} {self.deployment_id}: {self.amount}"


class CloudCostKindTotal(models.Model):
    """One DigitalOcean invoice's non-tax COGS per kind: `cloud_cost_summaries` summed over
    match status, deployment and tenant — the few rows `by_kind` reads (issue 22). Rewritten
    with the invoice's summary rows (`billing.summaries.cost_summary_refresh`); a resource
    moving between deployments changes attribution, never a kind's total."""

    invoice = models.ForeignKey(CloudInvoice, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=32)
    amount = usd_field()
    lines = models.PositiveIntegerField()

    class Meta:
        db_table = "cloud_cost_kind_totals"
        default_permissions = ("view",)
        constraints = [
            models.UniqueConstraint(fields=["invoice", "kind"], name="cost_kind_total_key")
        ]

    def __str__(self) -> str:
        return f"invoice {self.invoice_id} {self.kind}: {self.amount} USD"


class CloudCostDay(models.Model):
    """One day of DigitalOcean's billing insights: when its data points were last taken, what
    they added up to, and why the last attempt failed (the previous rows then stay)."""

    day = models.DateField(unique=True)
    row_count = models.PositiveIntegerField(default=0)
    matched_count = models.PositiveIntegerField(default=0)
    amount = usd_field(default=0, help_text="Sum of the day's data points (USD).")
    ingested_at = models.DateTimeField(
        null=True, blank=True, help_text="The last successful ingest of this day."
    )
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        db_table = "cloud_cost_days"
        ordering = ["-day"]
        verbose_name = "DigitalOcean daily cost day"
        # The admin's re-ingest of chosen days (operators hold it, finance does not).
        permissions = [("reingest_cloud_cost_day", "Can re-ingest DigitalOcean daily costs")]

    def __str__(self) -> str:
        return f"DigitalOcean daily costs of {self.day}"


class CloudDailyCost(models.Model):
    """One billing-insights data point: a day's cost of one SKU / region / description, with
    its derived kind and matched resource (the same classification and matcher as
    `CloudCostLine`). Field names follow `CloudCostLine` (`amount`, `kind`, `is_tax`,
    `resource`), so COGS queries read either."""

    day = models.DateField()
    position = models.PositiveIntegerField(help_text="1-based order among the day's points.")
    sku = models.CharField(max_length=64)
    region = models.CharField(max_length=32, blank=True, default="")
    description = models.TextField()
    group_description = models.TextField(blank=True, default="")
    product = models.TextField(help_text="The invoice product the SKU stands for.")
    amount = usd_field()
    usage_team_urn = models.CharField(max_length=128, blank=True, default="")

    kind = models.CharField(max_length=32, help_text="Resource kind derived from the SKU.")
    resource_name = models.TextField(blank=True, default="")
    is_tax = models.BooleanField(default=False)
    resource = models.ForeignKey(
        CloudResource,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="daily_costs",
    )
    match_status = models.CharField(max_length=16, choices=MatchStatus.choices)
    match_code = models.CharField(max_length=32, choices=MatchCode.choices)
    match_reason = models.TextField(blank=True, default="")

    class Meta:
        db_table = "cloud_daily_costs"
        ordering = ["day", "position"]
        verbose_name = "DigitalOcean daily cost"
        constraints = [
            models.UniqueConstraint(fields=["day", "position"], name="cloud_daily_cost_unique"),
            models.CheckConstraint(
                condition=Q(resource__isnull=True) | Q(match_status=MatchStatus.MATCHED),
                name="cloud_daily_cost_resource_only_when_matched",
            ),
        ]
        indexes = [models.Index(fields=["day", "kind"], name="daily_cost_day_kind")]

    def __str__(self) -> str:
        return f"{self.day} {self.sku}: {self.description}"
