from arcadia_cloud.schedules import PeriodicTaskSpec

SCHEDULES = [
    PeriodicTaskSpec(
        name="webhooks-retry-due",
        task="webhooks.retry_due",
        minute="*",
        queue="default",
        description="Retry webhook deliveries whose backoff has run out (every minute).",
    ),
]
