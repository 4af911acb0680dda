"""Documents in the admin: the invoice's HTML document and its *Issue adjustment note* page
(added to the invoice admin by `install_invoice_document_urls`), adjustment notes (read-only,
with their PDF), receivable pushes (*Push again*) and document emails (*Resend*).

Finance may view documents, issue notes, push again and resend; voiding stays the operators'.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from arcadia_cloud.admin_helpers import ReadOnlyAdminMixin, admin_actor
from arcadia_cloud.errors import CALLER_ERRORS
from invoicing.credit_notes.selectors import credit_notes_list
from invoicing.credit_notes.services import credit_note_issue, creditable_lines
from invoicing.documents.email import document_email_resend
from invoicing.documents.render import (
    PDF_CONTENT_TYPE,
    invoice_context,
    note_context,
    pdf_filename,
    render_html,
    render_pdf,
)
from invoicing.invoices.selectors import invoices_with_lines
from invoicing.models import (
    CreditNote,
    CreditNoteSettlement,
    DocumentEmail,
    InvoiceStatus,
    ReceivablePush,
    TenantInvoice,
)
from invoicing.receivables.services import receivable_push_again


class CreditNoteForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)
    settlement = forms.ChoiceField(choices=CreditNoteSettlement.choices)
    line = forms.TypedChoiceField(
        coerce=int,
        required=False,
        empty_value=None,
        help_text="Empty: credit everything still creditable on the invoice.",
    )
    amount_cents = forms.IntegerField(
        required=False, min_value=1, help_text="Ex-GST cents of the line; empty: all of it."
    )
    refund_reference = forms.CharField(required=False, max_length=200)
    refunded_on = forms.DateField(required=False, help_text="YYYY-MM-DD (refunds only).")

    def __init__(self, *args, invoice: TenantInvoice, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["line"].choices = [("", "— every line (what is left of each) —")] + [
            (line.pk, f"{line.description} — {left} cents left ex-GST")
            for line, left in creditable_lines(invoice).values()
            if left > 0
        ]


def install_invoice_document_urls(model_admin: admin.ModelAdmin) -> list:
    """The invoice admin's extra pages: `<pk>/document/` and `<pk>/credit-note/`."""
    site = model_admin.admin_site

    def document_view(request: HttpRequest, pk: int) -> HttpResponse:
        if not model_admin.has_view_permission(request):
            raise PermissionDenied
        invoice = get_object_or_404(invoices_with_lines(TenantInvoice.objects.all()), pk=pk)
        context = invoice_context(invoice)
        if request.GET.get("format") == "pdf":
            response = HttpResponse(render_pdf(context), content_type=PDF_CONTENT_TYPE)
            response["Content-Disposition"] = f'inline; filename="{pdf_filename(context)}"'
            return response
        return HttpResponse(render_html(context))

    def credit_note_view(request: HttpRequest, pk: int) -> HttpResponse:
        if not request.user.has_perm("invoicing.create_credit_note"):
            raise PermissionDenied
        invoice = get_object_or_404(TenantInvoice, pk=pk)
        form = CreditNoteForm(request.POST or None, invoice=invoice)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            lines = None
            if data["line"] is not None:
                entry = {"line_id": data["line"]}
                if data["amount_cents"] is not None:
                    entry["amount_cents"] = data["amount_cents"]
                lines = [entry]
            try:
                note = credit_note_issue(
                    invoice=invoice,
                    reason=data["reason"],
                    settlement=data["settlement"],
                    lines=lines,
                    refund_reference=data["refund_reference"],
                    refunded_on=data["refunded_on"],
                    actor=admin_actor(request),
                )
            except CALLER_ERRORS as exc:
                form.add_error(None, str(exc))
            else:
                model_admin.message_user(
                    request,
                    f"Adjustment note {note.number} issued: {note.total_cents} cents "
                    f"(GST {note.tax_cents}).",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(
                    reverse("admin:invoicing_tenantinvoice_change", args=[invoice.pk])
                )
        return TemplateResponse(
            request,
            "admin/invoicing/tenantinvoice/credit_note.html",
            {
                **site.each_context(request),
                "title": f"Issue an adjustment note against {invoice.number or invoice}",
                "opts": TenantInvoice._meta,
                "invoice": invoice,
                "form": form,
            },
        )

    return [
        path(
            "<int:pk>/document/",
            site.admin_view(document_view),
            name="invoicing_tenantinvoice_document",
        ),
        path(
            "<int:pk>/credit-note/",
            site.admin_view(credit_note_view),
            name="invoicing_tenantinvoice_credit_note",
        ),
    ]


def invoice_document_links(invoice: TenantInvoice) -> str:
    """Links shown on the invoice page: its document, its PDF, a new adjustment note."""
    if invoice.pk is None:
        return "-"
    document = reverse("admin:invoicing_tenantinvoice_document", args=[invoice.pk])
    links = format_html(
        '<a href="{}">HTML document</a> · <a href="{}?format=pdf">PDF</a>', document, document
    )
    if invoice.status in (InvoiceStatus.ISSUED, InvoiceStatus.PAID):
        note = reverse("admin:invoicing_tenantinvoice_credit_note", args=[invoice.pk])
        links += format_html(' · <a href="{}">Issue an adjustment note…</a>', note)
    return links


def invoice_delivery(invoice: TenantInvoice) -> str:
    """The invoice's receivable push and email deliveries, as recorded."""
    push = ReceivablePush.objects.filter(invoice=invoice).first()
    parts = []
    if push is not None:
        error = f" — {push.last_error}" if push.last_error else ""
        parts.append(
            format_html(
                '<a href="{}">finance: {}{}</a>',
                reverse("admin:invoicing_receivablepush_change", args=[push.pk]),
                push.status,
                error,
            )
        )
    for email in DocumentEmail.objects.filter(invoice=invoice).order_by("id"):
        parts.append(
            format_html(
                "email to {}: {}{}",
                ", ".join(email.recipients) or "nobody",
                email.status,
                f" {email.sent_at:%Y-%m-%d %H:%M}" if email.sent_at else "",
            )
        )
    if not parts:
        return "-"
    return format_html("<br>".join(["{}"] * len(parts)), *parts)


@admin.register(CreditNote)
class CreditNoteAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Adjustment notes: issued from the invoice page, immutable, never deleted."""

    list_display = (
        "number",
        "invoice",
        "tenant_id",
        "settlement",
        "subtotal_cents",
        "tax_cents",
        "total_cents",
        "issued_at",
        "pdf",
    )
    list_filter = ("settlement", "currency")
    search_fields = ("=number", "=tenant_id", "=invoice__number")
    readonly_fields = (
        "number",
        "invoice",
        "tenant_id",
        "currency",
        "reason",
        "settlement",
        "subtotal_cents",
        "tax_cents",
        "total_cents",
        "refund_reference",
        "refunded_on",
        "issued_at",
        "created_by",
        "pdf",
    )
    fields = readonly_fields

    def get_queryset(self, request):
        return credit_notes_list()

    def get_urls(self):
        def pdf_view(request: HttpRequest, pk: int) -> HttpResponse:
            if not self.has_view_permission(request):
                raise PermissionDenied
            context = note_context(get_object_or_404(credit_notes_list(), pk=pk))
            response = HttpResponse(render_pdf(context), content_type=PDF_CONTENT_TYPE)
            response["Content-Disposition"] = f'inline; filename="{pdf_filename(context)}"'
            return response

        return [
            path(
                "<int:pk>/pdf/",
                self.admin_site.admin_view(pdf_view),
                name="invoicing_creditnote_pdf",
            ),
            *super().get_urls(),
        ]

    @admin.display(description="PDF")
    def pdf(self, note: CreditNote) -> str:
        return format_html(
            '<a href="{}">PDF</a>', reverse("admin:invoicing_creditnote_pdf", args=[note.pk])
        )


@admin.register(ReceivablePush)
class ReceivablePushAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "external_id",
        "document_type",
        "status",
        "finance_status",
        "attempts",
        "pushed_at",
        "last_error",
    )
    list_filter = ("status", "document_type")
    search_fields = ("=external_id",)
    actions = ["push_again_selected"]

    def has_push_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("invoicing.push_receivable")

    @admin.action(description="Push again to finance", permissions=["push"])
    def push_again_selected(self, request: HttpRequest, queryset: QuerySet[ReceivablePush]):
        count = 0
        for push in queryset.order_by("id"):
            receivable_push_again(push=push, actor=admin_actor(request))
            count += 1
        self.message_user(request, f"{count} receivable(s) queued for finance.", messages.SUCCESS)


@admin.register(DocumentEmail)
class DocumentEmailAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "document_type",
        "invoice",
        "credit_note",
        "recipients",
        "status",
        "attempts",
        "sent_at",
        "last_error",
        "requested_by",
    )
    list_filter = ("status", "document_type")
    actions = ["resend_selected"]

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("invoicing.resend_document_email")

    @admin.action(description="Resend by email", permissions=["resend"])
    def resend_selected(self, request: HttpRequest, queryset: QuerySet[DocumentEmail]):
        count = 0
        for email in queryset.select_related("invoice", "credit_note").order_by("id"):
            document_email_resend(email=email, actor=admin_actor(request))
            count += 1
        self.message_user(request, f"{count} email(s) queued.", messages.SUCCESS)
