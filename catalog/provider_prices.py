"""DigitalOcean's price list (issue 18): what is read from its API, the documented constants for
what it has no endpoint for, and which billing kind each price prices.

Endpoints (see ../shared/digitalocean-openapi): `/v2/sizes` gives every droplet size's
`price_hourly` / `price_monthly` (USD; GPU sizes included; Kubernetes worker nodes are droplet
sizes); `/v2/apps/tiers/instance_sizes` gives App Platform sizes' `usd_per_month` /
`usd_per_second`. `/v2/databases/options` and `/v2/kubernetes/options` list the size SLUGS on
offer but no prices: a database size is priced from DATABASE_MONTHLY_USD below, and a
Kubernetes node from its droplet size. Everything else DigitalOcean prices flat (volumes per
GB-month, snapshots, reserved IPs, load balancer nodes, Spaces, ...) has no price endpoint at
all: FIXED_PRICES, from DigitalOcean's published pricing pages, dated by the `source` string.

An hourly price is DigitalOcean's monthly price / 672 hours (its own convention: a month is
capped at 672 billed hours).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from catalog.models import ProviderKind

logger = logging.getLogger(__name__)

HOURS_A_MONTH = 672
SECONDS_AN_HOUR = 3600
PRICE_PLACES = Decimal("1E-9")
CONSTANTS_SOURCE = "constant: digitalocean.com/pricing (2026-11)"

# billing kind -> (provider kind, whether its price depends on the size slug)
BILLING_PROVIDER: Mapping[str, tuple[str, bool]] = {
    "droplet_hours": (ProviderKind.DROPLET, True),
    "gpu_droplet_hours": (ProviderKind.DROPLET, True),
    "kubernetes_node_hours": (ProviderKind.DROPLET, True),
    "database_node_hours": (ProviderKind.DATABASE, True),
    "app_instance_hours": (ProviderKind.APP, True),
    "volume_gb_month": (ProviderKind.VOLUME, False),
    "snapshot_gb_month": (ProviderKind.SNAPSHOT, False),
    "backup_gb_month": (ProviderKind.BACKUP, False),
    "floating_ip_hours": (ProviderKind.RESERVED_IP, False),
    "reserved_ipv6_hours": (ProviderKind.RESERVED_IPV6, False),
    "load_balancer_hours": (ProviderKind.LOAD_BALANCER, False),
    "spaces_gb_month": (ProviderKind.SPACES, False),
    "registry_gb_month": (ProviderKind.REGISTRY, False),
    "custom_image_gb_month": (ProviderKind.CUSTOM_IMAGE, False),
    "bandwidth_gb": (ProviderKind.BANDWIDTH, False),
}

# Managed database node sizes, USD a month per node (DO lists the slugs, not the prices).
DATABASE_MONTHLY_USD: Mapping[str, Decimal] = {
    "db-s-1vcpu-1gb": Decimal("15.00"),
    "db-s-1vcpu-2gb": Decimal("30.00"),
    "db-s-2vcpu-4gb": Decimal("60.00"),
    "db-s-4vcpu-8gb": Decimal("120.00"),
    "db-s-6vcpu-16gb": Decimal("240.00"),
}

# (provider kind, unit, USD a unit): hour-priced kinds per hour, storage per GB-month, transfer
# per GB. The hourly ones are DO's monthly price / 672.
FIXED_PRICES: tuple[tuple[str, str, Decimal], ...] = (
    (ProviderKind.VOLUME, "gb_month", Decimal("0.10")),
    (ProviderKind.SNAPSHOT, "gb_month", Decimal("0.06")),
    (ProviderKind.BACKUP, "gb_month", Decimal("0.06")),
    (ProviderKind.CUSTOM_IMAGE, "gb_month", Decimal("0.06")),
    (ProviderKind.REGISTRY, "gb_month", Decimal("0.02")),
    (ProviderKind.SPACES, "gb_month", Decimal("0.02")),  # beyond the subscription's 250 GB
    (ProviderKind.BANDWIDTH, "gb", Decimal("0.01")),  # beyond the pooled allowance
    (ProviderKind.RESERVED_IP, "hour", Decimal("5.00") / HOURS_A_MONTH),  # while unassigned
    (ProviderKind.RESERVED_IPV6, "hour", Decimal("0")),
    (ProviderKind.LOAD_BALANCER, "hour", Decimal("12.00") / HOURS_A_MONTH),  # per node
    (ProviderKind.KUBERNETES, "hour", Decimal("40.00") / HOURS_A_MONTH),  # HA control plane
)


@dataclass(frozen=True)
class ListedPrice:
    """One price as DigitalOcean lists it (or the constants table does), USD."""

    provider_kind: str
    size_slug: str
    unit: str
    price_hourly: Decimal | None
    price_monthly: Decimal | None
    source: str
    memory_mb: int | None = None
    vcpus: int | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.provider_kind, self.size_slug)


@dataclass(frozen=True)
class PriceListRead:
    prices: tuple[ListedPrice, ...]
    skipped: tuple[str, ...]  # what could not be read, and why


def _usd(value: object, *, exact: bool = False) -> Decimal | None:
    """A USD amount DigitalOcean wrote (a JSON number or a string), at 9 places (`exact`: as
    written), or None. A JSON float is read through its shortest repr (0.00893 stays 0.00893)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount < 0:
        return None
    return amount if exact else amount.quantize(PRICE_PLACES)


