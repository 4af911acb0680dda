"""The Celery application: one app, the queues each domain uses, settings from Django.

Without CELERY_BROKER_URL every task runs eagerly in-process (quick start, most tests).
"""

from __future__ import annotations

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arcadia_cloud.settings")

QUEUES = (
    "cloud_sync_fast",
    "cloud_sync_full",
    "cloud_sync_slow",
    "cloud_billing",
    "metering",
    "provisioning",
    "default",
)

# Which queue each task goes to, by task name (tasks are named "<app>.<task>"). First match wins.
TASK_ROUTES = {
    "inventory.*": {"queue": "cloud_sync_full"},
    "billing.*": {"queue": "cloud_billing"},
    "invoicing.meter*": {"queue": "metering"},
    "deployments.provision*": {"queue": "provisioning"},
    "*": {"queue": "default"},
}

app = Celery("arcadia_cloud")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = tuple(Queue(name) for name in QUEUES)
app.conf.task_routes = TASK_ROUTES
app.autodiscover_tasks()
