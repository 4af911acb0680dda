"""The API benchmark's ceiling, as issue 22 defines it: "a bare authenticated endpoint (JWT
check + one tiny query)". `GET /api/v1/bench/ceiling` is the product's `whoami` (the whole
middleware stack, DRF's dispatch, the JWT check and the permission) plus one `SELECT 1` through
the request's database connection: the least a real endpoint of this API can do.

It exists only in the benchmark: gunicorn serves `bench._ceiling:application`, which is the
product's WSGI application with this URLconf — the product's routes unchanged, behind this one
extra route — so the mix and the ceiling run through the same server, settings and code."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project, as _common does
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arcadia_cloud.settings")

# isort: off
from arcadia_cloud.wsgi import application  # first: it sets Django up
from django.conf import settings
from django.db import connection
from django.urls import path

from arcadia_cloud import urls as product_urls
from arcadia_cloud.views import WhoAmIView

# isort: on

CEILING_PATH = "/api/v1/bench/ceiling"


class CeilingView(WhoAmIView):
    """whoami, after one round trip to PostgreSQL."""

    def get(self, request):
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return super().get(request)


urlpatterns = [path(CEILING_PATH.lstrip("/"), CeilingView.as_view()), *product_urls.urlpatterns]
handler400 = product_urls.handler400
handler404 = product_urls.handler404
handler500 = product_urls.handler500

settings.ROOT_URLCONF = __name__

__all__ = ["application"]
