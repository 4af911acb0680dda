"""The Celery application: one app, the queues each domain uses, settings from Django.

Without CELERY_BROKER_URL every task runs eagerly in-process (quick start, most tests).
"""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import worker_process_init
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
    "catalog.sync_provider_prices": {"queue": "cloud_sync_full"},
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


@worker_process_init.connect
def _freeze_startup_objects(**kwargs) -> None:
    """Each worker process, once started: its start-up objects out of the GC's walks."""
    from arcadia_cloud.runtime import freeze_startup_objects

    freeze_startup_objects()


def task_named(task_name: str):
    """The registered task called `task_name`. The apps' tasks modules are imported first when
    this process has not imported them yet (a web process, a command): autodiscovery is lazy,
    and a name looked up before it ran would be a KeyError instead of a queued task."""
    if task_name not in app.tasks:
        app.loader.import_default_modules()
    return app.tasks[task_name]


def enqueue(task_name: str, *args: object, **kwargs: object) -> None:
    """Queue the task named `task_name` now (eager mode: run it now). For a caller whose writes
    the task reads are already committed — after a durable block; otherwise use
    `enqueue_on_commit`."""
    task_named(task_name).delay(*args, **kwargs)


def enqueue_on_commit(task_name: str, *args: object, **kwargs: object) -> None:
    """Queue the task named `task_name` once the current transaction commits (at once outside
    one). By name, from the app's registry, so a service can queue its app's task without
    importing the tasks module that imports the service; eager mode (no broker) is honoured.

    `robust=True`: in the eager quick start a failing task must not undo or break the write that
    queued it (the task records its own failure).
    """
    from django.db import transaction

    def send() -> None:
        enqueue(task_name, *args, **kwargs)

    # Django names a failing robust callback by its __qualname__ in the log line.
    send.__qualname__ = f"{task_name}.delay{args!r}"
    transaction.on_commit(send, robust=True)
