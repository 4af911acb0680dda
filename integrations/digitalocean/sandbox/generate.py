"""Builders of DO-shaped payloads, and `generate_account` for large synthetic accounts.

The benchmark syncs 20,000 droplets through the emulator, so generation must be cheap: the
region, size and image objects are shared between droplets (the emulator never mutates nested
objects), and everything derives from one seeded RNG so a seed always yields the same account.
"""

from __future__ import annotations

import copy
import functools
import random
import uuid
from typing import Any

from .fixture import load_fixture

REGIONS: dict[str, str] = {
    "syd1": "Sydney 1",
    "sgp1": "Singapore 1",
    "blr1": "Bangalore 1",
    "sfo3": "San Francisco 3",
}
REGION_FEATURES = ["backups", "ipv6", "metadata", "install_agent", "storage", "image_transfer"]

# slug -> (memory MiB, vcpus, disk GB, transfer TB, monthly USD as DO's JSON writes it)
SIZES: dict[str, tuple[int, int, int, float, float]] = {
    "s-1vcpu-1gb": (1024, 1, 25, 1.0, 6.0),
    "s-1vcpu-2gb": (2048, 1, 50, 2.0, 12.0),
    "s-2vcpu-4gb": (4096, 2, 80, 4.0, 24.0),
    "s-4vcpu-8gb": (8192, 4, 160, 5.0, 48.0),
    "m-24vcpu-192gb": (196608, 24, 1800, 12.0, 1008.0),
}

UBUNTU_IMAGE: dict[str, Any] = {
    "id": 160242141,
    "name": "24.04 (LTS) x64",
    "distribution": "Ubuntu",
    "slug": "ubuntu-24-04-x64",
    "public": True,
    "regions": sorted(REGIONS),
    "created_at": "2025-07-08T15:51:31Z",
    "type": "base",
    "min_disk_size": 7,
    "size_gigabytes": 2.88,
    "description": "Ubuntu 24.04 (LTS) x64",
    "tags": [],
    "status": "available",
}


def region_payload(slug: str) -> dict[str, Any]:
    return {
        "name": REGIONS[slug],
        "slug": slug,
        "features": REGION_FEATURES,
        "available": True,
        "sizes": list(SIZES),
    }


def size_payload(slug: str) -> dict[str, Any]:
    memory, vcpus, disk, transfer, monthly = SIZES[slug]
    return {
        "slug": slug,
        "memory": memory,
        "vcpus": vcpus,
        "disk": disk,
        "transfer": transfer,
        "price_monthly": monthly,
        "price_hourly": round(monthly / 672, 5),
        "regions": sorted(REGIONS),
        "available": True,
        "description": "Memory-Optimized" if slug.startswith("m-") else "Basic",
    }


