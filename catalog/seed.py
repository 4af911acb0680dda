"""The launch catalog of SPEC §8 and the idempotent service that installs it.

`catalog_seed` converges the database towards these terms without ever rewriting history: a
published version is never edited — when the seed's terms differ from a plan's active version a
new DRAFT is created for an operator to review and publish. Add-ons and resource prices an
operator has changed since are reported and left alone (the seed is a starting point, not the
source of truth once operators run the catalog).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction

from catalog.models import Addon, Plan, PlanVersion, PlanVersionStatus, ResourcePrice
from catalog.services import (
    PlanItemInput,
    addon_create,
    plan_create,
    plan_version_create,
    plan_version_publish,
    resource_price_create,
)
from pricing import kinds as billing_kinds

SEED_ACTOR = "seed_catalog"
SEED_CURRENCY = "AUD"
SEED_PRICES_FROM = dt.date(2026, 1, 1)

# Overage price in cents per the kind's default overage unit (1k_tokens for llm_tokens).
OVERAGE_CENTS = {
    "droplet_hours": 1,
    "spaces_gb_month": 2,
    "snapshot_gb_month": 6,
    "bandwidth_gb": 1,
    "dns_zones": 100,
    "llm_tokens": 1,
}


@dataclass(frozen=True)
class SeedPlan:
    code: str
    name: str
    description: str
    base_price_cents: int
    included: dict[str, int]

    @property
    def items(self) -> tuple[PlanItemInput, ...]:
        return tuple(
            PlanItemInput(
                resource_kind=kind,
                included_qty=Decimal(qty),
                overage_unit=billing_kinds.get_billing_kind(kind).overage_unit,
                overage_price_cents=OVERAGE_CENTS[kind],
            )
            for kind, qty in self.included.items()
        )


@dataclass(frozen=True)
class SeedAddon:
    code: str
    name: str
    resource_kind: str
    qty: int
    price_cents: int


SEED_PLANS = (
    SeedPlan(
        "starter",
        "Starter",
        "One small deployment to get going.",
        2000,
        {
            "droplet_hours": 744,
            "spaces_gb_month": 25,
            "snapshot_gb_month": 10,
            "bandwidth_gb": 500,
            "dns_zones": 1,
        },
    ),
    SeedPlan(
        "studio",
        "Studio",
        "A production deployment with LLM tokens included.",
        5000,
        {
            "droplet_hours": 1488,
            "spaces_gb_month": 100,
            "snapshot_gb_month": 50,
            "bandwidth_gb": 2000,
            "dns_zones": 5,
            "llm_tokens": 1_000_000,
        },
    ),
    SeedPlan(
        "pro",
        "Pro",
        "Room for a busy product: more of everything.",
        12000,
        {
            "droplet_hours": 3720,
            "spaces_gb_month": 500,
            "snapshot_gb_month": 200,
            "bandwidth_gb": 5000,
            "dns_zones": 20,
            "llm_tokens": 5_000_000,
        },
    ),
)

SEED_ADDONS = (
    SeedAddon("storage_50gb", "Storage +50 GB", "spaces_gb_month", 50, 750),
    SeedAddon("storage_250gb", "Storage +250 GB", "spaces_gb_month", 250, 3000),
    SeedAddon("llm_1m_tokens", "LLM +1M tokens", "llm_tokens", 1_000_000, 1000),
)

# Billing kinds no plan covers, priced per their registry base unit from SEED_PRICES_FROM.
SEED_RESOURCE_PRICES = {
    "volume_gb_month": 15,
    "backup_gb_month": 5,
    "load_balancer_hours": 2,
    "floating_ip_hours": 1,
    # Issue 17: every kind inventory syncs (list prices, AUD cents per hour / GB-month).
    "gpu_droplet_hours": 500,
    "database_node_hours": 3,
    "kubernetes_node_hours": 2,
    "app_instance_hours": 1,
    "custom_image_gb_month": 6,
    "registry_gb_month": 2,
    "reserved_ipv6_hours": 1,
}


# Issue 18: prices that follow the size, for kinds no plan covers — cost-plus: DigitalOcean's
# list price of the size x (1 + markup / 100), at the month's USD→AUD rate. The unscoped list
# prices above stay the price of a size no scope covers (an unknown size).
# (billing kind, size scope, markup %)
SEED_COST_PLUS_PRICES = (
    ("gpu_droplet_hours", "gpu-", Decimal(25)),
    ("database_node_hours", "db-", Decimal(30)),
    ("kubernetes_node_hours", "s-", Decimal(30)),
)


@dataclass
class SeedReport:
    """What the seed did, one line per object, and whether it wrote anything."""

    lines: list[str] = field(default_factory=list)
    changed: bool = False

    def note(self, line: str, *, changed: bool = False) -> None:
        self.lines.append(line)
        self.changed = self.changed or changed


@transaction.atomic(durable=True)
def catalog_seed(*, actor: str = SEED_ACTOR) -> SeedReport:
    """Install SPEC §8's plans, add-ons and resource prices; a re-run changes nothing."""
    report = SeedReport()
    for seed in SEED_PLANS:
        _seed_plan(seed, actor, report)
    for seed in SEED_ADDONS:
        _seed_addon(seed, report)
    for kind, price_cents in SEED_RESOURCE_PRICES.items():
        _seed_resource_price(kind, price_cents, report)
    for kind, scope, markup in SEED_COST_PLUS_PRICES:
        _seed_cost_plus_price(kind, scope, markup, report)
    return report


