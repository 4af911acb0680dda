"""API routes of the billing app, mounted under /api/v1/ by arcadia_cloud.urls."""

from django.urls import path

from billing.api.views import BalanceView, CostLinesView, InvoiceDetailView, InvoiceListView

app_name = "billing"

urlpatterns = [
    path("billing/balance", BalanceView.as_view(), name="balance"),
    path("billing/cost-lines", CostLinesView.as_view(), name="cost-lines"),
    path("billing/invoices", InvoiceListView.as_view(), name="invoice-list"),
    path("billing/invoices/<str:invoice_uuid>", InvoiceDetailView.as_view(), name="invoice-detail"),
]
