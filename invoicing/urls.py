"""API routes of the invoicing app, mounted under /api/v1/ by arcadia_cloud.urls."""

from django.urls import path

from invoicing.changes.api import views as change_views
from invoicing.credit_notes.api import views as note_views
from invoicing.invoices.api import views as invoice_views
from invoicing.quotes.api.views import QuoteView
from invoicing.usage.api.views import LLMUsageView

app_name = "invoicing"

urlpatterns = [
    path("integrations/llm-usage", LLMUsageView.as_view(), name="llm-usage"),
    path("quote", QuoteView.as_view(), name="quote"),
    path(
        "deployments/<int:pk>/change-plan",
        change_views.ChangePlanView.as_view(),
        name="deployment-change-plan",
    ),
    path(
        "deployments/<int:pk>/change-plan/preview",
        change_views.ChangePlanPreviewView.as_view(),
        name="deployment-change-plan-preview",
    ),
    path(
        "catalog/versions/<int:version_id>/migrate",
        change_views.VersionMigrateView.as_view(),
        name="version-migrate",
    ),
    path("invoices", invoice_views.InvoiceListView.as_view(), name="invoices"),
    path("invoices/export", invoice_views.InvoiceExportView.as_view(), name="invoice-export"),
    path("invoices/<int:pk>", invoice_views.InvoiceDetailView.as_view(), name="invoice-detail"),
    path("invoices/<int:pk>/issue", invoice_views.InvoiceIssueView.as_view(), name="invoice-issue"),
    path(
        "invoices/<int:pk>/mark-paid",
        invoice_views.InvoiceMarkPaidView.as_view(),
        name="invoice-mark-paid",
    ),
    path("invoices/<int:pk>/void", invoice_views.InvoiceVoidView.as_view(), name="invoice-void"),
    path(
        "invoices/<int:pk>/document",
        invoice_views.InvoiceDocumentView.as_view(),
        name="invoice-document",
    ),
    path("invoices/<int:pk>/pdf", invoice_views.InvoicePdfView.as_view(), name="invoice-pdf"),
    path(
        "invoices/<int:pk>/credit-notes",
        note_views.InvoiceCreditNotesView.as_view(),
        name="invoice-credit-notes",
    ),
    path("credit-notes", note_views.CreditNoteListView.as_view(), name="credit-notes"),
    path(
        "credit-notes/<int:pk>",
        note_views.CreditNoteDetailView.as_view(),
        name="credit-note-detail",
    ),
    path(
        "credit-notes/<int:pk>/pdf", note_views.CreditNotePdfView.as_view(), name="credit-note-pdf"
    ),
]
