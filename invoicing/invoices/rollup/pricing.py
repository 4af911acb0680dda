"""Pricing a tenant's month for the rollup: the kernel's `price_tenant` on the loaded inputs,
and the late usage of earlier months each invoice carries (read again, for a tenant that owes
some, under its late-usage lock: two rollups of different months bill it once between them)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from catalog.models import ResourcePrice
from invoicing.credit_notes.selectors import tenants_with_credit_notes
from invoicing.pricing_inputs import ALL_TENANTS, PricingInputs, load_pricing_inputs
from pricing.credit import CreditAvailable
from pricing.engine import QuoteInputError
from pricing.invoice import Month, PricingError, PricingSubject
from pricing.late import LateSource, late_usage_lines
from pricing.tenant import TenantPrice, price_tenant


def load(
    month: Month,
    subjects: Mapping[str, Sequence[PricingSubject]],
    tenant_ids: Sequence[str],
    *,
    settled: bool = False,
    reprice_as: Mapping[int, int] | None = None,
    price_in_force: ResourcePrice | None = None,
) -> PricingInputs:
    """Everything pricing these tenants' month needs, read in bulk once for the run.

    The rollup reads each tenant's late usage and credit again under its locks; a preview that
    writes nothing (re-rating a draft version, `analytics.rerating`) passes `settled` to read
    them here, in bulk, as they stand, and `reprice_as` to price a version's subscribers under
    another version's terms (or `price_in_force`, a pending resource price, as if in force).
    Both then price each tenant with `price`: one pricing path."""
    wanted = list(tenant_ids)
    return load_pricing_inputs(
        [subject for tenant_id in wanted for subject in subjects.get(tenant_id, ())],
        month=month.start,
        late_usage_of=wanted if settled else None,
        credit_of=wanted if settled else None,
        reprice_as=reprice_as,
        price_in_force=price_in_force,
    )


def price(
    inputs: PricingInputs,
    tenant_id: str,
    late: Sequence[LateSource] = (),
    credits: Sequence[CreditAvailable] = (),
) -> TenantPrice:
    """The tenant's invoice for the month, priced but not written."""
    return price_tenant(
        tenant_id, inputs.subscriptions_of(tenant_id), inputs.month, inputs.tax, late, credits
    )


def credit_now(month: Month, tenant_id: str) -> tuple[CreditAvailable, ...]:
    """The tenant's unconsumed adjustment-note credit right now (call it under the lock)."""
    return load_pricing_inputs([], month=month.start, credit_of=[tenant_id]).credits.get(
        tenant_id, ()
    )


def tenants_with_credit(tenant_ids: list[str] | None) -> set[str]:
    """Tenants that may have adjustment-note credit left (any crediting note), read once for
    the run in one query; what is left is read under each one's credit lock."""
    return tenants_with_credit_notes(tenant_ids)


def late_usage_now(month: Month, tenant_id: str) -> tuple[LateSource, ...]:
    """The tenant's late usage as recorded and billed right now (call it under the lock)."""
    return load_pricing_inputs([], month=month.start, late_usage_of=[tenant_id]).late.get(
        tenant_id, ()
    )


def owes(late: Sequence[LateSource]) -> bool:
    """Whether these sources make any late line (one that cannot be priced counts: the tenant's
    pricing reports why)."""
    try:
        return bool(late_usage_lines(late)[0])
    except (PricingError, QuoteInputError):
        return True


def tenants_owing_late_usage(month: Month, tenant_ids: list[str] | None) -> set[str]:
    """Tenants whose invoice for the month will carry late usage of earlier months, read once
    for the run, in bulk."""
    scope = ALL_TENANTS if tenant_ids is None else tenant_ids
    late = load_pricing_inputs([], month=month.start, late_usage_of=scope).late
    return {tenant_id for tenant_id, sources in late.items() if owes(sources)}
