"""The WSGI entry point (gunicorn, runserver): Django's handler with a request class that never
decodes text in a charset this service does not read (`arcadia_cloud.request_text`)."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arcadia_cloud.settings")
django.setup(set_prefix=False)

from arcadia_cloud.request_text import TextSafeWSGIHandler  # noqa: E402 (needs Django set up)

application = TextSafeWSGIHandler()
