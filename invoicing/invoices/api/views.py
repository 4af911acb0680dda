"""Tenant invoices API (SPEC §13).

Reading: platform_admin sees every invoice; a tenant sees its own once issued (drafts are the
operators' working copies), and another tenant's invoice is a 404 — scoping happens in
TenantScopedMixin, nowhere else. Writing (issue, mark paid, void) is for platform_admin only.
"""

from __future__ import annotations

from django import forms
from django.db.models import QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from arcadia_cloud.filtering import FilterSet
from arcadia_cloud.money import format_decimal
from arcadia_cloud.pagination import KeysetPagination
from arcadia_cloud.parsing import parse_input
from arcadia_cloud.periods import parse_period
from arcadia_cloud.permissions import IsPlatformAdmin, TenantScopedMixin
from arcadia_cloud.rows import RowsListMixin
from invoicing.documents.api import HTML_RESPONSES, PDF_RESPONSES, DocumentResponseMixin
from invoicing.documents.render import invoice_context
from invoicing.invoices.api.serializers import (
    InvoiceExportOptionsSerializer,
    InvoiceMarkPaidSerializer,
    InvoiceVoidSerializer,
    TenantInvoiceSerializer,
)
from invoicing.invoices.exports import (
    CSV_CONTENT_TYPE,
    XLSX_CONTENT_TYPE,
    ExportFormat,
    export_filename,
    export_response,
)
from invoicing.invoices.lifecycle import invoice_issue, invoice_mark_paid, invoice_void
from invoicing.invoices.selectors import (
    INVOICE_ORDER,
    invoice_line_rows,
    invoice_page_rows,
    invoices_list,
    invoices_with_lines,
    visible_to_tenant,
)
from invoicing.models import InvoiceStatus, TenantInvoice

PERIOD_HELP = "The billed month: YYYY-MM or YYYY-MM-01."
TENANT_HELP = "platform_admin only (tenants only ever see their own)."


class PeriodFormField(forms.CharField):
    """A period as `YYYY-MM` or `YYYY-MM-01`, cleaned to the month's first day."""

    def to_python(self, value):
        text = super().to_python(value)
        if not text:
            return None
        try:
            return parse_period(text)
        except ValueError as exc:
            # The message quotes the client's text: pass it as a parameter, never as the
            # format string (a `%` in the query would break the interpolation: a 500).
            raise forms.ValidationError("%(reason)s", params={"reason": str(exc)}) from None


class PeriodFilter(filters.CharFilter):
    field_class = PeriodFormField


class InvoiceFilter(FilterSet):
    period = PeriodFilter(field_name="period_start", help_text=PERIOD_HELP)
    status = filters.ChoiceFilter(choices=InvoiceStatus.choices)
    tenant_id = filters.CharFilter(help_text=TENANT_HELP)

    class Meta:
        model = TenantInvoice
        fields = ["period", "status", "tenant_id"]


class InvoiceScopedMixin(TenantScopedMixin):
    """Tenants see their own invoices except drafts (see `visible_to_tenant`)."""

    def filter_to_tenant(self, queryset: QuerySet, tenant_id: str) -> QuerySet:
        return visible_to_tenant(queryset, tenant_id)


# What a list item prints: TenantInvoiceSerializer's fields, in its order. These are derived
# from the columns or nested, the rest are read as columns.
_INVOICE_FIELDS = tuple(TenantInvoiceSerializer.Meta.fields)
_INVOICE_DERIVED = frozenset({"amount_due_cents", "net_cents", "lines"})
_INVOICE_ROW_FIELDS = tuple(f for f in _INVOICE_FIELDS if f not in _INVOICE_DERIVED)


