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
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from catalog.models import ResourcePrice
from catalog.selectors import (
    SizePricer,
    plan_terms_by_version_id,
    plan_version_ids,
    resource_price_book,
)
from deployments.selectors import (
    SegmentTerms,
    addon_snapshot_terms,
    pricing_subjects_active_between,
    segment_terms,
    subscription_days,
)
from invoicing.credit_notes.selectors import credit_available
from invoicing.invoices.late_usage import late_usage_claims
from invoicing.usage.selectors import (
    SizedUsage,
    passthrough_llm_charges,
    usage_for_deployments,
    usage_with_sizes,
)
from pricing.credit import CreditAvailable
from pricing.engine import PlanTerms, SizeUsage
from pricing.invoice import (
    LINE_QTY_PLACES,
    LLMCharges,
    Month,
    PricingSubject,
    Segment,
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
    """The day whose list prices price `subject`'s month: the first day it is billed in it (its
    start, or the day after its trial)."""
    first = subject.bills_from or subject.started_on
    if first is not None and first > month.start:
        return first
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
    reprice_as: Mapping[int, int] | None = None,
    price_in_force: ResourcePrice | None = None,
) -> PricingInputs:
    """Everything pricing `subjects` over the month starting `month` needs, usage counted from
    its first day through `through` (default: its last day; live accrual passes today).

    `late_usage_of` adds the late usage of earlier invoiced months the month's invoice carries:
    `ALL_TENANTS`, or the tenants to read it for; None (a quote) reads none.

    `credit_of` likewise adds the credit of the tenants' adjustment notes not yet consumed by
    another invoice (the month's own invoice, being regenerated, excepted).

    `reprice_as` ({version id: version id}) prices the subscriptions bound to a version under
    another version's terms, as moving them would (`subscription_change_plan_version`: the
    version and the open segment): re-rating a draft version (analytics.rerating). The late
    usage of earlier months keeps the terms its invoices named.

    `price_in_force` (a resource price, typically a pending change) prices the month as if it
    had been in force all month, in place of the prices of its kind, currency and size scope
    (`ResourcePriceBook.with_price_in_force`): re-rating a pending price change.
    """
    period = Month.of(month)
    through = period.end if through is None else through
    subscriptions = _subscription_inputs(
        subjects, period, through, reprice_as or {}, price_in_force
    )
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
    subjects: Sequence[PricingSubject],
    month: Month,
    through: dt.date,
    reprice_as: Mapping[int, int] | None = None,
    price_in_force: ResourcePrice | None = None,
) -> tuple[SubscriptionInputs, ...]:
    """Each subject's inputs for the month: plan terms (two queries), snapshotted add-ons (one),
    usage (one), LLM charges with their currency (one), the price book (one). A subject with
    segments or a trial gives one input per segment of its billed days (`_pieces`): its
    segments (one query) and the usage of each distinct span of days (two queries a span)."""
    if not subjects:
        return ()
    if reprice_as:
        subjects = [_repriced(subject, reprice_as) for subject in subjects]
    segmented = [s.subscription_id for s in subjects if s.segmented and s.subscription_id]
    segments = segment_terms(segmented, month.start, month.end) if segmented else {}
    if reprice_as:
        segments = {
            pk: [_repriced_segment(segment, reprice_as) for segment in found]
            for pk, found in segments.items()
        }
    plans = {s.plan_version_id: s.plan for s in subjects if s.plan is not None}
    plans |= plan_terms_by_version_id(
        [subject.plan_version_id for subject in subjects if subject.plan is None]
        + [segment.plan_version_id for found in segments.values() for segment in found]
    )
    snapshots = addon_snapshot_terms(
        subject.subscription_id
        for subject in subjects
        if subject.addons is None and subject.subscription_id is not None
    )
    pieces = [
        _pieces(subject, segments.get(subject.subscription_id), month) for subject in subjects
    ]
    whole = [
        s.deployment_id
        for s, found in zip(subjects, pieces, strict=True)
        if s.deployment_id is not None and found is None
    ]
    with_sizes = usage_with_sizes(whole, month.start, through)
    usage = {pk: totals for pk, (totals, _) in with_sizes.items()}
    llm = passthrough_llm_charges(whole, month.start, through)
    spans = _span_usage(subjects, pieces, through)
    book = resource_price_book(
        currencies={plan.currency for plan in plans.values()}, start=month.start, end=month.end
    )
    if price_in_force is not None:
        book = book.with_price_in_force(price_in_force, start=month.start, end=month.end)
    pricer = SizePricer(book, start=month.start, end=month.end)
    inputs = []
    for subject, found in zip(subjects, pieces, strict=True):
        day = prices_on(subject, month)
        if found is None:
            plan = plans[subject.plan_version_id]
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
                    sized_usage=sized_usage(
                        pricer, plan, with_sizes.get(subject.deployment_id, ({}, {}))[1], day
                    ),
                )
            )
            continue
        for piece in found:
            plan = plans[piece.plan_version_id]
            span_usage, span_llm, span_sizes = spans[
                (subject.deployment_id, *_usage_span(piece, through))
            ]
            addons = piece.addons
            if addons is None:
                addons = (
                    subject.addons
                    if subject.addons is not None
                    else snapshots.get(subject.subscription_id, ())
                )
            segment = piece.segment
            inputs.append(
                SubscriptionInputs(
                    subject=replace(subject, plan_version_id=piece.plan_version_id),
                    plan=plan,
                    addons=addons,
                    starts_on=segment.first_day if segment.first_day > month.start else None,
                    ends_on=segment.last_day if segment.last_day < month.end else None,
                    usage=span_usage,
                    llm=span_llm,
                    resource_prices=book.terms_on(day, plan.currency),
                    prices_on=day,
                    segment=segment,
                    sized_usage=sized_usage(pricer, plan, span_sizes, day),
                )
            )
    return tuple(inputs)


