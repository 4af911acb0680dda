"""API routes of the invoicing app, mounted under /api/v1/ by arcadia_cloud.urls."""

from django.urls import path

from invoicing.changes.api import views as change_views
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
]
