"""Periodic tasks of the drift app, installed by `manage.py setup_schedules`."""

from arcadia_cloud.schedules import PeriodicTaskSpec

SCHEDULES = [
    PeriodicTaskSpec(
        name="drift-detect",
        task="drift.detect_all",
        minute="20",
        hour="*",
        queue="default",
        description="Compare provisioned specs with inventory (after the :15 syncs).",
    ),
]
