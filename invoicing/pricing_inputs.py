"""The one loader of pricing inputs: everything pricing a set of subscriptions over a month needs,
read in bulk, for the quote preview, the month-end rollup and live accrual alike.

`load_pricing_inputs(subjects, month=..., through=...)` reads, in a fixed number of queries
whatever the number of subscriptions, usage rows or tenants:

- the plan terms of every plan version the subjects are bound to (versions, items);
- the SNAPSHOTTED add-ons of every subscription (a quote brings the live catalog's);
- the metered usage of every deployment from the month's first day through `through`;
- the passthrough LLM charges and their currency;
- the fallback resource prices, by ONE rule for which day's prices apply (below);
- the tax terms from settings;
- on request, the late usage of earlier invoiced months each tenant's invoice will carry,
  each of those months read by the same path with its own invoice's terms;
- on request, the credit each tenant's adjustment notes still have to give (consumed after
  tax by `pricing.credit`, through `pricing.tenant.price_tenant`).

The kernel prices what this returns (`pricing.invoice.price_subscription`,
`pricing.tenant.price_tenant`); the callers do nothing else.

**The price-date rule** (docs/decisions.md, Money and pricing): a subscription's month is priced
with the list prices in force on the first day it is billed in that month — its start day when
it starts inside the month, else the 1st. So a quote for a start on day D prices what the
invoice for that month will charge, whatever list price changed before or after D, and a
mid-month price change applies to subscribers from their next month.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from catalog.selectors import plan_terms_by_version_id, plan_version_ids, resource_price_book
from deployments.selectors import addon_snapshot_terms, subscription_days
from invoicing.credit_notes.selectors import credit_available
from invoicing.invoices.late_usage import late_usage_claims
from invoicing.usage.selectors import passthrough_llm_charges, usage_for_deployments
from pricing.credit import CreditAvailable
from pricing.invoice import (
    LINE_QTY_PLACES,
    Month,
    PricingSubject,
    SubscriptionInputs,
    TaxTerms,
    TenantPrice,
)
from pricing.late import LateClaim, LateSource
from pricing.tenant import price_tenant

ALL_TENANTS = "all"


def tax_terms() -> TaxTerms:
    """INVOICE_TAX_RATE and INVOICE_TAX_LABEL from settings, checked once per load: a bad
    setting must stop the whole run, not fail every tenant one by one."""
    raw = settings.INVOICE_TAX_RATE
    try:
        rate = Decimal(str(raw).strip())
    except InvalidOperation:
        raise ImproperlyConfigured(f"INVOICE_TAX_RATE {raw!r} is not a decimal number") from None
    if not (rate.is_finite() and 0 <= rate < 1) or rate != rate.quantize(LINE_QTY_PLACES):
        raise ImproperlyConfigured(
            f"INVOICE_TAX_RATE {raw!r} must be a fraction in [0, 1) with at most 9 decimal "
            "places, e.g. 0.10 for 10%"
        )
    return TaxTerms(rate=rate, label=str(settings.INVOICE_TAX_LABEL).strip() or "Tax")


def prices_on(subject: PricingSubject, month: Month) -> dt.date:
    """The day whose list prices price `subject`'s month: the first day it is billed in it."""
    if subject.started_on is not None and subject.started_on > month.start:
        return subject.started_on
    return month.start


@dataclass(frozen=True)
class PricingInputs:
    """What pricing a month needs, as loaded: each subscription's inputs (in subject order), the
    late usage each tenant's invoice carries, the tax terms, and the credit each tenant has."""

    month: Month
    through: dt.date
    tax: TaxTerms
    subscriptions: tuple[SubscriptionInputs, ...]
    late: dict[str, tuple[LateSource, ...]]
    credits: dict[str, tuple[CreditAvailable, ...]] = field(default_factory=dict)

    def tenant_ids(self) -> list[str]:
        """Every tenant with something to price: a subscription, or late usage."""
        return sorted({inputs.subject.tenant_id for inputs in self.subscriptions} | set(self.late))

    def subscriptions_of(self, tenant_id: str) -> list[SubscriptionInputs]:
        return [inputs for inputs in self.subscriptions if inputs.subject.tenant_id == tenant_id]

    def price_tenant(self, tenant_id: str) -> TenantPrice:
        """The tenant's invoice for the month (`pricing.tenant.price_tenant`)."""
        return price_tenant(
            tenant_id,
            self.subscriptions_of(tenant_id),
            self.month,
            self.tax,
            self.late.get(tenant_id, ()),
            self.credits.get(tenant_id, ()),
        )


def load_pricing_inputs(
    subjects: Sequence[PricingSubject],
    *,
    month: dt.date,
    through: dt.date | None = None,
    late_usage_of: Collection[str] | str | None = None,
    credit_of: Collection[str] | str | None = None,
) -> PricingInputs:
    """Everything pricing `subjects` over the month starting `month` needs, usage counted from
    its first day through `through` (default: its last day; live accrual passes today).

    `late_usage_of` adds the late usage of earlier invoiced months the month's invoice carries:
    `ALL_TENANTS`, or the tenants to read it for; None (a quote) reads none.

    `credit_of` likewise adds the credit of the tenants' adjustment notes not yet consumed by
    another invoice (the month's own invoice, being regenerated, excepted).
    """
    period = Month.of(month)
    through = period.end if through is None else through
    subscriptions = _subscription_inputs(subjects, period, through)
    late: dict[str, tuple[LateSource, ...]] = {}
    if late_usage_of is not None:
        wanted = None if late_usage_of == ALL_TENANTS else sorted(late_usage_of)
        late = _late_sources(late_usage_claims(period.start, tenant_ids=wanted))
    credits: dict[str, tuple[CreditAvailable, ...]] = {}
    if credit_of is not None:
        wanted = None if credit_of == ALL_TENANTS else sorted(credit_of)
        credits = credit_available(wanted, except_period_start=period.start)
    return PricingInputs(
        month=period,
        through=through,
        tax=tax_terms(),
        subscriptions=subscriptions,
        late=late,
        credits=credits,
    )


