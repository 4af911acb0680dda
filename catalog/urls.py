"""API routes of the catalog app, mounted under /api/v1/ by arcadia_cloud.urls."""

from django.urls import path

from catalog.api import views

app_name = "catalog"

urlpatterns = [
    path("catalog/plans", views.PlanListView.as_view(), name="plans"),
    path("catalog/plans/<slug:code>", views.PlanDetailView.as_view(), name="plan-detail"),
    path(
        "catalog/plans/<slug:code>/versions",
        views.PlanVersionCreateView.as_view(),
        name="plan-versions",
    ),
    path(
        "catalog/versions/<int:version_id>",
        views.PlanVersionDetailView.as_view(),
        name="version-detail",
    ),
    path(
        "catalog/versions/<int:version_id>/items",
        views.PlanVersionItemsView.as_view(),
        name="version-items",
    ),
    path(
        "catalog/versions/<int:version_id>/publish",
        views.PlanVersionPublishView.as_view(),
        name="version-publish",
    ),
    path("catalog/addons", views.AddonListView.as_view(), name="addons"),
]