@extend_schema(tags=["invoices"])
class InvoiceListView(RowsListMixin, InvoiceScopedMixin, generics.ListAPIView):
    """Invoices with their lines, newest period first; filter by period, status and (admins)
    tenant_id. Paged by cursor: follow `next` (a late page costs what the first does)."""

    # Two queries per page whatever the number of invoices or lines; items are built from
    # `values()` rows as TenantInvoiceSerializer prints them (arcadia_cloud.rows).

    serializer_class = TenantInvoiceSerializer
    filterset_class = InvoiceFilter
    pagination_class = KeysetPagination
    keyset_ordering = INVOICE_ORDER
    row_fields = _INVOICE_ROW_FIELDS
    row_model = TenantInvoice

    def get_queryset(self):
        return self.scope_queryset(invoices_list())

    def read_page(self, filters, page):
        principal = self.principal
        return invoice_page_rows(
            viewer_tenant_id=None if principal.is_platform_admin else principal.tenant_id,
            page=page,
            period_start=filters.get("period"),
            status=filters.get("status"),
            tenant_id=filters.get("tenant_id"),
        )

    def render_rows(self, rows):
        if rows and "lines" in rows[0]:  # read with the page (`read_page`)
            lines = {row["id"]: row["lines"] for row in rows}
        else:
            lines = invoice_line_rows([row["id"] for row in rows])
        items = []
        for row in rows:
            derived = {
                "amount_due_cents": row["total_cents"] - row["credit_cents"],
                "net_cents": row["total_cents"] - row["credited_cents"],
                "lines": [
                    {
                        "position": line["position"],
                        "kind": line["kind"],
                        "deployment_id": line["deployment_id"],
                        "deployment": line["deployment__slug"],
                        "subscription_id": line["subscription_id"],
                        "resource_kind": line["resource_kind"],
                        "description": line["description"],
                        "qty": format_decimal(line["qty"]),
                        "unit": line["unit"],
                        "unit_price_cents": line["unit_price_cents"],
                        "amount_cents": line["amount_cents"],
                        "meta": line["meta"],
                    }
                    for line in lines[row["id"]]
                ],
            }
            items.append({f: derived[f] if f in derived else row[f] for f in _INVOICE_FIELDS})
        return items


@extend_schema(tags=["invoices"])
class InvoiceDetailView(InvoiceScopedMixin, generics.RetrieveAPIView):
    """One invoice with its lines, in position order (the tax line last)."""

    serializer_class = TenantInvoiceSerializer

    def get_queryset(self):
        return self.scope_queryset(invoices_with_lines(invoices_list()))


class _InvoiceDocumentView(DocumentResponseMixin, InvoiceScopedMixin, generics.GenericAPIView):
    def get_queryset(self):
        return self.scope_queryset(invoices_with_lines(invoices_list()))


@extend_schema(tags=["invoices"])
class InvoiceDocumentView(_InvoiceDocumentView):
    """The tax invoice as an HTML document (a draft: DRAFT watermark, no number)."""

    @extend_schema(responses=HTML_RESPONSES)
    def get(self, request, pk: int):
        return self.html_response(invoice_context(self.get_object()))


@extend_schema(tags=["invoices"])
class InvoicePdfView(_InvoiceDocumentView):
    """The tax invoice as a PDF, from the same template as the HTML document."""

    @extend_schema(responses=PDF_RESPONSES)
    def get(self, request, pk: int):
        return self.pdf_response(invoice_context(self.get_object()))


EXPORT_FILE = "The file as an attachment: CSV (streamed) or XLSX, as `format` asks."
EXPORT_PARAMETERS = [
    OpenApiParameter("format", str, enum=[choice.value for choice in ExportFormat], required=True),
    OpenApiParameter("lines", OpenApiTypes.BOOL, description="1: one row per invoice line."),
    OpenApiParameter("period", str, description=PERIOD_HELP),
    OpenApiParameter("status", str, enum=InvoiceStatus.values),
    OpenApiParameter("tenant_id", str, description=TENANT_HELP),
]