# ---------------------------------------------------------------------------------------------
# Plans
# ---------------------------------------------------------------------------------------------

TermsKey = tuple[int, str, frozenset]


def _seed_terms(seed: SeedPlan) -> TermsKey:
    return _terms_key(seed.base_price_cents, SEED_CURRENCY, seed.items)


def _version_terms(version: PlanVersion) -> TermsKey:
    return _terms_key(version.base_price_cents, version.currency, version.items.all())


def _terms_key(base_price_cents: int, currency: str, items: Iterable) -> TermsKey:
    """What makes two versions price the same (Decimal equality ignores trailing zeros)."""
    return (
        base_price_cents,
        currency,
        frozenset(
            (
                item.resource_kind,
                Decimal(item.included_qty),
                item.overage_unit,
                item.overage_price_cents,
                None if item.hard_cap_qty is None else Decimal(item.hard_cap_qty),
            )
            for item in items
        ),
    )


def _seed_plan(seed: SeedPlan, actor: str, report: SeedReport) -> None:
    plan = Plan.objects.filter(code=seed.code).first()
    if plan is None:
        plan = plan_create(code=seed.code, name=seed.name, description=seed.description)
        report.note(f"plan {seed.code}: created", changed=True)
    versions = list(plan.versions.prefetch_related("items").order_by("number"))
    active = next((v for v in versions if v.status == PlanVersionStatus.ACTIVE), None)
    wanted = _seed_terms(seed)
    if active is not None and _version_terms(active) == wanted:
        report.note(f"plan {seed.code}: v{active.number} is active with the seed terms; unchanged")
        return
    matching_draft = next((v for v in versions if v.is_draft and _version_terms(v) == wanted), None)
    if active is None:
        _publish_seed_version(plan, seed, matching_draft, actor, report)
        return
    if matching_draft is not None:
        report.note(
            f"plan {seed.code}: active v{active.number} differs from the seed; draft "
            f"v{matching_draft.number} already holds the seed terms (publish it to apply them)"
        )
        return
    draft = _create_seed_version(plan, seed, actor)
    report.note(
        f"plan {seed.code}: active v{active.number} differs from the seed; created DRAFT "
        f"v{draft.number} with the seed terms for review (published versions are never edited)",
        changed=True,
    )


