from arcadia_cloud.schedules import PeriodicTaskSpec
from inventory.models import ResourceKind

# Sized for DigitalOcean's 5,000 requests an hour per token at 100,000 resources (80,000
# droplets, docs/performance.md): the droplet listing (400 pages of 200) twice an hour, the
# project listings (one page per 200 resources placed in projects) hourly, the other listings
# twice an hour, and the bandwidth slice (a 24th of the droplets) hourly: about 4,800 an hour.
_HALF_HOURLY_TARGETS = {
    ResourceKind.DROPLET: "0,30",
    ResourceKind.DNS_ZONE: "5,35",
    ResourceKind.VOLUME: "5,35",
    ResourceKind.FLOATING_IP: "5,35",
    ResourceKind.FIREWALL: "5,35",
    ResourceKind.LOAD_BALANCER: "5,35",
}

SCHEDULES = [
    *(
        PeriodicTaskSpec(
            name=f"inventory-sync-{target}",
            task="inventory.sync",
            minute=minute,
            queue="cloud_sync_full",
            kwargs={"target": str(target)},
            description=f"Mirror DigitalOcean {target} into inventory.",
        )
        for target, minute in _HALF_HOURLY_TARGETS.items()
    ),
    PeriodicTaskSpec(
        name="inventory-sync-projects",
        task="inventory.sync",
        minute="10",
        queue="cloud_sync_full",
        kwargs={"target": "projects"},
        description="Mirror DigitalOcean projects and attribute their resources.",
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
    # Bandwidth: one request per droplet-day, so yesterday is measured in 24 hourly slices
    # (issue 22: 80,000 droplets are 3,333 requests an hour, within the token's budget with the
    # syncs); each slice also retries the earlier slices' failures, the last one reports.
    PeriodicTaskSpec(
        name="inventory-measure-bandwidth",
        task="inventory.measure_bandwidth",
        minute="50",
        queue="cloud_sync_full",
        description="Measure a 24th of the droplets' public outbound traffic of yesterday.",
    ),
]
