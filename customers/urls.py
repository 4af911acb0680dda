"""API routes of the customers app, mounted under /api/v1/ by arcadia_cloud.urls."""

from django.urls import path

from customers.api.views import BillingProfileView

app_name = "customers"

urlpatterns = [
    path("billing-profile", BillingProfileView.as_view(), name="billing-profile"),
]