def _whole(value: object) -> int | None:
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


def droplet_prices(sizes: Iterable[Any]) -> tuple[list[ListedPrice], list[str]]:
    prices, skipped = [], []
    for size in sizes:
        slug = size.get("slug") if isinstance(size, dict) else None
        hourly = _usd(size.get("price_hourly")) if isinstance(size, dict) else None
        monthly = _usd(size.get("price_monthly")) if isinstance(size, dict) else None
        if not isinstance(slug, str) or not slug or hourly is None or monthly is None:
            skipped.append(f"/v2/sizes: {size!r:.80} has no slug or no valid price")
            continue
        prices.append(
            ListedPrice(
                ProviderKind.DROPLET,
                slug,
                "hour",
                hourly,
                monthly,
                "/v2/sizes",
                memory_mb=_whole(size.get("memory")),
                vcpus=_whole(size.get("vcpus")),
            )
        )
    return prices, skipped


def app_prices(sizes: Iterable[Any]) -> tuple[list[ListedPrice], list[str]]:
    prices, skipped = [], []
    for size in sizes:
        slug = size.get("slug") if isinstance(size, dict) else None
        monthly = _usd(size.get("usd_per_month")) if isinstance(size, dict) else None
        per_second = (
            _usd(size.get("usd_per_second"), exact=True) if isinstance(size, dict) else None
        )
        if not isinstance(slug, str) or not slug or monthly is None:
            skipped.append(f"/v2/apps/tiers/instance_sizes: {size!r:.80} has no slug or price")
            continue
        hourly = (
            (per_second * SECONDS_AN_HOUR) if per_second is not None else monthly / HOURS_A_MONTH
        ).quantize(PRICE_PLACES)
        memory = _whole(size.get("memory_bytes"))
        prices.append(
            ListedPrice(
                ProviderKind.APP,
                slug,
                "hour",
                hourly,
                monthly,
                "/v2/apps/tiers/instance_sizes",
                memory_mb=None if memory is None else memory // (1024 * 1024),
                vcpus=_whole(size.get("cpus")),
            )
        )
    return prices, skipped


def database_prices(options: Any) -> tuple[list[ListedPrice], list[str]]:
    """The database size slugs DO offers, priced from DATABASE_MONTHLY_USD (no price there)."""
    slugs: set[str] = set()
    # `options` is the response's "options" object: {engine: {regions, versions, layouts}}.
    for engine in options.values() if isinstance(options, dict) else ():
        for layout in engine.get("layouts") or () if isinstance(engine, dict) else ():
            for slug in layout.get("sizes") or () if isinstance(layout, dict) else ():
                if isinstance(slug, str):
                    slugs.add(slug)
    prices, skipped = [], []
    for slug in sorted(slugs):
        monthly = DATABASE_MONTHLY_USD.get(slug)
        if monthly is None:
            skipped.append(f"/v2/databases/options: {slug} has no known list price")
            continue
        hourly = (monthly / HOURS_A_MONTH).quantize(PRICE_PLACES)
        prices.append(
            ListedPrice(
                ProviderKind.DATABASE,
                slug,
                "hour",
                hourly,
                monthly,
                f"/v2/databases/options + {CONSTANTS_SOURCE}",
            )
        )
    return prices, skipped


def kubernetes_skipped(options: Any, droplet_slugs: set[str]) -> list[str]:
    """Kubernetes node sizes are droplet sizes: priced by /v2/sizes; any that is not is said."""
    sizes = options.get("sizes") if isinstance(options, dict) else None
    return [
        f"/v2/kubernetes/options: node size {size.get('slug')} is not in /v2/sizes"
        for size in sizes or ()
        if isinstance(size, dict) and size.get("slug") not in droplet_slugs
    ]


def fixed_prices() -> list[ListedPrice]:
    prices = []
    for kind, unit, usd in FIXED_PRICES:
        amount = usd.quantize(PRICE_PLACES)
        hourly = amount if unit == "hour" else None
        monthly = (usd * HOURS_A_MONTH).quantize(PRICE_PLACES) if unit == "hour" else amount
        prices.append(ListedPrice(kind, "", unit, hourly, monthly, CONSTANTS_SOURCE))
    return prices


def read_price_list(client: Any) -> PriceListRead:
    """DigitalOcean's whole price list through `client` (four requests, /v2/sizes paginated)
    plus the constants. A failed request raises (the caller's task retries): a price list read
    half is never synced."""
    droplets, skipped = droplet_prices(client.list_sizes())
    apps, app_skipped = app_prices(client.list_app_instance_sizes())
    databases, db_skipped = database_prices(client.get_database_options())
    k8s_skipped = kubernetes_skipped(
        client.get_kubernetes_options(), {price.size_slug for price in droplets}
    )
    prices = [*droplets, *apps, *databases, *fixed_prices()]
    return PriceListRead(
        prices=tuple(prices), skipped=tuple([*skipped, *app_skipped, *db_skipped, *k8s_skipped])
    )


def list_price_per_unit(billing_kind_base_unit: str, price: Any) -> Decimal | None:
    """DigitalOcean's USD price of one base unit of a billing kind: the hourly price for hour
    kinds, else the monthly one (per GB-month, per GB)."""
    if billing_kind_base_unit == "hour":
        return price.price_hourly
    return price.price_monthly
