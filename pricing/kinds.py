"""The one registry of kinds (SPEC §8): units, billing kinds, and the resource kinds inventory
mirrors with how each is billed.

Every app that names a unit, a billing kind or a resource kind — plan items, resource prices,
inventory, metering, usage records, the quote engine, invoice lines, DigitalOcean invoice
classification — takes it from here, and nothing else in the code base hard-codes a unit factor,
an accrual rule or a billable status. The module is pure Python (no Django import) so the
pricing kernel stays pure and model fields can still build their `choices` from it.

A unit has a *dimension* (what it measures) and a *factor* (how many base units of that
dimension one of it holds). Two units are interchangeable for pricing only when they share a
dimension: `1k_tokens` can price `llm_tokens` because both count tokens, but `gb` can never
price `droplet_hours`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import TypeVar


class UnknownUnitError(ValueError):
    """A unit code that is not in the registry."""


class UnknownBillingKindError(ValueError):
    """A billing kind code that is not in the registry."""


@dataclass(frozen=True)
class Unit:
    """A unit prices and quantities are expressed in.

    `factor` is the number of base units of `dimension` in one of this unit: usage is always
    recorded in base units and divided by the factor to price it.
    """

    code: str
    label: str
    dimension: str
    factor: Decimal


@dataclass(frozen=True)
class BillingKind:
    """Something a tenant is billed for, recorded in `base_unit`.

    `overage_unit` is the unit a plan prices overage in by default (the seed catalog uses it);
    any unit of the same dimension is accepted on a plan item.
    """

    code: str
    label: str
    base_unit: str
    overage_unit: str


_Entry = TypeVar("_Entry", "Unit", "BillingKind", "ResourceKind")


def _registry(*entries: _Entry) -> Mapping[str, _Entry]:
    """An immutable code → entry mapping, in declaration order (the order `choices` use)."""
    return MappingProxyType({entry.code: entry for entry in entries})


UNITS: Mapping[str, Unit] = _registry(
    Unit("hour", "hour", dimension="time", factor=Decimal(1)),
    Unit("gb_month", "GB-month", dimension="storage_time", factor=Decimal(1)),
    Unit("gb", "GB", dimension="data", factor=Decimal(1)),
    Unit("zone", "zone", dimension="zones", factor=Decimal(1)),
    Unit("token", "token", dimension="tokens", factor=Decimal(1)),
    Unit("1k_tokens", "1,000 tokens", dimension="tokens", factor=Decimal(1000)),
)

BILLING_KINDS: Mapping[str, BillingKind] = _registry(
    BillingKind("droplet_hours", "Droplet hours", base_unit="hour", overage_unit="hour"),
    BillingKind("spaces_gb_month", "Spaces storage", base_unit="gb_month", overage_unit="gb_month"),
    BillingKind(
        "snapshot_gb_month", "Snapshot storage", base_unit="gb_month", overage_unit="gb_month"
    ),
    BillingKind("backup_gb_month", "Backup storage", base_unit="gb_month", overage_unit="gb_month"),
    BillingKind("volume_gb_month", "Volume storage", base_unit="gb_month", overage_unit="gb_month"),
    BillingKind("bandwidth_gb", "Outbound bandwidth", base_unit="gb", overage_unit="gb"),
    BillingKind("dns_zones", "DNS zones", base_unit="zone", overage_unit="zone"),
    BillingKind(
        "load_balancer_hours", "Load balancer hours", base_unit="hour", overage_unit="hour"
    ),
    BillingKind("floating_ip_hours", "Floating IP hours", base_unit="hour", overage_unit="hour"),
    BillingKind("llm_tokens", "LLM tokens", base_unit="token", overage_unit="1k_tokens"),
    # Issue 17: every kind inventory syncs is metered.
    BillingKind("gpu_droplet_hours", "GPU droplet hours", base_unit="hour", overage_unit="hour"),
    BillingKind(
        "database_node_hours", "Managed database node hours", base_unit="hour", overage_unit="hour"
    ),
    BillingKind(
        "kubernetes_node_hours", "Kubernetes node hours", base_unit="hour", overage_unit="hour"
    ),
    BillingKind(
        "app_instance_hours", "App Platform instance hours", base_unit="hour", overage_unit="hour"
    ),
    BillingKind(
        "custom_image_gb_month",
        "Custom image storage",
        base_unit="gb_month",
        overage_unit="gb_month",
    ),
    BillingKind(
        "registry_gb_month",
        "Container registry storage",
        base_unit="gb_month",
        overage_unit="gb_month",
    ),
    BillingKind(
        "reserved_ipv6_hours", "Reserved IPv6 hours", base_unit="hour", overage_unit="hour"
    ),
)


class Accrual(StrEnum):
    """How a resource kind accrues its billing kind when metered (the metering rule's shape)."""

    HOURS = "hours"  # hours in the period, while the resource is in a billable status
    SIZE_PER_MONTH = "size_per_month"  # attrs.size_gb ÷ periods in the month
    ONE_PER_MONTH = "one_per_month"  # 1 ÷ periods in the month
    # Read off a daily measurement at the source (inventory's resource_measurements), not the
    # resource's state: metered by `invoicing.usage.measured`, never by the state metering.
    MEASURED = "measured"


@dataclass(frozen=True)
class ResourceKind:
    """A kind of DigitalOcean resource inventory mirrors, and how it is billed.

    `billing_kind` is what it accrues when metered (None: it costs nothing by itself, such as a
    firewall, or it is billed through another resource, such as a Kubernetes worker); `accrual`
    is how; `billable_statuses` are the statuses in which an HOURS kind accrues by default (a 0
    row otherwise; `metering_config` may override them), None meaning whatever the status.
    `size_attr` is the attribute holding its size: GB for a SIZE_PER_MONTH kind (default
    `size_gb`), a node / instance count multiplying the hours of an HOURS kind (None: one).
    """

    code: str
    label: str
    billing_kind: str | None = None
    accrual: Accrual | None = None
    billable_statuses: frozenset[str] | None = None
    size_attr: str | None = None

    def __post_init__(self) -> None:
        if (self.billing_kind is None) != (self.accrual is None):
            raise ValueError(f"{self.code}: a billing kind and its accrual go together")
        if self.billable_statuses is not None and self.accrual is not Accrual.HOURS:
            raise ValueError(f"{self.code}: only an hourly kind accrues by status")
        if self.accrual is Accrual.SIZE_PER_MONTH and self.size_attr is None:
            object.__setattr__(self, "size_attr", "size_gb")

    @property
    def is_metered(self) -> bool:
        return self.billing_kind is not None

    @property
    def is_state_metered(self) -> bool:
        """Metered from the resource's own state (the state metering's kinds)."""
        return self.billing_kind is not None and self.accrual is not Accrual.MEASURED


def _resource_kinds(*entries: ResourceKind) -> Mapping[str, ResourceKind]:
    for entry in entries:
        if entry.billing_kind is not None and entry.billing_kind not in BILLING_KINDS:
            raise ValueError(f"{entry.code} accrues {entry.billing_kind}, which is not registered")
    return _registry(*entries)


GPU_DROPLET = "gpu_droplet"
K8S_WORKER = "k8s_worker"
# A droplet tagged `k8s:<cluster-id>` is a Kubernetes worker: it belongs to (and bills through)
# its cluster.
K8S_WORKER_TAG_PREFIX = "k8s:"

# Every kind inventory knows (SPEC §4), in the order the admin and the API list them. Unknown
# DigitalOcean kinds are still stored, under their normalized name, and are not metered.
RESOURCE_KINDS: Mapping[str, ResourceKind] = _resource_kinds(
    ResourceKind(
        "droplet",
        "Droplet",
        "droplet_hours",
        Accrual.HOURS,
        billable_statuses=frozenset({"active"}),
    ),
    ResourceKind("dns_zone", "DNS zone", "dns_zones", Accrual.ONE_PER_MONTH),
    ResourceKind("volume", "Volume", "volume_gb_month", Accrual.SIZE_PER_MONTH),
    ResourceKind("snapshot", "Snapshot", "snapshot_gb_month", Accrual.SIZE_PER_MONTH),
    # DigitalOcean charges only for an idle IP: it accrues while unassigned.
    ResourceKind(
        "floating_ip",
        "Floating IP",
        "floating_ip_hours",
        Accrual.HOURS,
        billable_statuses=frozenset({"unassigned"}),
    ),
    ResourceKind("firewall", "Firewall"),
    # Billed per node: `size_unit` (or the deprecated size's node count), read as attrs.nodes.
    ResourceKind(
        "load_balancer", "Load balancer", "load_balancer_hours", Accrual.HOURS, size_attr="nodes"
    ),
    ResourceKind("droplet_backup", "Droplet backup", "backup_gb_month", Accrual.SIZE_PER_MONTH),
    # Bucket sizes are measured through the S3 API (`MEASURED_METRICS`), not read off attrs.
    ResourceKind("spaces_bucket", "Spaces bucket", "spaces_gb_month", Accrual.MEASURED),
    ResourceKind(
        "managed_db",
        "Managed database",
        "database_node_hours",
        Accrual.HOURS,
        size_attr="num_nodes",
    ),
    # A cluster bills its worker nodes; the worker droplets themselves are K8S_WORKER below.
    ResourceKind(
        "k8s_cluster",
        "Kubernetes cluster",
        "kubernetes_node_hours",
        Accrual.HOURS,
        size_attr="node_count",
    ),
    ResourceKind(
        "app", "App Platform app", "app_instance_hours", Accrual.HOURS, size_attr="instance_count"
    ),
    ResourceKind(
        "container_registry", "Container registry", "registry_gb_month", Accrual.SIZE_PER_MONTH
    ),
    ResourceKind("custom_image", "Custom image", "custom_image_gb_month", Accrual.SIZE_PER_MONTH),
    # Like a floating IP, DigitalOcean charges a reserved IPv6 only while it is idle.
    ResourceKind(
        "reserved_ipv6",
        "Reserved IPv6",
        "reserved_ipv6_hours",
        Accrual.HOURS,
        billable_statuses=frozenset({"unassigned"}),
    ),
    # What a droplet bills as at a moment (`billed_as`): inventory stores both as `droplet`.
    ResourceKind(
        GPU_DROPLET,
        "GPU droplet",
        "gpu_droplet_hours",
        Accrual.HOURS,
        billable_statuses=frozenset({"active"}),
    ),
    ResourceKind(K8S_WORKER, "Kubernetes worker droplet"),
)


@dataclass(frozen=True)
class MeasuredMetric:
    """A daily measurement of one resource kind taken at the source (issue 17), and the billing
    kind it accrues. Values are stored in GB (10^9 bytes). `per_month`: the day's value accrues
    ÷ days in the month (a size → GB-month); otherwise the day's value as it is (a transfer)."""

    code: str
    label: str
    resource_kind: str
    billing_kind: str
    per_month: bool


# Every measurement taken, keyed by metric code (resource_measurements.metric).
MEASURED_METRICS: Mapping[str, MeasuredMetric] = MappingProxyType(
    {
        metric.code: metric
        for metric in (
            MeasuredMetric(
                "spaces_storage_gb",
                "Spaces bucket size (GB)",
                "spaces_bucket",
                "spaces_gb_month",
                per_month=True,
            ),
            MeasuredMetric(
                "public_outbound_gb",
                "Public outbound traffic (GB)",
                "droplet",
                "bandwidth_gb",
                per_month=False,
            ),
        )
    }
)
for _metric in MEASURED_METRICS.values():
    if _metric.billing_kind not in BILLING_KINDS:
        raise ValueError(f"{_metric.code} accrues {_metric.billing_kind}, which is not registered")

# Which billing kind each metered resource kind accrues (SPEC §11), read off RESOURCE_KINDS.
RESOURCE_KIND_TO_BILLING_KIND: Mapping[str, str] = MappingProxyType(
    {kind.code: kind.billing_kind for kind in RESOURCE_KINDS.values() if kind.billing_kind}
)


def billed_as(kind: str, attrs: Mapping[str, object]) -> str:
    """The registry kind a resource of inventory `kind` bills as with these attrs: a droplet
    with GPUs is a GPU_DROPLET (its own billing kind), one tagged `k8s:<cluster>` a K8S_WORKER
    (billed through its cluster); every other resource bills as its own kind."""
    if kind != "droplet":
        return kind
    tags = attrs.get("tags")
    if isinstance(tags, list) and any(
        isinstance(tag, str) and tag.startswith(K8S_WORKER_TAG_PREFIX) for tag in tags
    ):
        return K8S_WORKER
    gpus = attrs.get("gpu_count")
    if isinstance(gpus, int) and not isinstance(gpus, bool) and gpus > 0:
        return GPU_DROPLET
    return kind


# A size the metering trusts: a plain non-negative decimal, optionally with a small exponent
# ("160", "16.5", "1.6E+2" as Decimal.normalize() writes it), or a non-negative integer.
_SIZE_RE = re.compile(r"^[0-9]{1,15}(\.[0-9]{1,15})?([eE][+-]?[0-9]{1,2})?$")
# Beyond any real resource (an exabyte, a billion nodes); keeps a day of size * seconds inside
# the usage columns (20 digits, 6 places).
MAX_SIZE = Decimal(10) ** 9
SIZE_PLACES = Decimal("0.000001")


def billed_size(kind: str, attrs: Mapping[str, object]) -> Decimal | None:
    """The size a resource of registry `kind` bills at with these attrs, exact at 6 places: its
    GB (SIZE_PER_MONTH), its node / instance count (HOURS with a size_attr), else 1. None when
    the size is missing or not a size (metering skips and counts it, never guesses)."""
    entry = RESOURCE_KINDS.get(kind)
    if entry is None or entry.size_attr is None:
        return Decimal(1)
    value = attrs.get(entry.size_attr) if isinstance(attrs, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    text = value if isinstance(value, str) else str(value)
    if not _SIZE_RE.match(text):
        return None
    try:
        size = Decimal(text)
    except ArithmeticError:
        return None
    if size >= MAX_SIZE:
        return None
    return size.quantize(SIZE_PLACES, rounding=ROUND_HALF_UP)


def get_unit(code: str) -> Unit:
    """The registered unit, or UnknownUnitError naming the allowed codes."""
    try:
        return UNITS[code]
    except (KeyError, TypeError):
        raise UnknownUnitError(f"{code!r} is not a unit; use one of: {', '.join(UNITS)}") from None


def get_billing_kind(code: str) -> BillingKind:
    """The registered billing kind, or UnknownBillingKindError naming the allowed codes."""
    try:
        return BILLING_KINDS[code]
    except (KeyError, TypeError):
        raise UnknownBillingKindError(
            f"{code!r} is not a billing kind; use one of: {', '.join(BILLING_KINDS)}"
        ) from None


def is_billing_kind(code: object) -> bool:
    return isinstance(code, str) and code in BILLING_KINDS


def unit_factor(unit: str) -> Decimal:
    """How many base units one `unit` holds (1k_tokens → 1000)."""
    return get_unit(unit).factor


def to_units(base_qty: Decimal, unit: str) -> Decimal:
    """A quantity recorded in base units expressed in `unit` (exact Decimal division)."""
    return base_qty / unit_factor(unit)


def compatible_units(kind: str) -> tuple[str, ...]:
    """Every unit that can price `kind`: those measuring the same dimension as its base unit."""
    dimension = get_unit(get_billing_kind(kind).base_unit).dimension
    return tuple(code for code, unit in UNITS.items() if unit.dimension == dimension)


def units_compatible(kind: str, unit: str) -> bool:
    """Whether `unit` can price usage of `kind` (e.g. 1k_tokens for llm_tokens, not gb).

    An unknown kind or unit raises, so a typo is reported as a typo rather than as a mismatch.
    """
    get_unit(unit)
    return unit in compatible_units(kind)


def get_resource_kind(code: str) -> ResourceKind | None:
    """The registered resource kind, or None for a kind DigitalOcean has and we do not know."""
    return RESOURCE_KINDS.get(code) if isinstance(code, str) else None


def resource_kind_choices() -> list[tuple[str, str]]:
    """(code, label) pairs of every known resource kind, for model and admin fields."""
    return [(kind.code, kind.label) for kind in RESOURCE_KINDS.values()]


def choices() -> list[tuple[str, str]]:
    """(code, label) pairs of every billing kind, for model and serializer fields."""
    return [(kind.code, kind.label) for kind in BILLING_KINDS.values()]


def unit_choices() -> list[tuple[str, str]]:
    """(code, label) pairs of every unit, for model and serializer fields."""
    return [(unit.code, unit.label) for unit in UNITS.values()]