@extend_schema(tags=["invoices"])
class InvoiceExportView(InvoiceScopedMixin, generics.GenericAPIView):
    """The filtered invoice list as a CSV or XLSX file (one row per invoice, or per line)."""

    filterset_class = InvoiceFilter
    pagination_class = None

    def get_queryset(self):
        return self.scope_queryset(invoices_list())

    def perform_content_negotiation(self, request, force=False):
        # `format` names the file to build here, not a DRF renderer, and errors are JSON
        # whatever it says; the file itself is a plain Django response.
        renderer = JSONRenderer()
        return renderer, renderer.media_type

    @extend_schema(
        operation_id="invoices_export",
        parameters=EXPORT_PARAMETERS,
        responses={
            (200, CSV_CONTENT_TYPE.split(";")[0]): OpenApiResponse(
                OpenApiTypes.BINARY, description=EXPORT_FILE
            ),
            (200, XLSX_CONTENT_TYPE): OpenApiResponse(OpenApiTypes.BINARY, description=EXPORT_FILE),
            400: OpenApiResponse(description="Bad format, period or status, field named."),
        },
    )
    def get(self, request):
        invoices = self.filter_queryset(self.get_queryset())
        options = parse_input(InvoiceExportOptionsSerializer, request.query_params)
        export_format = ExportFormat(options["format"])
        # Blank or whitespace-only means no period, as the filter read it (not a 500).
        period = (request.query_params.get("period") or "").strip()
        filename = export_filename(
            export_format,
            lines=options["lines"],
            period_start=parse_period(period) if period else None,
            status=request.query_params.get("status") or None,
        )
        return export_response(
            invoices, export_format=export_format, lines=options["lines"], filename=filename
        )


class _InvoiceActionView(InvoiceScopedMixin, generics.GenericAPIView):
    """POST on one invoice; platform_admin only."""

    permission_classes = [IsPlatformAdmin]
    serializer_class = TenantInvoiceSerializer

    def get_queryset(self):
        return self.scope_queryset(TenantInvoice.objects.all())

    def respond(self, invoice: TenantInvoice) -> Response:
        fresh = invoices_with_lines(TenantInvoice.objects.filter(pk=invoice.pk)).get()
        return Response(TenantInvoiceSerializer(fresh).data)


ACTION_ERRORS = {
    403: OpenApiResponse(description="Not a platform_admin token."),
    404: OpenApiResponse(description="No such invoice."),
    422: OpenApiResponse(description="Not allowed from the invoice's status (allowed listed)."),
}


@extend_schema(tags=["invoices"])
class InvoiceIssueView(_InvoiceActionView):
    """Issue a draft: assigns the next number of the year and freezes its content."""

    @extend_schema(request=None, responses={200: TenantInvoiceSerializer, **ACTION_ERRORS})
    def post(self, request, pk: int):
        return self.respond(invoice_issue(invoice=self.get_object(), actor=request.user.actor))


@extend_schema(tags=["invoices"])
class InvoiceMarkPaidView(_InvoiceActionView):
    """Record the payment of an issued invoice."""

    @extend_schema(
        request=InvoiceMarkPaidSerializer,
        responses={200: TenantInvoiceSerializer, **ACTION_ERRORS},
    )
    def post(self, request, pk: int):
        data = parse_input(InvoiceMarkPaidSerializer, request.data)
        invoice = invoice_mark_paid(
            invoice=self.get_object(), actor=request.user.actor, paid_at=data["paid_at"]
        )
        return self.respond(invoice)


@extend_schema(tags=["invoices"])
class InvoiceVoidView(_InvoiceActionView):
    """Void a draft or issued invoice; `reason` is required (400 naming it)."""

    @extend_schema(
        request=InvoiceVoidSerializer,
        responses={
            200: TenantInvoiceSerializer,
            400: OpenApiResponse(description="No reason."),
            **ACTION_ERRORS,
        },
    )
    def post(self, request, pk: int):
        data = parse_input(InvoiceVoidSerializer, request.data)
        invoice = invoice_void(
            invoice=self.get_object(), actor=request.user.actor, reason=data["reason"]
        )
        return self.respond(invoice)
