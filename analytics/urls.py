"""API routes of the analytics app, mounted under /api/v1/ by arcadia_cloud.urls."""

from django.urls import path

from analytics.api.views import (
    AccrualView,
    ByKindView,
    MarginView,
    PricingAdviceView,
    ResourcePriceSimulateView,
    VersionSimulateView,
)

app_name = "analytics"

urlpatterns = [
    path("dashboard/margin", MarginView.as_view(), name="margin"),
    path("dashboard/by-kind", ByKindView.as_view(), name="by-kind"),
    path("dashboard/accrual", AccrualView.as_view(), name="accrual"),
    path("dashboard/pricing", PricingAdviceView.as_view(), name="pricing"),
    # Re-rating a draft plan version or a pending resource price needs COGS and FX (this
    # floor), so it is served here.
    path(
        "catalog/versions/<int:version_id>/simulate",
        VersionSimulateView.as_view(),
        name="version-simulate",
    ),
    path(
        "catalog/resource-prices/<int:price_id>/simulate",
        ResourcePriceSimulateView.as_view(),
        name="resource-price-simulate",
    ),
]