def droplet_payload(
    *,
    droplet_id: int,
    name: str,
    size_slug: str,
    region: str,
    created_at: str,
    public_ip: str,
    private_ip: str,
    vpc_uuid: str,
    status: str = "active",
    backups: bool = False,
    volume_ids: tuple[str, ...] = (),
    tags: tuple[str, ...] = (),
    region_obj: dict[str, Any] | None = None,
    size_obj: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A droplet as GET /v2/droplets serves it (backup_ids / snapshot_ids are derived by the
    emulator from the account, so they are left out here)."""
    memory, vcpus, disk, _, _ = SIZES[size_slug]
    features = ["backups"] if backups else []
    features += ["monitoring", "droplet_agent", "private_networking"]
    return {
        "id": droplet_id,
        "name": name,
        "memory": memory,
        "vcpus": vcpus,
        "disk": disk,
        "locked": False,
        "status": status,
        "kernel": None,
        "created_at": created_at,
        "features": features,
        "next_backup_window": None,
        "image": UBUNTU_IMAGE,
        "volume_ids": list(volume_ids),
        "size": size_obj or size_payload(size_slug),
        "size_slug": size_slug,
        "networks": {
            "v4": [
                {
                    "ip_address": public_ip,
                    "netmask": "255.255.240.0",
                    "gateway": public_ip.rsplit(".", 1)[0] + ".1",
                    "type": "public",
                },
                {
                    "ip_address": private_ip,
                    "netmask": "255.255.240.0",
                    "gateway": private_ip.rsplit(".", 1)[0] + ".1",
                    "type": "private",
                },
            ],
            "v6": [],
        },
        "region": region_obj or region_payload(region),
        "tags": list(tags),
        "vpc_uuid": vpc_uuid,
    }


# The other kinds `generate_account` can add (its keyword -> the fixture collection and the
# project-resource URN kind; None: DigitalOcean lists it in no project).
EXTRA_KINDS: dict[str, tuple[str, str | None]] = {
    "volumes": ("volumes", "volume"),
    "snapshots": ("snapshots", None),
    "reserved_ips": ("reserved_ips", "floatingip"),
    "firewalls": ("firewalls", None),
    "load_balancers": ("load_balancers", "loadbalancer"),
    "databases": ("databases", "dbaas"),
    "kubernetes_clusters": ("kubernetes_clusters", "kubernetes"),
    "apps": ("apps", None),
    "domains": ("domains", "domain"),
    "buckets": ("spaces_buckets", "space"),
}
# The 100,000-resource account of issue 22 (80,000 droplets and the other kinds; with
# `with_backups(account, every=40, each=2)` 4,000 droplet backups make it 100,000).
LARGE_ACCOUNT: dict[str, int] = {
    "droplets": 80_000,
    "volumes": 6_000,
    "snapshots": 2_000,
    "reserved_ips": 3_000,
    "buckets": 2_000,
    "domains": 1_000,
    "databases": 600,
    "load_balancers": 500,
    "apps": 500,
    "firewalls": 300,
    "kubernetes_clusters": 100,
}


def generate_account(
    droplets: int = 1000, seed: int = 0, *, tenants: int = 10, **extras: int
) -> dict[str, Any]:
    """A large deterministic fixture: `tenants` tenant projects plus the default one, and
    `droplets` droplets spread over them, each with its line on the invoice; `extras` adds that
    many objects of the other kinds (`EXTRA_KINDS`: volumes=8000, buckets=2000, ...), shaped as
    the default fixture's (which the conformance test checks) and spread over the tenants."""
    if droplets < 0 or tenants < 1:
        raise ValueError("droplets must be >= 0 and tenants >= 1")
    unknown = sorted(set(extras) - set(EXTRA_KINDS))
    if unknown or any(count < 0 for count in extras.values()):
        raise ValueError(
            f"extras are counts >= 0 of {', '.join(EXTRA_KINDS)}; got {unknown or extras}"
        )
    rng = random.Random(seed)
    projects = [_project(rng, "Default", is_default=True)]
    projects += [_project(rng, f"Tenant {n:03d}") for n in range(1, tenants + 1)]
    regions = {slug: region_payload(slug) for slug in ("syd1", "sgp1")}
    sizes = {slug: size_payload(slug) for slug in ("s-1vcpu-1gb", "s-1vcpu-2gb", "s-2vcpu-4gb")}
    vpc_uuid = _uuid(rng)
    droplet_objs: list[dict[str, Any]] = []
    assignments: list[dict[str, Any]] = []
    lines: list[dict[str, Any]] = []
    for index in range(droplets):
        region, size_slug = rng.choice(list(regions)), rng.choice(list(sizes))
        project = projects[1 + index % tenants]
        droplet = droplet_payload(
            droplet_id=300_000_000 + index,
            name=f"bench-{index:05d}",
            size_slug=size_slug,
            region=region,
            created_at=f"2026-01-{1 + index % 28:02d}T{index % 24:02d}:00:00Z",
            public_ip=f"170.64.{index // 256 % 256}.{index % 256}",
            private_ip=f"10.126.{index // 256 % 256}.{index % 256}",
            vpc_uuid=vpc_uuid,
            status="off" if rng.random() < 0.1 else "active",
            tags=(f"tenant:{project['name'].lower().replace(' ', '-')}",),
            region_obj=regions[region],
            size_obj=sizes[size_slug],
        )
        droplet_objs.append(droplet)
        assignments.append({"project_id": project["id"], "urn": f"do:droplet:{droplet['id']}"})
        lines.append(
            {
                "product": "Droplets",
                "description": f"{droplet['name']} ({size_slug})",
                "monthly_usd": f"{SIZES[size_slug][4]:.2f}",
                "project_name": project["name"],
                "category": "iaas",
            }
        )
    fixture: dict[str, Any] = {
        "account": {
            "name": "Benchmark Operator",
            "company": "Arcadia Cloud Pty Ltd",
            "email": "bench@arcadia.example",
        },
        "balance": {
            "month_to_date_balance": "0.00",
            "account_balance": "0.00",
            "month_to_date_usage": "0.00",
        },
        "projects": projects,
        "project_resources": assignments,
        "droplets": droplet_objs,
        "invoice": {"lines": lines, "tax": {"description": "GST (10%)", "rate": "0.10"}},
    }
    for keyword, count in extras.items():
        collection, urn_kind = EXTRA_KINDS[keyword]
        objects = [
            _extra(
                collection,
                index,
                rng,
                droplet_objs,
                vpc_uuid,
                project_id=projects[1 + index % tenants]["id"],
            )
            for index in range(count)
        ]
        fixture.setdefault(collection, []).extend(objects)
        if urn_kind is None:
            continue
        id_key = _URN_ID[collection]
        assignments += [
            {"project_id": projects[1 + index % tenants]["id"], "urn": f"do:{urn_kind}:{o[id_key]}"}
            for index, o in enumerate(objects)
        ]
    return fixture


def with_backups(fixture: dict[str, Any], *, every: int, each: int) -> dict[str, Any]:
    """Every `every`th droplet of a generated account gets weekly backups, `each` of them (the
    emulator serves them in `/v2/images?private=true` and the droplet's `backup_ids`)."""
    for index, droplet in enumerate(fixture["droplets"]):
        if index % every:
            continue
        droplet["features"] = ["backups"]
        droplet["_backups"] = [
            {
                "id": 900_000_000 + index * each + week,
                "name": f"{droplet['name']} backup {week}",
                "regions": [droplet["region"]["slug"]],
                "min_disk_size": 25,
                "size_gigabytes": 2.5,
                "type": "backup",
                "distribution": "Ubuntu",
                "public": False,
                "created_at": f"2026-04-{1 + 7 * week:02d}T03:00:00Z",
            }
            for week in range(each)
        ]
    return fixture


_URN_ID = {
    "volumes": "id",
    "reserved_ips": "ip",
    "load_balancers": "id",
    "databases": "id",
    "kubernetes_clusters": "id",
    "domains": "name",
    "spaces_buckets": "name",
}


@functools.cache
def _templates() -> dict[str, dict[str, Any]]:
    """One object of each collection from the default fixture: the shape generated ones copy."""
    fixture = load_fixture()
    return {key: fixture[key][0] for key in {c for c, _ in EXTRA_KINDS.values()}}


def _extra(
    collection: str,
    index: int,
    rng: random.Random,
    droplets: list[dict[str, Any]],
    vpc_uuid: str,
    *,
    project_id: str,
) -> dict[str, Any]:
    """The `index`th generated object of `collection`, a copy of the default fixture's first
    with its own identity (ids, name, IPs); references point at generated droplets."""
    obj = copy.deepcopy(_templates()[collection])
    obj.pop("_lifetime", None)
    obj.pop("_droplet_id", None)
    if "project_id" in obj:
        obj["project_id"] = project_id
    name = f"bench-{collection.replace('_', '-')}-{index:05d}"
    droplet = droplets[index % len(droplets)] if droplets else None
    if collection == "domains":
        return {**obj, "name": f"bench-{index:05d}.example", "zone_file": ""}
    if collection == "spaces_buckets":
        return {**obj, "name": name, "object_sizes": [1_000_000 * (1 + index % 5)]}
    if collection == "reserved_ips":
        obj = {**obj, "ip": f"45.55.{index // 256 % 256}.{index % 256}"}
        obj.pop("droplet", None)
        return obj
    obj["name"] = name
    obj["id"] = _uuid(rng)
    if collection == "snapshots":
        obj["id"] = str(800_000_000 + index)
        obj["resource_id"] = str(droplet["id"]) if droplet else obj["resource_id"]
    if collection in ("volumes", "firewalls"):
        obj["droplet_ids"] = [droplet["id"]] if droplet else []
    if collection == "kubernetes_clusters":
        obj["vpc_uuid"] = vpc_uuid
        obj["tags"] = ["k8s", f"k8s:{obj['id']}"]
        obj["node_pools"] = [{**pool, "nodes": []} for pool in obj.get("node_pools", [])]
    if collection == "apps":
        obj["spec"] = {**obj["spec"], "name": name}
    if collection == "load_balancers":
        obj["ip"] = f"46.101.{index // 256 % 256}.{index % 256}"
        obj["droplet_ids"] = [droplet["id"]] if droplet else []
    return obj


def _project(rng: random.Random, name: str, *, is_default: bool = False) -> dict[str, Any]:
    return {
        "id": _uuid(rng),
        "owner_uuid": "b5a7c2d94e0f4d6f8a1e3c5b7d9f1a3c5e7b9d1f",
        "owner_id": 8675309,
        "name": name,
        "description": "Default project" if is_default else f"Tenant project {name}",
        "purpose": "Operational / Developer tooling" if is_default else "Web Application",
        "environment": "Production",
        "is_default": is_default,
        "created_at": "2025-11-03T09:12:44Z",
        "updated_at": "2025-11-03T09:12:44Z",
    }


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))
