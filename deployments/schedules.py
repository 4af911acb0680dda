from arcadia_cloud.schedules import PeriodicTaskSpec

SCHEDULES = [
    PeriodicTaskSpec(
        name="deployments-end-trials",
        task="deployments.end_trials",
        minute="5",
        hour="0",
        description="Convert trials that ended to active (event actor system).",
    ),
    PeriodicTaskSpec(
        name="deployments-apply-scheduled-changes",
        task="deployments.apply_scheduled_changes",
        minute="15",
        hour="0",
        description="Apply plan / add-on changes scheduled for the period end (the 1st).",
    ),
]
