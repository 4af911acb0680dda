from arcadia_cloud.schedules import PeriodicTaskSpec

SCHEDULES = [
    PeriodicTaskSpec(
        name="catalog-sync-provider-prices",
        task="catalog.sync_provider_prices",
        minute="17",
        hour="3",
        queue="cloud_sync_full",
        description="Sync DigitalOcean's price list (sizes, options, fixed prices) daily.",
    ),
]
