"""The one registry of billing kinds and units (SPEC §8).

Every app that names a billing kind or a unit — plan items, resource prices, metering, usage
records, the quote engine, invoice lines — takes it from here, and nothing else in the code base
hard-codes a unit factor. The module is pure Python (no Django import) so the quote engine can
stay a pure function and model fields can still build their `choices` from it.

A unit has a *dimension* (what it measures) and a *factor* (how many base units of that
dimension one of it holds). Two units are interchangeable for pricing only when they share a
dimension: `1k_tokens` can price `llm_tokens` because both count tokens, but `gb` can never
price `droplet_hours`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
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


_Entry = TypeVar("_Entry", "Unit", "BillingKind")


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
)

# Which billing kind a DigitalOcean resource accrues when metered (SPEC §11). A floating IP only
# accrues while unassigned; that rule belongs to metering, the kind it accrues is fixed here.
RESOURCE_KIND_TO_BILLING_KIND: Mapping[str, str] = MappingProxyType(
    {
        "droplet": "droplet_hours",
        "spaces_bucket": "spaces_gb_month",
        "snapshot": "snapshot_gb_month",
        "droplet_backup": "backup_gb_month",
        "volume": "volume_gb_month",
        "dns_zone": "dns_zones",
        "load_balancer": "load_balancer_hours",
        "floating_ip": "floating_ip_hours",
    }
)


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


def choices() -> list[tuple[str, str]]:
    """(code, label) pairs of every billing kind, for model and serializer fields."""
    return [(kind.code, kind.label) for kind in BILLING_KINDS.values()]


def unit_choices() -> list[tuple[str, str]]:
    """(code, label) pairs of every unit, for model and serializer fields."""
    return [(unit.code, unit.label) for unit in UNITS.values()]
