"""API routes of the drift app, mounted under /api/v1/ by arcadia_cloud.urls."""

from django.urls import path

from drift.api.views import DriftAcceptView, DriftListView, ProvisionedView

app_name = "drift"

urlpatterns = [
    path("drift", DriftListView.as_view(), name="drift-list"),
    path("drift/<int:drift_id>/accept", DriftAcceptView.as_view(), name="drift-accept"),
    path(
        "inventory/<int:resource_id>/provisioned",
        ProvisionedView.as_view(),
        name="resource-provisioned",
    ),
]
