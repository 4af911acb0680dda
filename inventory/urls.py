"""API routes of the inventory app, mounted under /api/v1/ by arcadia_cloud.urls."""

from django.urls import path

from inventory.api.views import ResourceDetailView, ResourceListView

app_name = "inventory"

urlpatterns = [
    path("inventory", ResourceListView.as_view(), name="resource-list"),
    path("inventory/<int:pk>", ResourceDetailView.as_view(), name="resource-detail"),
]
