from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from arcadia_cloud.errors import api_route_not_found
from arcadia_cloud.views import HealthView, WhoAmIView

# The documentation pages are HTML pages to GET: DRF's OPTIONS metadata rendered through their
# HTML templates is a 500 (the Swagger template includes a script it is not given).
DOC_PAGE_METHODS = ["get", "head"]

admin.site.site_header = "Arcadia Cloud operations"
admin.site.site_title = "Arcadia Cloud"
admin.site.index_title = "Operations back office"
# Wide changelists (invoices, cost lines) need the width more than a sidebar repeating the index.
admin.site.enable_nav_sidebar = False

api_v1 = [
    path("whoami", WhoAmIView.as_view(), name="whoami"),
    path("", include("inventory.urls")),
    path("", include("billing.urls")),
    path("", include("catalog.urls")),
    path("", include("customers.urls")),
    path("", include("deployments.urls")),
    path("", include("invoicing.urls")),
    path("", include("analytics.urls")),
    path("", include("drift.urls")),
    path("", include("dunning.urls")),
    path("", include("webhooks.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/health", HealthView.as_view(), name="health"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(url_name="schema", http_method_names=DOC_PAGE_METHODS),
        name="api-docs",
    ),
    path(
        "api/redoc/",
        SpectacularRedocView.as_view(url_name="schema", http_method_names=DOC_PAGE_METHODS),
        name="api-redoc",
    ),
    path("api/v1/", include(api_v1)),
    # Last: whatever else is under /api/ is a 404 in the error envelope, also with DEBUG on
    # (Django shows its HTML page instead of calling handler404 then).
    re_path(r"^api/", api_route_not_found, name="api-not-found"),
]

handler400 = "arcadia_cloud.errors.bad_request_view"
handler404 = "arcadia_cloud.errors.not_found_view"
handler500 = "arcadia_cloud.errors.server_error_view"
