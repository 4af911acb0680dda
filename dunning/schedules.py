from arcadia_cloud.schedules import PeriodicTaskSpec

SCHEDULES = [
    PeriodicTaskSpec(
        name="dunning-daily",
        task="dunning.run_daily",
        minute="30",
        hour="6",
        description="Apply the dunning policy: reminders, past_due, suspended (each step once).",
    ),
    PeriodicTaskSpec(
        name="dunning-infrastructure-actions",
        task="dunning.advance_infrastructure_actions",
        minute="*",
        description="Send confirmed droplet power actions and follow them to completion.",
    ),
]
