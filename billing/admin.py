"""DigitalOcean invoices, their cost lines and balance snapshots in the operators' admin.

Everything here is read-only mirror data: the only things an operator does are re-ingest an
invoice and push it to finance, both queued as tasks after commit (run in-process in the
eager quick start). Each needs its own permission (`billing.reingest_cloud_invoice`,
`billing.push_cloud_invoice`): operators hold them, finance only views.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from arcadia_cloud.admin_helpers import ReadOnlyAdminMixin
from billing.models import (
    CloudBalanceSnapshot,
    CloudCostDay,
    CloudCostLine,
    CloudDailyCost,
    CloudInvoice,
)
from billing.selectors import daily_cost_reconciliation, invoice_match_report
from billing.services import (
    daily_costs_ingest_enqueue,
    finance_push_enqueue,
    invoice_ingest_enqueue,
)

INLINE_LINES_SHOWN = 200
ERROR_PREVIEW_CHARS = 80


class FirstLinesFormSet(BaseInlineFormSet):
    """Only the first lines inline: a large account's invoice has thousands (the cost-line
    list, linked from the invoice, shows them all with filters)."""

    def get_queryset(self) -> QuerySet[CloudCostLine]:
        if not hasattr(self, "_first_lines"):
            self._first_lines = super().get_queryset().order_by("line_number")[:INLINE_LINES_SHOWN]
        return self._first_lines


class CloudCostLineInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = CloudCostLine
    formset = FirstLinesFormSet
    fields = (
        "line_number",
        "product",
        "description",
        "amount",
        "kind",
        "is_tax",
        "match_status",
        "resource",
        "match_reason",
    )
    readonly_fields = fields
    extra = 0
    show_change_link = True
    verbose_name_plural = f"cost lines (the first {INLINE_LINES_SHOWN})"

    def get_queryset(self, request: HttpRequest) -> QuerySet[CloudCostLine]:
        return super().get_queryset(request).select_related("resource")


@admin.register(CloudInvoice)
class CloudInvoiceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "period",
        "invoice_uuid",
        "amount",
        "lines_ingested_at",
        "line_count",
        "matched_count",
        "unmatched_count",
        "ambiguous_count",
        "finance_column",
        "error_preview",
    )
    list_filter = ("period",)
    search_fields = ("invoice_uuid", "invoice_id", "finance_invoice_id")
    date_hierarchy = "period"
    actions = ["reingest_selected", "push_selected_to_finance", "force_push_selected_to_finance"]
    inlines = [CloudCostLineInline]
    fieldsets = (
        (None, {"fields": ("invoice_uuid", "invoice_id", "period", "description", "issued_at")}),
        ("Amounts (USD)", {"fields": ("amount", "net_amount", "tax_amount", "currency")}),
        (
            "Ingest",
            {
                "fields": (
                    "lines_ingested_at",
                    "line_count",
                    "matched_count",
                    "unmatched_count",
                    "ambiguous_count",
                    "lines_link",
                    "match_report",
                )
            },
        ),
        ("Daily costs against this invoice (USD, ex tax)", {"fields": ("reconciliation",)}),
        (
            "Finance",
            {
                "fields": (
                    "pushed_to_finance_at",
                    "finance_status",
                    "finance_invoice_id",
                    "finance_payload_hash",
                )
            },
        ),
        ("Errors", {"fields": ("last_error",)}),
        (None, {"fields": ("created_at", "updated_at")}),
    )
    readonly_fields = [field for section in fieldsets for field in section[1]["fields"]]

    @admin.display(description="finance")
    def finance_column(self, invoice: CloudInvoice) -> str:
        if invoice.pushed_to_finance_at is None:
            return "not pushed"
        return f"{invoice.finance_status} #{invoice.finance_invoice_id}".strip(" #")

    @admin.display(description="last error")
    def error_preview(self, invoice: CloudInvoice) -> str:
        if not invoice.last_error:
            return "—"
        text = invoice.last_error
        if len(text) > ERROR_PREVIEW_CHARS:
            text = text[: ERROR_PREVIEW_CHARS - 1] + "…"
        return format_html('<span style="color:#b00">{}</span>', text)

    @admin.display(description="all lines")
    def lines_link(self, invoice: CloudInvoice) -> str:
        url = reverse("admin:billing_cloudcostline_changelist")
        return format_html(
            '<a href="{}?invoice__id__exact={}">{} lines, with filters</a>',
            url,
            invoice.pk,
            invoice.line_count,
        )

    @admin.display(description="match report")
    def match_report(self, invoice: CloudInvoice) -> str:
        report = invoice_match_report(invoice)
        if not report.groups:
            return "no lines"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    group.status,
                    group.label,
                    group.count,
                    group.amount,
                    format_html_join("", "<div>{}</div>", ((e,) for e in group.examples)),
                )
                for group in report.groups
            ),
        )
        return format_html(
            "<table><tr><th>status</th><th>why</th><th>lines</th><th>USD</th>"
            "<th>examples</th></tr>{}</table>",
            rows,
        )

    @admin.display(description="per kind")
    def reconciliation(self, invoice: CloudInvoice) -> str:
        report = daily_cost_reconciliation(invoice.period)
        if report["status"] != "reconciled":
            return (
                f"{report['status'].replace('_', ' ')}: no daily costs ingested for "
                f"{invoice.period:%Y-%m}"
                if report["status"] == "no_daily_costs"
                else "the invoice is not ingested yet"
            )
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    row["kind"],
                    _usd(row["daily_usd_cents"]),
                    _usd(row["invoice_usd_cents"]),
                    _usd(row["difference_usd_cents"], signed=True),
                )
                for row in [*report["kinds"], {"kind": "total", **report["total"]}]
            ),
        )
        return format_html(
            "<p>{} of {} days of daily costs.</p><table><tr><th>kind</th><th>daily sum</th>"
            "<th>invoice</th><th>difference</th></tr>{}</table>",
            report["days_covered"],
            report["days_in_month"],
            rows,
        )

    def has_reingest_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("billing.reingest_cloud_invoice")

    def has_push_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("billing.push_cloud_invoice")

    @admin.action(description="Re-ingest from DigitalOcean", permissions=["reingest"])
    def reingest_selected(self, request: HttpRequest, queryset: QuerySet[CloudInvoice]) -> None:
        uuids = list(queryset.order_by("pk").values_list("invoice_uuid", flat=True))
        invoice_ingest_enqueue(invoice_uuids=uuids)
        self.message_user(request, f"Queued the ingest of {len(uuids)} invoice(s).")

    @admin.action(description="Push to finance (if changed)", permissions=["push"])
    def push_selected_to_finance(
        self, request: HttpRequest, queryset: QuerySet[CloudInvoice]
    ) -> None:
        self._push(request, queryset, force=False)

    @admin.action(description="Push to finance (force, even if unchanged)", permissions=["push"])
    def force_push_selected_to_finance(
        self, request: HttpRequest, queryset: QuerySet[CloudInvoice]
    ) -> None:
        self._push(request, queryset, force=True)

    def _push(self, request: HttpRequest, queryset: QuerySet[CloudInvoice], *, force: bool) -> None:
        ingested = queryset.filter(lines_ingested_at__isnull=False).order_by("pk")
        uuids = list(ingested.values_list("invoice_uuid", flat=True))
        finance_push_enqueue(invoice_uuids=uuids, force=force)
        skipped = queryset.count() - len(uuids)
        message = f"Queued the finance push of {len(uuids)} invoice(s)."
        if skipped:
            message += f" {skipped} not ingested yet: skipped."
        self.message_user(request, message)


class PeriodFilter(admin.SimpleListFilter):
    title = "invoice period"
    parameter_name = "period"

    def lookups(self, request, model_admin):
        periods = CloudInvoice.objects.order_by("-period").values_list("period", flat=True)
        return [(p.isoformat(), f"{p:%Y-%m}") for p in dict.fromkeys(periods)]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(invoice__period=self.value())
        return queryset


@admin.register(CloudCostLine)
class CloudCostLineAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "invoice_period",
        "line_number",
        "product",
        "description",
        "amount",
        "kind",
        "is_tax",
        "match_status",
        "resource",
        "match_reason",
    )
    list_filter = (PeriodFilter, "match_status", "match_code", "kind", "is_tax")
    list_select_related = ("invoice", "resource")
    search_fields = ("description", "resource_name", "project_name", "invoice__invoice_uuid")
    list_per_page = 200
    readonly_fields = [field.name for field in CloudCostLine._meta.fields]

    def get_queryset(self, request: HttpRequest) -> QuerySet[CloudCostLine]:
        return (
            super().get_queryset(request).order_by("-invoice__period", "invoice_id", "line_number")
        )

    @admin.display(description="period", ordering="invoice__period")
    def invoice_period(self, line: CloudCostLine) -> str:
        return f"{line.invoice.period:%Y-%m}"


@admin.register(CloudBalanceSnapshot)
class CloudBalanceSnapshotAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "fetched_at",
        "month_to_date_balance",
        "month_to_date_usage",
        "account_balance",
        "generated_at",
    )
    date_hierarchy = "fetched_at"


def _usd(cents: int | None, *, signed: bool = False) -> str:
    if cents is None:
        return "—"
    text = f"{abs(cents) // 100:,}.{abs(cents) % 100:02d}"
    sign = "-" if cents < 0 else ("+" if signed and cents > 0 else "")
    return f"{sign}{text}"


@admin.register(CloudCostDay)
class CloudCostDayAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The days of DigitalOcean's billing insights: what each last added up to, and why its
    last ingest failed (the previous rows then stayed). Re-ingesting replaces the days."""

    list_display = (
        "day",
        "row_count",
        "matched_count",
        "amount",
        "ingested_at",
        "last_attempt_at",
        "error_preview",
        "rows_link",
    )
    date_hierarchy = "day"
    actions = ["reingest_selected"]
    readonly_fields = [field.name for field in CloudCostDay._meta.fields]

    @admin.display(description="last error")
    def error_preview(self, day: CloudCostDay) -> str:
        if not day.last_error:
            return "—"
        text = day.last_error
        if len(text) > ERROR_PREVIEW_CHARS:
            text = text[: ERROR_PREVIEW_CHARS - 1] + "…"
        return format_html('<span style="color:#b00">{}</span>', text)

    @admin.display(description="rows")
    def rows_link(self, day: CloudCostDay) -> str:
        url = reverse("admin:billing_clouddailycost_changelist")
        return format_html('<a href="{}?day={}">{} rows</a>', url, day.day, day.row_count)

    def has_reingest_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("billing.reingest_cloud_cost_day")

    @admin.action(description="Re-ingest from DigitalOcean", permissions=["reingest"])
    def reingest_selected(self, request: HttpRequest, queryset: QuerySet[CloudCostDay]) -> None:
        ranges = daily_costs_ingest_enqueue(days=queryset.values_list("day", flat=True))
        self.message_user(
            request,
            f"Queued the ingest of {queryset.count()} day(s) in {len(ranges)} request(s).",
        )


@admin.register(CloudDailyCost)
class CloudDailyCostAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "day",
        "position",
        "sku",
        "region",
        "description",
        "amount",
        "kind",
        "match_status",
        "resource",
        "match_reason",
    )
    list_filter = ("match_status", "match_code", "kind")
    list_select_related = ("resource",)
    search_fields = ("description", "resource_name", "sku")
    date_hierarchy = "day"
    list_per_page = 200
    readonly_fields = [field.name for field in CloudDailyCost._meta.fields]
