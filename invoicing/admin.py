"""Metering, LLM usage and tenant invoices in the operators' admin.

Usage records and LLM events are evidence for invoices: read-only here. Metering config is the
one thing operators edit (granularity and retention per billing kind). Invoices are read-only
pages whose status changes only through actions that call the invoice services; see the
"Tenant invoices" section below for who may do what.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponseBase
from django.template.response import TemplateResponse

from arcadia_cloud.admin_helpers import ReadOnlyAdminMixin, ReadOnlyInline, admin_actor
from arcadia_cloud.errors import CALLER_ERRORS
from arcadia_cloud.money import cents_to_units, format_decimal
from arcadia_cloud.periods import parse_period
from invoicing.changes import admin as _changes_admin  # noqa: F401  (the change-plan action)
from invoicing.credit_notes.admin import (
    install_invoice_document_urls,
    invoice_delivery,
    invoice_document_links,
)
from invoicing.invoices.exports import ExportFormat, export_filename, export_response
from invoicing.invoices.lifecycle import invoice_issue, invoice_mark_paid, invoice_void
from invoicing.invoices.rollup import RollupOutcome, roll_up_period
from invoicing.invoices.selectors import invoice_lines, invoice_totals_by_currency
from invoicing.models import (
    LLMUsageEvent,
    MeteringConfig,
    RollupRun,
    RollupRunChunk,
    TenantInvoice,
    TenantInvoiceEvent,
    TenantInvoiceLine,
    UsageRecord,
)


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    # Tables of millions of rows: no exact COUNT(*) on every page, and newest first by primary
    # key (rows arrive roughly in time order) rather than a sort no index serves.
    show_full_result_count = False
    ordering = ("-id",)


@admin.register(UsageRecord)
class UsageRecordAdmin(ReadOnlyAdmin):
    list_display = (
        "period_start",
        "deployment",
        "resource_kind",
        "resource",
        "qty",
        "granularity",
        "source",
    )
    list_filter = ("resource_kind", "source", "granularity")
    list_select_related = ("deployment", "resource")
    date_hierarchy = "period_start"
    search_fields = ("deployment__slug", "deployment__tenant_id", "resource__name")
    raw_id_fields = ("deployment", "resource")


@admin.register(MeteringConfig)
class MeteringConfigAdmin(admin.ModelAdmin):
    list_display = (
        "billing_kind",
        "granularity",
        "retention_days",
        "billable_statuses",
        "updated_at",
    )
    list_editable = ("granularity", "retention_days")
    readonly_fields = ("updated_at",)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        # A kind without a row falls back to the defaults; deleting one would silently reset it.
        return False


class RollupRunChunkInline(ReadOnlyInline):
    model = RollupRunChunk
    fields = ("number", "tenants", "deliveries", "finished_at")
    readonly_fields = fields

    @admin.display(description="tenants")
    def tenants(self, chunk: RollupRunChunk) -> int:
        return len(chunk.tenant_ids)


@admin.register(RollupRun)
class RollupRunAdmin(ReadOnlyAdmin):
    """The fanned-out month-end runs: how far each got and, once finished, its report."""

    list_display = (
        "period_start",
        "force",
        "tenants_total",
        "chunks_done",
        "started_at",
        "finished_at",
        "counts",
    )
    list_filter = ("force",)
    date_hierarchy = "period_start"
    inlines = (RollupRunChunkInline,)
    exclude = ("report",)
    readonly_fields = (
        "period_start",
        "force",
        "actor",
        "chunk_size",
        "chunks_total",
        "tenants_total",
        "started_at",
        "finished_at",
        "counts",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[RollupRun]:
        done = Count("chunks", filter=Q(chunks__finished_at__isnull=False))
        return super().get_queryset(request).annotate(done=done)

    @admin.display(description="chunks done")
    def chunks_done(self, run: RollupRun) -> str:
        return f"{run.done} / {run.chunks_total}"

    @admin.display(description="outcomes")
    def counts(self, run: RollupRun) -> str:
        if run.report is None:
            return "running"
        return ", ".join(f"{n} {outcome}" for outcome, n in run.report["counts"].items() if n)


@admin.register(LLMUsageEvent)
class LLMUsageEventAdmin(ReadOnlyAdmin):
    list_display = (
        "gateway_request_id",
        "deployment",
        "tenant_id",
        "model",
        "input_tokens",
        "output_tokens",
        "charge",
        "currency",
        "billed_as",
        "occurred_at",
        "received_at",
    )
    list_filter = ("model", "currency", "billed_as")
    list_select_related = ("deployment",)
    search_fields = ("=gateway_request_id",)
    date_hierarchy = "occurred_at"
    raw_id_fields = ("deployment",)


# ---------------------------------------------------------------------------------------------
# Tenant invoices
#
# Who may do what is tied to custom permissions (TenantInvoice.Meta.permissions), checked by
# the `has_<action>_permission` methods below: operators hold them all (group sync); finance
# holds view, `mark_invoice_paid` and `export_invoices` — it can never issue, void or
# regenerate.
# ---------------------------------------------------------------------------------------------


class PeriodListFilter(admin.SimpleListFilter):
    """The months that have invoices, newest first (one query)."""

    title = "period"
    parameter_name = "period"

    def lookups(self, request, model_admin):
        months = TenantInvoice.objects.dates("period_start", "month", order="DESC")
        return [(month.isoformat(), f"{month:%Y-%m}") for month in months]

    def queryset(self, request, queryset):
        return queryset.filter(period_start=self.value()) if self.value() else queryset


class TenantInputFilter(admin.SimpleListFilter):
    """A text box for the tenant id: thousands of tenants do not fit a list of links."""

    title = "tenant"
    parameter_name = "tenant"
    template = "admin/invoicing/input_filter.html"

    def lookups(self, request, model_admin):
        return ()

    def has_output(self) -> bool:
        return True

    def queryset(self, request, queryset):
        return queryset.filter(tenant_id=self.value().strip()) if self.value() else queryset

    def choices(self, changelist):
        """One entry: the current value and the other parameters the form must keep."""
        yield {
            "value": self.value() or "",
            "preserved": [
                (name, value)
                for name, value in changelist.params.items()
                if name != self.parameter_name
            ],
        }


class TenantInvoiceLineInline(ReadOnlyInline):
    model = TenantInvoiceLine
    fields = (
        "position",
        "kind",
        "deployment",
        "description",
        "quantity",
        "unit",
        "unit_price",
        "amount",
        "meta",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[TenantInvoiceLine]:
        return invoice_lines()

    @admin.display(description="qty")
    def quantity(self, line: TenantInvoiceLine) -> str:
        return format_decimal(line.qty)

    @admin.display(description="unit price")
    def unit_price(self, line: TenantInvoiceLine) -> str:
        return _money(line.unit_price_cents)

    @admin.display(description="amount")
    def amount(self, line: TenantInvoiceLine) -> str:
        return _money(line.amount_cents)


class TenantInvoiceEventInline(ReadOnlyInline):
    model = TenantInvoiceEvent
    fields = ("occurred_at", "type", "actor", "details")
    readonly_fields = fields
    ordering = ("occurred_at", "id")


class VoidForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
        help_text="Kept on each invoice and in its history; tenants see it.",
    )


def _money(cents: int) -> str:
    return f"{cents_to_units(cents)}"


@admin.register(TenantInvoice)
class TenantInvoiceAdmin(admin.ModelAdmin):
    list_display = (
        "number_or_draft",
        "tenant_id",
        "period",
        "status",
        "currency",
        "subtotal",
        "tax",
        "total",
        "issued_at",
        "due_on",
        "paid_at",
    )
    list_filter = (PeriodListFilter, "status", "currency", TenantInputFilter)
    search_fields = ("=number", "=tenant_id")
    ordering = ("-period_start", "tenant_id", "id")
    change_list_template = "admin/invoicing/tenantinvoice/change_list.html"
    inlines = [TenantInvoiceLineInline, TenantInvoiceEventInline]
    fields = (
        ("number", "status"),
        ("tenant_id", "currency"),
        ("period_start", "period_end"),
        ("subtotal", "tax", "total"),
        ("generated_at", "issued_at", "due_on", "paid_at"),
        ("voided_at", "void_reason"),
        ("credit_cents",),
        ("documents",),
        ("delivery",),
    )
    readonly_fields = tuple(name for row in fields for name in row)
    actions = [
        "issue_selected",
        "mark_selected_paid",
        "void_selected",
        "regenerate_selected",
        "export_csv",
        "export_xlsx",
        "export_csv_with_lines",
        "export_xlsx_with_lines",
    ]

    # -- permissions ----------------------------------------------------------------------

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # the rollup writes invoices

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # status changes go through the actions (services), content never changes

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # void instead: numbers stay gapless and history stays whole

    def has_issue_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("invoicing.issue_invoice")

    def has_void_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("invoicing.void_invoice")

    def has_mark_paid_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("invoicing.mark_invoice_paid")

    def has_export_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("invoicing.export_invoices")

    def has_regenerate_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("invoicing.regenerate_invoice")

    # -- documents: the HTML / PDF document and the adjustment-note page ---------------------

    def get_urls(self):
        return [*install_invoice_document_urls(self), *super().get_urls()]

    @admin.display(description="documents")
    def documents(self, invoice: TenantInvoice) -> str:
        return invoice_document_links(invoice)

    @admin.display(description="delivery")
    def delivery(self, invoice: TenantInvoice) -> str:
        return invoice_delivery(invoice)

    # -- columns ----------------------------------------------------------------------------

    @admin.display(description="number", ordering="number")
    def number_or_draft(self, invoice: TenantInvoice) -> str:
        return invoice.number or f"(draft #{invoice.pk})"

    @admin.display(description="period", ordering="period_start")
    def period(self, invoice: TenantInvoice) -> str:
        return f"{invoice.period_start:%Y-%m}"

    @admin.display(description="subtotal", ordering="subtotal_cents")
    def subtotal(self, invoice: TenantInvoice) -> str:
        return _money(invoice.subtotal_cents)

    @admin.display(description="tax", ordering="tax_cents")
    def tax(self, invoice: TenantInvoice) -> str:
        return _money(invoice.tax_cents)

    @admin.display(description="total", ordering="total_cents")
    def total(self, invoice: TenantInvoice) -> str:
        return _money(invoice.total_cents)

    # -- the totals under the list ------------------------------------------------------------

    def changelist_view(self, request: HttpRequest, extra_context=None):
        """The list, plus count and sums per currency of everything the filters select (not
        only the page shown), in one aggregate query."""
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None:
            response.context_data["invoice_totals"] = [
                {
                    "currency": totals.currency,
                    "count": totals.count,
                    "subtotal": _money(totals.subtotal_cents),
                    "tax": _money(totals.tax_cents),
                    "total": _money(totals.total_cents),
                }
                for totals in invoice_totals_by_currency(changelist.queryset)
            ]
        return response

    # -- status actions ---------------------------------------------------------------------

    @admin.action(description="Issue selected drafts (assigns numbers)", permissions=["issue"])
    def issue_selected(self, request: HttpRequest, queryset: QuerySet[TenantInvoice]):
        self._apply(
            request,
            queryset,
            "issued",
            lambda invoice: invoice_issue(invoice=invoice, actor=admin_actor(request)),
        )

    @admin.action(description="Mark selected invoices paid", permissions=["mark_paid"])
    def mark_selected_paid(self, request: HttpRequest, queryset: QuerySet[TenantInvoice]):
        self._apply(
            request,
            queryset,
            "marked paid",
            lambda invoice: invoice_mark_paid(invoice=invoice, actor=admin_actor(request)),
        )

    @admin.action(description="Void selected invoices…", permissions=["void"])
    def void_selected(self, request: HttpRequest, queryset: QuerySet[TenantInvoice]):
        """An intermediate page asks for the reason, then each invoice is voided with it."""
        form = VoidForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            return TemplateResponse(
                request,
                "admin/invoicing/tenantinvoice/void.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Void invoices",
                    "opts": self.model._meta,
                    "form": form,
                    "invoices": queryset.order_by(*self.ordering),
                    "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                },
            )
        reason = form.cleaned_data["reason"]
        self._apply(
            request,
            queryset,
            "voided",
            lambda invoice: invoice_void(
                invoice=invoice, actor=admin_actor(request), reason=reason
            ),
        )
        return None

    def _apply(
        self,
        request: HttpRequest,
        queryset: QuerySet[TenantInvoice],
        done: str,
        change: Callable[[TenantInvoice], TenantInvoice],
    ) -> None:
        """Run one status service per invoice (each its own transaction), in list order, and
        report what changed and what was refused."""
        changed = 0
        for invoice in queryset.order_by(*self.ordering):
            try:
                change(invoice)
            except CALLER_ERRORS as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                changed += 1
        if changed:
            self.message_user(request, f"{changed} invoice(s) {done}.", messages.SUCCESS)

    @admin.action(description="Regenerate selected drafts", permissions=["regenerate"])
    def regenerate_selected(self, request: HttpRequest, queryset: QuerySet[TenantInvoice]):
        """Re-run the rollup with force for the selected tenants and periods: drafts are
        rewritten from current usage; anything issued, paid or void is left alone."""
        tenants_by_period: dict[dt.date, set[str]] = defaultdict(set)
        for period_start, tenant_id in queryset.values_list("period_start", "tenant_id"):
            tenants_by_period[period_start].add(tenant_id)
        for period_start, tenant_ids in sorted(tenants_by_period.items()):
            try:
                report = roll_up_period(
                    period_start, force=True, tenant_ids=tenant_ids, actor=admin_actor(request)
                )
            except CALLER_ERRORS as exc:
                self.message_user(request, str(exc), messages.ERROR)
                continue
            self.message_user(request, report.summary(), messages.INFO)
            for result in report.failed:
                self.message_user(request, f"{result.tenant_id}: {result.reason}", messages.ERROR)
            for result in report.with_outcome(RollupOutcome.LEFT_ALONE):
                self.message_user(
                    request,
                    f"{result.tenant_id} {period_start:%Y-%m}: left alone ({result.reason})",
                    messages.WARNING,
                )

    # -- exports ----------------------------------------------------------------------------

    def _export(
        self,
        request: HttpRequest,
        queryset: QuerySet[TenantInvoice],
        fmt: ExportFormat,
        *,
        lines: bool,
    ) -> HttpResponseBase:
        """The selection as a file named after the list's period and status filters."""
        try:
            period_start = parse_period(request.GET.get(PeriodListFilter.parameter_name, ""))
        except ValueError:
            period_start = None  # no period filter: the name says "all-periods"
        filename = export_filename(
            fmt,
            lines=lines,
            period_start=period_start,
            status=request.GET.get("status__exact") or None,
        )
        return export_response(queryset, export_format=fmt, lines=lines, filename=filename)

    @admin.action(description="Export selected as CSV", permissions=["export"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet[TenantInvoice]):
        return self._export(request, queryset, ExportFormat.CSV, lines=False)

    @admin.action(description="Export selected as XLSX", permissions=["export"])
    def export_xlsx(self, request: HttpRequest, queryset: QuerySet[TenantInvoice]):
        return self._export(request, queryset, ExportFormat.XLSX, lines=False)

    @admin.action(description="Export selected with lines as CSV", permissions=["export"])
    def export_csv_with_lines(self, request: HttpRequest, queryset: QuerySet[TenantInvoice]):
        return self._export(request, queryset, ExportFormat.CSV, lines=True)

    @admin.action(description="Export selected with lines as XLSX", permissions=["export"])
    def export_xlsx_with_lines(self, request: HttpRequest, queryset: QuerySet[TenantInvoice]):
        return self._export(request, queryset, ExportFormat.XLSX, lines=True)
