from arcadia_cloud.schedules import PeriodicTaskSpec

SCHEDULES = [
    PeriodicTaskSpec(
        name="metering-daily",
        task="invoicing.meter_day",
        minute="10",
        hour="1",
        queue="metering",
        description="Meter yesterday (UTC) from inventory into usage_records.",
    ),
    PeriodicTaskSpec(
        name="metering-retention",
        task="invoicing.meter_purge_expired",
        minute="40",
        hour="4",
        queue="metering",
        description="Delete usage records older than their kind's retention_days.",
    ),
    PeriodicTaskSpec(
        name="invoicing-monthly-rollup",
        task="invoicing.roll_up_period",
        minute="0",
        hour="3",
        day_of_month="1",
        queue="default",
        description="Invoice the month just ended (UTC), one draft invoice per tenant.",
    ),
]