def _repriced(subject: PricingSubject, reprice_as: Mapping[int, int]) -> PricingSubject:
    version_id = reprice_as.get(subject.plan_version_id)
    if version_id is None:
        return subject
    return replace(subject, plan_version_id=version_id, plan=None)


def _repriced_segment(segment: SegmentTerms, reprice_as: Mapping[int, int]) -> SegmentTerms:
    """The open segment moves with the subscription; closed ones keep their version."""
    version_id = reprice_as.get(segment.plan_version_id)
    if version_id is None or segment.ends_on is not None:
        return segment
    return replace(segment, plan_version_id=version_id)


@dataclass(frozen=True)
class _Piece:
    """One segment of a subject's billed days in the month: its version, its add-ons (None: the
    subscription's own snapshots), and its days; `usage_last` is the last day its usage is
    counted through (a cancelled subscription's usage is counted to the month end, as always)."""

    plan_version_id: int
    addons: tuple | None
    segment: Segment
    usage_last: dt.date


def _pieces(
    subject: PricingSubject, segments: list[SegmentTerms] | None, month: Month
) -> list[_Piece] | None:
    """The segments of `subject`'s billed days in the month, or None when it is priced whole
    (no segments, no trial: today's rule, usage of the whole month)."""
    if not segments and subject.bills_from is None:
        return None
    first = max(month.start, subject.bills_from or subject.started_on or month.start)
    cancelled = subject.cancelled_on
    last_billed = month.end if cancelled is None else min(month.end, cancelled)
    spans = (
        [(s.plan_version_id, s.addons, s.starts_on, s.ends_on) for s in segments]
        if segments
        else [(subject.plan_version_id, None, month.start, None)]
    )
    kept = []
    for version_id, addons, starts_on, ends_on in spans:
        lo = max(first, starts_on)
        hi = month.end if ends_on is None else min(month.end, ends_on)
        if min(hi, last_billed) < lo:
            continue
        kept.append((version_id, addons, lo, min(hi, last_billed), hi))
    days = (month.end - month.start).days + 1
    return [
        _Piece(
            plan_version_id=version_id,
            addons=addons,
            segment=Segment(
                index=index,
                count=len(kept),
                first_day=lo,
                last_day=hi,
                days_in_month=days,
            ),
            usage_last=usage_last,
        )
        for index, (version_id, addons, lo, hi, usage_last) in enumerate(kept, start=1)
    ]


def _usage_span(piece: _Piece, through: dt.date) -> tuple[dt.date, dt.date]:
    return piece.segment.first_day, min(piece.usage_last, through)


def _span_usage(
    subjects: Sequence[PricingSubject], pieces: Sequence[list[_Piece] | None], through: dt.date
) -> dict[tuple, tuple[dict, object]]:
    """{(deployment, first day, last day): (usage, LLM charges)} of every segment's days: one
    usage and one LLM query per distinct span (segments of one month share few spans)."""
    wanted: dict[tuple[dt.date, dt.date], set[int]] = defaultdict(set)
    for subject, found in zip(subjects, pieces, strict=True):
        for piece in found or ():
            wanted[_usage_span(piece, through)].add(subject.deployment_id)
    result: dict[tuple, tuple[dict, object, SizedUsage]] = {}
    for (start, end), ids in sorted(wanted.items()):
        known = sorted(pk for pk in ids if pk is not None)
        usage = usage_with_sizes(known, start, end) if end >= start else {}
        llm = passthrough_llm_charges(known, start, end) if end >= start else {}
        for pk in ids:
            totals, sized = usage.get(pk, ({}, {}))
            result[(pk, start, end)] = (totals, llm.get(pk), sized)
    return result


def sized_usage(
    pricer: SizePricer, plan: PlanTerms, sized: SizedUsage, day: dt.date
) -> tuple[SizeUsage, ...]:
    """The usage of the kinds priced size by size (issue 18) — a kind with a size-scoped or
    cost-plus price in the plan's currency, or whose plan item covers only some sizes — split
    by size, each size with its most specific price on `day` (`catalog.selectors.SizePricer`).
    A kind DigitalOcean prices flat (volumes, IPs...) is one entry of slug "". Other kinds are
    priced from their totals, as before."""
    kinds = pricer.size_priced_kinds(plan.currency) | {
        item.resource_kind for item in plan.items if item.size_limited
    }
    entries = []
    for kind in sorted(kinds & set(sized)):
        by_slug: dict[str, Decimal] = defaultdict(Decimal)
        for slug, qty in sized[kind].items():
            by_slug[pricer.slug_for(kind, slug)] += qty
        for slug, qty in sorted(by_slug.items()):
            found = pricer.price(kind, slug, day, plan.currency)
            entries.append(
                SizeUsage(
                    resource_kind=kind,
                    size_slug=slug,
                    qty=qty,
                    price=found.terms,
                    memory_mb=found.memory_mb,
                    unpriced_reason=found.reason,
                )
            )
    return tuple(entries)


