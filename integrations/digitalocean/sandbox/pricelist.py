"""The offline DigitalOcean's price list (issue 18): what `/v2/sizes`, `/v2/databases/options`,
`/v2/kubernetes/options` and `/v2/apps/tiers/instance_sizes` answer, shaped as the OpenAPI
description says. Prices are DigitalOcean's published list prices for these sizes (USD), as
floats on /v2/sizes (DO's own JSON) and strings on the App Platform endpoint.

Tests and the demo change a price by editing `DigitalOceanEmulator.price_list` in place.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from .generate import REGIONS, SIZES, size_payload

JSON = dict[str, Any]

# GPU droplets are listed by /v2/sizes like any size (with gpu_info); slug, memory MB, vCPUs,
# disk GB, transfer TB, USD a month, USD an hour: as the account's own droplet object carries
# them (its invoice bills the month at 4,529.30).
GPU_SIZES: dict[str, tuple[int, int, int, float, float, float]] = {
    "gpu-h100x1-80gb": (245760, 20, 720, 15.0, 4529.3, 6.74),
}

DATABASE_SIZES = ("db-s-1vcpu-1gb", "db-s-1vcpu-2gb", "db-s-2vcpu-4gb", "db-s-4vcpu-8gb")

APP_INSTANCE_SIZES: tuple[tuple[str, str, str, str, str], ...] = (
    # slug, tier, cpus, memory bytes, USD a month
    ("apps-s-1vcpu-0.5gb", "basic", "1", "536870912", "5.00"),
    ("apps-s-1vcpu-1gb", "basic", "1", "1073741824", "12.00"),
    ("apps-d-1vcpu-2gb", "professional", "1", "2147483648", "39.00"),
)

SECONDS_A_MONTH = 2_419_200  # 672 hours: DO's hourly price is its monthly price / 672


def _gpu_payload(slug: str) -> JSON:
    memory, vcpus, disk, transfer, monthly, hourly = GPU_SIZES[slug]
    return {
        "slug": slug,
        "memory": memory,
        "vcpus": vcpus,
        "disk": disk,
        "transfer": transfer,
        "price_monthly": monthly,
        "price_hourly": hourly,
        "regions": ["nyc2", "tor1"],
        "available": True,
        "description": "GPU",
        "gpu_info": {"count": 1, "vram": {"amount": 80, "unit": "gib"}, "model": "nvidia_h100"},
    }


def _app_size(slug: str, tier: str, cpus: str, memory: str, monthly: str) -> JSON:
    per_second = (Decimal(monthly) / SECONDS_A_MONTH).quantize(Decimal("1E-11"))
    return {
        "name": slug,
        "slug": slug,
        "cpu_type": "SHARED" if tier == "basic" else "DEDICATED",
        "cpus": cpus,
        "memory_bytes": memory,
        "usd_per_month": monthly,
        "usd_per_second": format(per_second, "f"),
        "tier_slug": tier,
        "single_instance_only": False,
        "scalable": tier != "basic",
        "deprecation_intent": False,
        "bandwidth_allowance_gib": "50",
    }


def default_price_list() -> JSON:
    """A fresh copy of the emulator's price list."""
    regions = [{"name": name, "slug": slug} for slug, name in sorted(REGIONS.items())]
    layouts = [{"num_nodes": n, "sizes": list(DATABASE_SIZES)} for n in (1, 2, 3)]
    engine = {"regions": sorted(REGIONS), "versions": ["16", "17"], "layouts": layouts}
    return copy.deepcopy(
        {
            "sizes": [size_payload(slug) for slug in SIZES]
            + [_gpu_payload(slug) for slug in GPU_SIZES],
            "database_options": {"options": {"pg": engine, "mysql": {**engine, "versions": ["8"]}}},
            "kubernetes_options": {
                "regions": regions,
                "versions": [
                    {
                        "slug": "1.33.1-do.0",
                        "kubernetes_version": "1.33.1",
                        "supported_features": ["cluster-autoscaler"],
                    }
                ],
                "sizes": [{"name": slug, "slug": slug} for slug in SIZES],
            },
            "app_instance_sizes": [_app_size(*row) for row in APP_INSTANCE_SIZES],
        }
    )
