"""The WSGI entry point (gunicorn, runserver): Django's handler with a request class that never
decodes text in a charset this service does not read (`arcadia_cloud.request_text`), its route
matches kept per path (`arcadia_cloud.routing`), and the start-up objects frozen out of the
garbage collector's walks (`arcadia_cloud.runtime`)."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arcadia_cloud.settings")
django.setup(set_prefix=False)

from arcadia_cloud.request_text import TextSafeWSGIHandler  # noqa: E402 (needs Django set up)
from arcadia_cloud.routing import KeptRoutesMixin  # noqa: E402
from arcadia_cloud.runtime import freeze_startup_objects  # noqa: E402


class ArcadiaWSGIHandler(KeptRoutesMixin, TextSafeWSGIHandler):
    pass


application = ArcadiaWSGIHandler()
freeze_startup_objects()  # what a worker loads at start is never garbage (arcadia_cloud.runtime)