def with_projected_usage(
    inputs: SubscriptionInputs,
    usage: Mapping[str, Decimal],
    sized: SizedUsage | None = None,
    *,
    month: Month,
) -> SubscriptionInputs:
    """A subscription's inputs with projected usage (a quote): totals per kind, and optionally
    per size — priced size by size exactly as the invoice prices metered usage of that split
    (the same `sized_usage`)."""
    if not sized:
        return replace(inputs, usage=usage, sized_usage=())
    book = resource_price_book(currencies=[inputs.plan.currency], start=month.start, end=month.end)
    pricer = SizePricer(book, start=month.start, end=month.end)
    return replace(
        inputs,
        usage=usage,
        sized_usage=sized_usage(pricer, inputs.plan, sized, inputs.prices_on),
    )


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
    by_month: dict[dt.date, list[LateClaim]] = defaultdict(list)
    for claim in claims:
        by_month[claim.month.start].append(claim)

    sources: dict[str, list[LateSource]] = defaultdict(list)
    for _, month_claims in sorted(by_month.items()):
        month = month_claims[0].month
        # The subscriptions as that month's pricing took them (segments, a trial's first
        # billed day): one query per earlier month.
        as_priced = {
            subject.subscription_id: subject
            for subject in pricing_subjects_active_between(
                month.start, month.end, tenant_ids=sorted({c.tenant_id for c in month_claims})
            )
        }
        subjects = {
            claim.deployment_id: _late_subject(
                claim, version_ids, days, as_priced.get(claim.subscription_id)
            )
            for claim in month_claims
        }
        pieces: dict[int | None, list[SubscriptionInputs]] = defaultdict(list)
        for item in _subscription_inputs(
            [subject for subject in subjects.values() if subject is not None], month, month.end
        ):
            pieces[item.subject.deployment_id].append(item)
        recorded = _recorded_without_plan(
            [claim for claim in month_claims if subjects[claim.deployment_id] is None], month
        )
        for claim in month_claims:
            found = pieces.get(claim.deployment_id, []) if subjects[claim.deployment_id] else []
            if not found:
                usage, llm = recorded[claim.deployment_id]
                source = LateSource(claim=claim, inputs=None, usage=usage, llm=llm)
            elif len(found) == 1 and found[0].segment is None:
                whole = found[0]
                source = LateSource(claim=claim, inputs=whole, usage=whole.usage, llm=whole.llm)
            else:
                source = LateSource(
                    claim=claim,
                    inputs=found[-1],
                    usage=_added(piece.usage for piece in found),
                    llm=_llm_added(piece.llm for piece in found),
                    pieces=tuple(found),
                )
            sources[claim.tenant_id].append(source)
    return {tenant_id: tuple(found) for tenant_id, found in sorted(sources.items())}


def _added(usages: Iterable[Mapping[str, Decimal]]) -> dict[str, Decimal]:
    total: dict[str, Decimal] = defaultdict(Decimal)
    for usage in usages:
        for kind, qty in usage.items():
            total[kind] += qty
    return dict(total)


def _llm_added(charges: Iterable[LLMCharges | None]) -> LLMCharges | None:
    """The pieces' passthrough charges as one (they are summed exactly and rounded once, as
    the month's invoice billed them)."""
    found = [charge for charge in charges if charge is not None]
    if not found:
        return None
    return replace(found[-1], total=sum((charge.total for charge in found), Decimal(0)))


def _late_subject(
    claim: LateClaim,
    version_ids: dict[tuple[str, int], int],
    days: dict[int, tuple[dt.date, dt.date | None]],
    as_priced: PricingSubject | None = None,
) -> PricingSubject | None:
    """The subscription as the claim's invoice priced it; None when the invoice names no plan
    version that exists (a line written by hand): its metered usage cannot be re-priced.

    A month its invoice priced in segments (a plan or add-on change) or from a trial's end
    (`as_priced`: the subscription as that month's pricing took it) is re-priced the same way:
    the segments' own terms (they never change once a month is invoiced) and the first billed
    day, so neither the split nor the trial's days read as late usage."""
    version_id = version_ids.get(claim.plan) if claim.plan is not None else None
    if version_id is None:
        return None
    if as_priced is not None and (as_priced.segmented or as_priced.bills_from is not None):
        if as_priced.segmented:
            return replace(as_priced, deployment_slug=claim.deployment_slug)
        return replace(
            as_priced,
            plan_version_id=version_id,
            plan=None,
            addons=claim.addons,
            deployment_slug=claim.deployment_slug,
        )
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