def _subscription_inputs(
    subjects: Sequence[PricingSubject], month: Month, through: dt.date
) -> tuple[SubscriptionInputs, ...]:
    """Each subject's inputs for the month: plan terms (two queries), snapshotted add-ons (one),
    usage (one), LLM charges with their currency (one), the price book (one)."""
    if not subjects:
        return ()
    plans = {s.plan_version_id: s.plan for s in subjects if s.plan is not None}
    plans |= plan_terms_by_version_id(
        subject.plan_version_id for subject in subjects if subject.plan is None
    )
    snapshots = addon_snapshot_terms(
        subject.subscription_id
        for subject in subjects
        if subject.addons is None and subject.subscription_id is not None
    )
    deployment_ids = [s.deployment_id for s in subjects if s.deployment_id is not None]
    usage = usage_for_deployments(deployment_ids, month.start, through)
    llm = passthrough_llm_charges(deployment_ids, month.start, through)
    book = resource_price_book(
        currencies={plan.currency for plan in plans.values()}, start=month.start, end=month.end
    )
    inputs = []
    for subject in subjects:
        plan = plans[subject.plan_version_id]
        day = prices_on(subject, month)
        inputs.append(
            SubscriptionInputs(
                subject=subject,
                plan=plan,
                addons=(
                    subject.addons
                    if subject.addons is not None
                    else snapshots.get(subject.subscription_id, ())
                ),
                starts_on=subject.started_on if day > month.start else None,
                ends_on=_ends_on(subject, month),
                usage=usage.get(subject.deployment_id, {}),
                llm=llm.get(subject.deployment_id),
                resource_prices=book.terms_on(day, plan.currency),
                prices_on=day,
            )
        )
    return tuple(inputs)


def _ends_on(subject: PricingSubject, month: Month) -> dt.date | None:
    """The cancellation day when it falls inside the month (that day is billed)."""
    cancelled_on = subject.cancelled_on
    return cancelled_on if cancelled_on is not None and cancelled_on < month.end else None


def _late_sources(claims: Iterable[LateClaim]) -> dict[str, tuple[LateSource, ...]]:
    """Each claim with its month's inputs read the way every month is read — the version its
    invoice named, the add-ons its lines name, the subscription's own days for the price-date
    rule — by month: a fixed number of queries per earlier month (at most the horizon's few)."""
    claims = list(claims)
    if not claims:
        return {}
    version_ids = plan_version_ids(claim.plan for claim in claims if claim.plan is not None)
    days = subscription_days(c.subscription_id for c in claims if c.subscription_id is not None)
    by_month: dict[dt.date, list[tuple[LateClaim, PricingSubject | None]]] = defaultdict(list)
    for claim in claims:
        by_month[claim.month.start].append((claim, _late_subject(claim, version_ids, days)))

    sources: dict[str, list[LateSource]] = defaultdict(list)
    for _, month_claims in sorted(by_month.items()):
        month = month_claims[0][0].month
        subjects = [subject for _, subject in month_claims if subject is not None]
        inputs = iter(_subscription_inputs(subjects, month, month.end))
        recorded = _recorded_without_plan(
            [claim for claim, subject in month_claims if subject is None], month
        )
        for claim, subject in month_claims:
            month_inputs = next(inputs) if subject is not None else None
            usage, llm = (
                (month_inputs.usage, month_inputs.llm)
                if month_inputs is not None
                else recorded[claim.deployment_id]
            )
            sources[claim.tenant_id].append(
                LateSource(claim=claim, inputs=month_inputs, usage=usage, llm=llm)
            )
    return {tenant_id: tuple(found) for tenant_id, found in sorted(sources.items())}


def _late_subject(
    claim: LateClaim,
    version_ids: dict[tuple[str, int], int],
    days: dict[int, tuple[dt.date, dt.date | None]],
) -> PricingSubject | None:
    """The subscription as the claim's invoice priced it; None when the invoice names no plan
    version that exists (a line written by hand): its metered usage cannot be re-priced."""
    version_id = version_ids.get(claim.plan) if claim.plan is not None else None
    if version_id is None:
        return None
    started_on, cancelled_on = days.get(claim.subscription_id, (None, None))
    return PricingSubject(
        tenant_id=claim.tenant_id,
        plan_version_id=version_id,
        subscription_id=claim.subscription_id,
        addons=claim.addons,
        deployment_id=claim.deployment_id,
        deployment_slug=claim.deployment_slug,
        started_on=started_on,
        cancelled_on=cancelled_on,
    )


def _recorded_without_plan(claims: Sequence[LateClaim], month: Month) -> dict[int, tuple]:
    """Usage and LLM charges of the claims with no plan to re-price them with (their passthrough
    charges are still billed): two queries, none when there are no such claims."""
    ids = [claim.deployment_id for claim in claims]
    if not ids:
        return {}
    usage = usage_for_deployments(ids, month.start, month.end)
    llm = passthrough_llm_charges(ids, month.start, month.end)
    return {pk: (usage.get(pk, {}), llm.get(pk)) for pk in ids}
