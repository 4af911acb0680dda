"""Builders for catalog rows in tests: through the services, as production creates them."""

from __future__ import annotations

import itertools
from decimal import Decimal

from catalog.models import Addon, Plan, PlanVersion
from catalog.services import (
    PlanItemInput,
    addon_create,
    plan_create,
    plan_version_create,
    plan_version_publish,
)

ACTOR = "test:catalog"
_codes = itertools.count(1)


def item(kind: str, included: str | int, price: int, **kwargs) -> PlanItemInput:
    return PlanItemInput(
        resource_kind=kind, included_qty=Decimal(included), overage_price_cents=price, **kwargs
    )


DEFAULT_ITEMS = (
    item("droplet_hours", 744, 1),
    item("spaces_gb_month", 25, 2),
)


def make_plan(code: str | None = None, **kwargs) -> Plan:
    return plan_create(code=code or f"plan-{next(_codes)}", name=kwargs.pop("name", "A plan"))


def make_version(
    plan: Plan | None = None,
    *,
    base_price_cents: int = 2000,
    currency: str = "AUD",
    items=DEFAULT_ITEMS,
    publish: bool = False,
) -> PlanVersion:
    version = plan_version_create(
        plan=plan or make_plan(),
        base_price_cents=base_price_cents,
        currency=currency,
        items=items,
        actor=ACTOR,
    )
    if publish:
        plan_version_publish(version=version, actor=ACTOR)
        version.refresh_from_db()
    return version


def make_addon(
    code: str | None = None,
    *,
    resource_kind: str = "spaces_gb_month",
    qty: str | int = 50,
    price_cents: int = 750,
    currency: str = "AUD",
    is_active: bool = True,
) -> Addon:
    return addon_create(
        code=code or f"addon-{next(_codes)}",
        name="An add-on",
        resource_kind=resource_kind,
        qty=Decimal(qty),
        price_cents=price_cents,
        currency=currency,
        is_active=is_active,
    )
