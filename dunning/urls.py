"""API routes of the dunning app, mounted under /api/v1/ by arcadia_cloud.urls."""

from django.urls import path

from dunning.api import views

app_name = "dunning"

urlpatterns = [
    path("dashboard/receivables", views.ReceivablesView.as_view(), name="receivables"),
]
