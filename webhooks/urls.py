"""API routes of the webhooks app, mounted under /api/v1/ by arcadia_cloud.urls."""

from django.urls import path

from webhooks.api import views

app_name = "webhooks"

urlpatterns = [
    path("webhooks", views.WebhookEndpointListView.as_view(), name="webhooks"),
    path("webhooks/<int:pk>", views.WebhookEndpointDetailView.as_view(), name="webhook-detail"),
]