def _publish_seed_version(
    plan: Plan, seed: SeedPlan, draft: PlanVersion | None, actor: str, report: SeedReport
) -> None:
    """A plan without an active version has no subscriber to protect: publish the seed."""
    version = draft or _create_seed_version(plan, seed, actor)
    plan_version_publish(version=version, actor=actor)
    report.note(f"plan {seed.code}: published v{version.number}", changed=True)


def _create_seed_version(plan: Plan, seed: SeedPlan, actor: str) -> PlanVersion:
    return plan_version_create(
        plan=plan,
        base_price_cents=seed.base_price_cents,
        currency=SEED_CURRENCY,
        items=seed.items,
        actor=actor,
    )


# ---------------------------------------------------------------------------------------------
# Add-ons and resource prices
# ---------------------------------------------------------------------------------------------


def _seed_addon(seed: SeedAddon, report: SeedReport) -> None:
    addon = Addon.objects.filter(code=seed.code).first()
    if addon is None:
        addon_create(
            code=seed.code,
            name=seed.name,
            resource_kind=seed.resource_kind,
            qty=Decimal(seed.qty),
            price_cents=seed.price_cents,
            currency=SEED_CURRENCY,
        )
        report.note(f"add-on {seed.code}: created", changed=True)
        return
    actual = (addon.resource_kind, addon.qty, addon.price_cents, addon.currency, addon.is_active)
    wanted = (seed.resource_kind, Decimal(seed.qty), seed.price_cents, SEED_CURRENCY, True)
    if actual == wanted:
        report.note(f"add-on {seed.code}: unchanged")
    else:
        report.note(f"add-on {seed.code}: differs from the seed (changed by an operator); kept")


def _seed_resource_price(kind: str, price_cents: int, report: SeedReport) -> None:
    unit = billing_kinds.get_billing_kind(kind).base_unit
    prices = ResourcePrice.objects.filter(resource_kind=kind, currency=SEED_CURRENCY, size_scope="")
    if not prices.exists():
        resource_price_create(
            resource_kind=kind,
            unit=unit,
            price_cents=price_cents,
            currency=SEED_CURRENCY,
            effective_from=SEED_PRICES_FROM,
        )
        report.note(
            f"resource price {kind}: created {price_cents}c/{unit} from {SEED_PRICES_FROM}",
            changed=True,
        )
        return
    on_seed_date = (
        prices.filter(effective_from__lte=SEED_PRICES_FROM)
        .exclude(effective_to__lte=SEED_PRICES_FROM)
        .first()
    )
    if on_seed_date is not None and (on_seed_date.unit, on_seed_date.price_cents) == (
        unit,
        price_cents,
    ):
        report.note(f"resource price {kind}: unchanged")
    else:
        report.note(f"resource price {kind}: operators have set other {SEED_CURRENCY} prices; kept")


def _seed_cost_plus_price(kind: str, scope: str, markup: Decimal, report: SeedReport) -> None:
    unit = billing_kinds.get_billing_kind(kind).base_unit
    label = f"resource price {kind} [{scope}]"
    prices = ResourcePrice.objects.filter(
        resource_kind=kind, currency=SEED_CURRENCY, size_scope=scope
    )
    if not prices.exists():
        resource_price_create(
            resource_kind=kind,
            unit=unit,
            price_cents=0,
            currency=SEED_CURRENCY,
            effective_from=SEED_PRICES_FROM,
            size_scope=scope,
            markup_percent=markup,
        )
        report.note(
            f"{label}: created cost-plus DigitalOcean list +{markup}% from {SEED_PRICES_FROM}",
            changed=True,
        )
        return
    if prices.filter(markup_percent=markup, unit=unit).exists():
        report.note(f"{label}: unchanged")
    else:
        report.note(f"{label}: operators have set other {SEED_CURRENCY} prices; kept")
