"""Periodic tasks of the billing app, installed by `manage.py setup_schedules`."""

from arcadia_cloud.schedules import PeriodicTaskSpec

QUEUE = "cloud_billing"

SCHEDULES = [
    PeriodicTaskSpec(
        name="billing-balance-snapshot",
        task="billing.snapshot_balance",
        minute="7",
        hour="*",
        queue=QUEUE,
        description="Store DigitalOcean's month-to-date balance.",
    ),
    PeriodicTaskSpec(
        name="billing-history-sync",
        task="billing.sync_billing_history",
        minute="23",
        hour="2",
        queue=QUEUE,
        description="Upsert DigitalOcean invoice headers and ingest new invoices.",
    ),
    PeriodicTaskSpec(
        name="billing-daily-costs",
        task="billing.ingest_daily_costs",
        minute="41",
        hour="3",
        queue=QUEUE,
        description="Replace the month so far's DigitalOcean daily costs (billing insights).",
    ),
]
