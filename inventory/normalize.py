"""DigitalOcean payloads → the one shape every sync upserts (`ResourceSnapshot`).

Pure functions, no database: one normalizer per kind, plus URN kind normalization for the
projects walk. `attrs` keeps what later stages need (sizes for metering, rules for drift,
droplet ids for attribution); `size_gb` is always the key metering reads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from inventory.models import ResourceKind

logger = logging.getLogger(__name__)

JSON = Mapping[str, Any]

# Keys of attrs that change without the resource changing in a way anyone cares about; they are
# stored but never produce an `updated` event on their own.
VOLATILE_ATTR_KEYS = frozenset({"next_backup_window", "locked", "pending_changes", "backup_ids"})

URN_KIND_MAP = {
    "droplet": ResourceKind.DROPLET,
    "domain": ResourceKind.DNS_ZONE,
    "space": ResourceKind.SPACES_BUCKET,
    "volume": ResourceKind.VOLUME,
    "floatingip": ResourceKind.FLOATING_IP,
    "reservedip": ResourceKind.FLOATING_IP,
    "loadbalancer": ResourceKind.LOAD_BALANCER,
    "dbaas": ResourceKind.MANAGED_DB,
    "kubernetes": ResourceKind.K8S_CLUSTER,
    "volumesnapshot": ResourceKind.SNAPSHOT,
    "image": ResourceKind.SNAPSHOT,
    "app": ResourceKind.APP,
    "floatingipv6": ResourceKind.RESERVED_IPV6,
    "reservedipv6": ResourceKind.RESERVED_IPV6,
}


# Each unknown kind is reported once per process at INFO (then at DEBUG): syncs run every 15 min.
_reported_unknown_kinds: set[str] = set()


@dataclass(frozen=True)
class ResourceSnapshot:
    """What one listing says about one resource, in our vocabulary."""

    kind: str
    provider_id: str
    name: str = ""
    region: str = ""
    size_slug: str = ""
    status: str = ""
    attrs: dict[str, Any] = field(default_factory=dict)
    # Seen only as a project URN: proves existence, knows nothing else, overwrites nothing.
    placeholder: bool = False


@dataclass(frozen=True)
class URN:
    kind: str
    provider_id: str
    known: bool


def parse_urn(urn: str) -> URN:
    """`do:<kind>:<id>` → our kind. Unknown kinds keep their normalized name (and are logged)."""
    parts = (urn or "").split(":", 2)
    if len(parts) != 3 or parts[0] != "do" or not parts[1] or not parts[2]:
        raise ValueError(f"not a DigitalOcean URN: {urn!r}")
    raw_kind = parts[1].strip().lower()
    kind = URN_KIND_MAP.get(raw_kind)
    if kind is None:
        normalized = raw_kind.replace("-", "_")
        level = logging.DEBUG if normalized in _reported_unknown_kinds else logging.INFO
        _reported_unknown_kinds.add(normalized)
        logger.log(
            level, "unknown DigitalOcean URN kind %r (%s): kept as %r", raw_kind, urn, normalized
        )
        return URN(kind=normalized, provider_id=parts[2], known=False)
    return URN(kind=str(kind), provider_id=parts[2], known=True)


def _region(payload: JSON) -> str:
    region = payload.get("region")
    if isinstance(region, Mapping):
        return str(region.get("slug") or "")
    if isinstance(region, str):
        return region
    regions = payload.get("regions")
    if isinstance(regions, list) and regions:
        return str(regions[0])
    return ""


def _gb(value: Any) -> str | None:
    """Sizes as decimal strings (JSON has no Decimal); never float arithmetic downstream."""
    if value is None or value == "":
        return None
    return str(Decimal(str(value)).normalize())


def _public_ipv4(payload: JSON) -> str | None:
    for network in (payload.get("networks") or {}).get("v4") or []:
        if network.get("type") == "public":
            return network.get("ip_address")
    return None


def droplet(payload: JSON) -> ResourceSnapshot:
    image = payload.get("image") or {}
    return ResourceSnapshot(
        kind=ResourceKind.DROPLET,
        provider_id=str(payload["id"]),
        name=payload.get("name") or "",
        region=_region(payload),
        size_slug=payload.get("size_slug") or (payload.get("size") or {}).get("slug") or "",
        status=payload.get("status") or "",
        attrs={
            "vcpus": payload.get("vcpus"),
            "memory_mb": payload.get("memory"),
            "disk_gb": payload.get("disk"),
            "size_gb": _gb(payload.get("disk")),
            "image": image.get("slug") or image.get("name"),
            "features": sorted(payload.get("features") or []),
            "backups_enabled": "backups" in (payload.get("features") or []),
            # Which backups are this droplet's: the backups sync reads them off one image
            # listing. A new one every week, so volatile (no `updated` event of its own).
            "backup_ids": sorted(str(b) for b in payload.get("backup_ids") or []),
            "tags": sorted(payload.get("tags") or []),
            "volume_ids": sorted(str(v) for v in payload.get("volume_ids") or []),
            "public_ipv4": _public_ipv4(payload),
            "created_at": payload.get("created_at"),
            **_gpu(payload),
        },
    )


def _gpu(payload: JSON) -> dict[str, Any]:
    """GPU droplets (listed only with `type=gpus`): how many GPUs of which model."""
    info = payload.get("gpu_info") or (payload.get("size") or {}).get("gpu_info")
    if not isinstance(info, Mapping):
        return {}
    return {"gpu_count": info.get("count"), "gpu_model": info.get("model")}


def domain(payload: JSON) -> ResourceSnapshot:
    return ResourceSnapshot(
        kind=ResourceKind.DNS_ZONE,
        provider_id=payload["name"],
        name=payload["name"],
        status="active",
        attrs={"ttl": payload.get("ttl")},
    )


def volume(payload: JSON) -> ResourceSnapshot:
    return ResourceSnapshot(
        kind=ResourceKind.VOLUME,
        provider_id=str(payload["id"]),
        name=payload.get("name") or "",
        region=_region(payload),
        size_slug=f"{payload.get('size_gigabytes')}gb" if payload.get("size_gigabytes") else "",
        status="attached" if payload.get("droplet_ids") else "detached",
        attrs={
            "size_gb": _gb(payload.get("size_gigabytes")),
            "droplet_ids": sorted(str(d) for d in payload.get("droplet_ids") or []),
            "filesystem_type": payload.get("filesystem_type") or "",
            "tags": sorted(payload.get("tags") or []),
            "created_at": payload.get("created_at"),
        },
    )


def snapshot(payload: JSON) -> ResourceSnapshot:
    return ResourceSnapshot(
        kind=ResourceKind.SNAPSHOT,
        provider_id=str(payload["id"]),
        name=payload.get("name") or "",
        region=_region(payload),
        status="available",
        attrs={
            "resource_type": payload.get("resource_type"),
            "resource_id": str(payload.get("resource_id") or ""),
            "size_gb": _gb(payload.get("size_gigabytes")),
            "min_disk_size": payload.get("min_disk_size"),
            "regions": sorted(payload.get("regions") or []),
            "tags": sorted(payload.get("tags") or []),
            "created_at": payload.get("created_at"),
        },
    )


def reserved_ip(payload: JSON) -> ResourceSnapshot:
    droplet_payload = payload.get("droplet") or {}
    droplet_id = droplet_payload.get("id") if isinstance(droplet_payload, Mapping) else None
    return ResourceSnapshot(
        kind=ResourceKind.FLOATING_IP,
        provider_id=payload["ip"],
        name=payload["ip"],
        region=_region(payload),
        status="assigned" if droplet_id else "unassigned",
        attrs={
            "droplet_id": str(droplet_id) if droplet_id else None,
            "project_id": payload.get("project_id"),
            "locked": payload.get("locked"),
        },
    )


def firewall(payload: JSON) -> ResourceSnapshot:
    return ResourceSnapshot(
        kind=ResourceKind.FIREWALL,
        provider_id=str(payload["id"]),
        name=payload.get("name") or "",
        status=payload.get("status") or "",
        attrs={
            "inbound_rules": payload.get("inbound_rules") or [],
            "outbound_rules": payload.get("outbound_rules") or [],
            "droplet_ids": sorted(str(d) for d in payload.get("droplet_ids") or []),
            "tags": sorted(payload.get("tags") or []),
            "pending_changes": payload.get("pending_changes") or [],
        },
    )


def load_balancer(payload: JSON) -> ResourceSnapshot:
    return ResourceSnapshot(
        kind=ResourceKind.LOAD_BALANCER,
        provider_id=str(payload["id"]),
        name=payload.get("name") or "",
        region=_region(payload),
        size_slug=payload.get("size") or str(payload.get("size_unit") or ""),
        status=payload.get("status") or "",
        attrs={
            "ip": payload.get("ip"),
            "size_unit": payload.get("size_unit"),
            "nodes": _load_balancer_nodes(payload),
            "algorithm": payload.get("algorithm"),
            "forwarding_rules": payload.get("forwarding_rules") or [],
            "droplet_ids": sorted(str(d) for d in payload.get("droplet_ids") or []),
            "created_at": payload.get("created_at"),
        },
    )


# DO's deprecated load balancer sizes (still sent in AMS2, NYC2, SFO1) as node counts.
LOAD_BALANCER_SIZE_NODES = {"lb-small": 1, "lb-medium": 3, "lb-large": 6}


def _load_balancer_nodes(payload: JSON) -> int | None:
    """How many nodes the load balancer has (DO bills per node): `size_unit`, else the node
    count of its deprecated `size` slug."""
    size_unit = payload.get("size_unit")
    if isinstance(size_unit, int) and not isinstance(size_unit, bool) and size_unit > 0:
        return size_unit
    return LOAD_BALANCER_SIZE_NODES.get(str(payload.get("size") or ""))


def droplet_backup(payload: JSON, *, droplet_id: str) -> ResourceSnapshot:
    return ResourceSnapshot(
        kind=ResourceKind.DROPLET_BACKUP,
        provider_id=str(payload["id"]),
        name=payload.get("name") or "",
        region=_region(payload),
        status="available",
        attrs={
            "droplet_id": str(droplet_id),
            "size_gb": _gb(payload.get("size_gigabytes")),
            "min_disk_size": payload.get("min_disk_size"),
            "created_at": payload.get("created_at"),
        },
    )


def managed_db(payload: JSON) -> ResourceSnapshot:
    return ResourceSnapshot(
        kind=ResourceKind.MANAGED_DB,
        provider_id=str(payload["id"]),
        name=payload.get("name") or "",
        region=_region(payload),
        size_slug=payload.get("size") or "",
        status=payload.get("status") or "",
        attrs={
            "engine": payload.get("engine"),
            "version": payload.get("version"),
            "num_nodes": payload.get("num_nodes"),
            "storage_size_mib": payload.get("storage_size_mib"),
            "project_id": payload.get("project_id"),
            "tags": sorted(payload.get("tags") or []),
            "created_at": payload.get("created_at"),
        },
    )


def k8s_cluster(payload: JSON) -> ResourceSnapshot:
    pools = [
        {
            "name": pool.get("name"),
            "size": pool.get("size"),
            "count": pool.get("count"),
            "droplet_ids": sorted(
                str(node["droplet_id"])
                for node in pool.get("nodes") or []
                if node.get("droplet_id")
            ),
        }
        for pool in payload.get("node_pools") or []
    ]
    status = payload.get("status")
    return ResourceSnapshot(
        kind=ResourceKind.K8S_CLUSTER,
        provider_id=str(payload["id"]),
        name=payload.get("name") or "",
        region=_region(payload),
        size_slug=",".join(sorted({str(pool["size"]) for pool in pools if pool["size"]})),
        status=(status.get("state") if isinstance(status, Mapping) else status) or "",
        attrs={
            "version": payload.get("version"),
            "node_pools": pools,
            "node_count": sum(int(pool["count"] or 0) for pool in pools),
            "ha": payload.get("ha"),
            "tags": sorted(payload.get("tags") or []),
            "created_at": payload.get("created_at"),
        },
    )


def app(payload: JSON) -> ResourceSnapshot:
    spec = payload.get("spec") or {}
    components = [
        {
            "type": component_type,
            "name": component.get("name"),
            "instance_size_slug": component.get("instance_size_slug"),
            "instance_count": component.get("instance_count"),
        }
        for component_type in ("services", "workers", "jobs")
        for component in spec.get(component_type) or []
    ]
    region = payload.get("region")
    return ResourceSnapshot(
        kind=ResourceKind.APP,
        provider_id=str(payload["id"]),
        name=spec.get("name") or "",
        region=str(region.get("slug") or "") if isinstance(region, Mapping) else str(region or ""),
        size_slug=payload.get("tier_slug") or "",
        status=str(((payload.get("active_deployment") or {}).get("phase")) or "").lower(),
        attrs={
            "tier_slug": payload.get("tier_slug"),
            "components": components,
            # What App Platform bills per hour: every component's instances.
            "instance_count": _instance_count(components),
            "project_id": payload.get("project_id"),
            "created_at": payload.get("created_at"),
        },
    )


def _instance_count(components: list[dict[str, Any]]) -> int | None:
    """The instances of every component, or None when one does not say (size unknown)."""
    counts = [component.get("instance_count") for component in components]
    if not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts):
        return None
    return sum(counts)


def _bytes_gb(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return _gb(Decimal(value).scaleb(-9).quantize(Decimal("0.000001")))


def container_registry(payload: JSON) -> ResourceSnapshot:
    tier = ((payload.get("subscription") or {}).get("tier")) or {}
    return ResourceSnapshot(
        kind=ResourceKind.CONTAINER_REGISTRY,
        provider_id=payload["name"],
        name=payload["name"],
        region=_region(payload),
        size_slug=tier.get("slug") or "",
        status="active",
        attrs={
            "tier": tier.get("slug"),
            "storage_usage_bytes": payload.get("storage_usage_bytes"),
            # Metered as registry_gb_month (1 GB = 10^9 bytes, exact at 6 places).
            "size_gb": _bytes_gb(payload.get("storage_usage_bytes")),
            "created_at": payload.get("created_at"),
        },
    )


def custom_image(payload: JSON) -> ResourceSnapshot:
    return ResourceSnapshot(
        kind=ResourceKind.CUSTOM_IMAGE,
        provider_id=str(payload["id"]),
        name=payload.get("name") or "",
        region=_region(payload),
        status=payload.get("status") or "",
        attrs={
            "size_gb": _gb(payload.get("size_gigabytes")),
            "distribution": payload.get("distribution"),
            "regions": sorted(payload.get("regions") or []),
            "tags": sorted(payload.get("tags") or []),
            "created_at": payload.get("created_at"),
        },
    )


def reserved_ipv6(payload: JSON) -> ResourceSnapshot:
    droplet_payload = payload.get("droplet") or {}
    droplet_id = droplet_payload.get("id") if isinstance(droplet_payload, Mapping) else None
    return ResourceSnapshot(
        kind=ResourceKind.RESERVED_IPV6,
        provider_id=payload["ip"],
        name=payload["ip"],
        region=str(payload.get("region_slug") or ""),
        status="assigned" if droplet_id else "unassigned",
        attrs={
            "droplet_id": str(droplet_id) if droplet_id else None,
            "reserved_at": payload.get("reserved_at"),
        },
    )


def placeholder(urn: URN) -> ResourceSnapshot:
    """A kind with no dedicated sync, seen only through a project's resources."""
    return ResourceSnapshot(
        kind=urn.kind, provider_id=urn.provider_id, name=urn.provider_id, placeholder=True
    )


NORMALIZERS: dict[str, Callable[[JSON], ResourceSnapshot]] = {
    ResourceKind.DROPLET: droplet,
    ResourceKind.DNS_ZONE: domain,
    ResourceKind.VOLUME: volume,
    ResourceKind.SNAPSHOT: snapshot,
    ResourceKind.FLOATING_IP: reserved_ip,
    ResourceKind.FIREWALL: firewall,
    ResourceKind.LOAD_BALANCER: load_balancer,
    ResourceKind.MANAGED_DB: managed_db,
    ResourceKind.K8S_CLUSTER: k8s_cluster,
    ResourceKind.APP: app,
    ResourceKind.CONTAINER_REGISTRY: container_registry,
    ResourceKind.CUSTOM_IMAGE: custom_image,
    ResourceKind.RESERVED_IPV6: reserved_ipv6,
}


def meaningful_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in attrs.items() if key not in VOLATILE_ATTR_KEYS}
