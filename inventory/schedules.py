from arcadia_cloud.schedules import PeriodicTaskSpec
from inventory.models import ResourceKind

EVERY_15_MINUTES = "0,15,30,45"

_FAST_TARGETS = (
    "projects",
    ResourceKind.DROPLET,
    ResourceKind.DNS_ZONE,
    ResourceKind.VOLUME,
    ResourceKind.FLOATING_IP,
    ResourceKind.FIREWALL,
    ResourceKind.LOAD_BALANCER,
)

SCHEDULES = [
    *(
        PeriodicTaskSpec(
            name=f"inventory-sync-{target}",
            task="inventory.sync",
            minute=EVERY_15_MINUTES,
            queue="cloud_sync_full",
            kwargs={"target": str(target)},
            description=f"Mirror DigitalOcean {target} into inventory.",
        )
        for target in _FAST_TARGETS
    ),
    PeriodicTaskSpec(
        name="inventory-sync-snapshot",
        task="inventory.sync",
        minute="33",
        queue="cloud_sync_full",
        kwargs={"target": str(ResourceKind.SNAPSHOT)},
        description="Mirror droplet and volume snapshots.",
    ),
    # Kinds that change rarely and cost one or two requests: hourly.
    *(
        PeriodicTaskSpec(
            name=f"inventory-sync-{target}",
            task="inventory.sync",
            minute="27",
            queue="cloud_sync_full",
            kwargs={"target": str(target)},
            description=f"Mirror DigitalOcean {target} into inventory.",
        )
        for target in (
            ResourceKind.MANAGED_DB,
            ResourceKind.K8S_CLUSTER,
            ResourceKind.APP,
            ResourceKind.CONTAINER_REGISTRY,
            ResourceKind.CUSTOM_IMAGE,
            ResourceKind.RESERVED_IPV6,
        )
    ),
    PeriodicTaskSpec(
        name="inventory-sync-backups",
        task="inventory.sync",
        minute="41",
        queue="cloud_sync_full",
        kwargs={"target": "backups"},
        description="Mirror the backups of every live droplet.",
    ),
    # Measurements at the source (issue 17), before metering (01:10) meters yesterday. Spaces
    # twice: the second run retries the buckets the first could not measure.
    PeriodicTaskSpec(
        name="inventory-measure-spaces",
        task="inventory.measure_spaces",
        minute="20,50",
        hour="0",
        queue="cloud_sync_full",
        description="Measure yesterday's Spaces bucket sizes through the S3 API.",
    ),
    PeriodicTaskSpec(
        name="inventory-measure-bandwidth",
        task="inventory.measure_bandwidth",
        minute="30",
        hour="0",
        queue="cloud_sync_full",
        description="Measure yesterday's public outbound traffic of every droplet.",
    ),
]
