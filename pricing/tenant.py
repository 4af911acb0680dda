"""One tenant's invoice for a month: its subscriptions, its late usage, one tax line."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from pricing.credit import CreditAvailable, credit_lines
from pricing.invoice import (
    Month,
    PricedLine,
    PricingError,
    SubscriptionInputs,
    TaxTerms,
    TenantPrice,
    price_subscription,
    tax_line,
)
from pricing.late import LateSource, late_usage_lines


def price_tenant(
    tenant_id: str,
    subscriptions: Sequence[SubscriptionInputs],
    month: Month,
    tax_terms: TaxTerms,
    late: Sequence[LateSource] = (),
    credits: Sequence[CreditAvailable] = (),
) -> TenantPrice:
    """The tenant's invoice for the month, priced but not written.

    Per subscription (in the order given: deployment order): its lines (`price_subscription`);
    then the late usage of earlier, already invoiced months (`pricing.late.late_usage_lines`);
    last, the tax line on the subtotal of all of them. A tenant with late usage only (no
    subscription this month) is invoiced for it in the currency of the months it belongs to.
    """
    currency = _invoice_currency(tenant_id, subscriptions, late)
    lines: list[PricedLine] = []
    warnings: list[str] = []
    for inputs in subscriptions:
        priced = price_subscription(inputs, month)
        lines.extend(priced.lines)
        warnings.extend(priced.warnings)
    late_lines, late_warnings = late_usage_lines(late, currency=currency)
    lines.extend(late_lines)
    warnings.extend(late_warnings)
    subtotal = sum(line.amount_cents for line in lines)
    tax = tax_line(subtotal, tax_terms)
    credit = credit_lines(credits, currency=currency, total_cents=subtotal + tax.amount_cents)
    return TenantPrice(
        tenant_id=tenant_id,
        currency=currency,
        lines=(*lines, tax, *credit),
        subtotal_cents=subtotal,
        tax_cents=tax.amount_cents,
        credit_cents=-sum(line.amount_cents for line in credit),
        subscription_ids=tuple(
            inputs.subject.subscription_id
            for inputs in subscriptions
            if inputs.subject.subscription_id is not None
        ),
        warnings=tuple(warnings),
    )


def _invoice_currency(
    tenant_id: str, subscriptions: Sequence[SubscriptionInputs], late: Sequence[LateSource]
) -> str:
    """The one currency of the tenant's plans (without any, of its late usage). Amounts in two
    currencies are never added, so a tenant whose subscriptions bill in several cannot be
    invoiced until an operator moves them to plan versions of one currency."""
    deployments: dict[str, list[str]] = defaultdict(list)
    for inputs in subscriptions:
        deployments[inputs.currency].append(inputs.label)
    if not subscriptions:
        for source in late:
            deployments[source.claim.currency].append(source.claim.deployment_slug)
    if len(deployments) == 1:
        return next(iter(deployments))
    if not deployments:
        raise PricingError(f"tenant {tenant_id} has nothing to price in the month")
    detail = "; ".join(
        f"{currency}: {', '.join(sorted(slugs))}" for currency, slugs in sorted(deployments.items())
    )
    raise PricingError(
        f"tenant {tenant_id} has subscriptions in {len(deployments)} currencies ({detail}); an "
        "invoice holds one currency: move them to plan versions of one currency and run the "
        "rollup again"
    )
