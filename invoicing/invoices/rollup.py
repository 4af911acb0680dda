"""Month-end rollup (SPEC §13): one invoice per tenant for a calendar month, priced by the quote
engine — the same function the price preview and live accrual call, so an invoice can never
disagree with a quote.

How a period is rolled up:

1. the subscriptions active on at least one day of the month, grouped by tenant, and the
   tenants owed late usage of earlier, already invoiced months (`late_usage`: read in bulk,
   then again for each such tenant under its late-usage lock, so it is billed once);
2. tenants that already have an invoice for the month are skipped (with `force`, only their
   DRAFT is regenerated; issued, paid and void invoices are left alone and reported);
3. everything the remaining tenants' pricing needs is read in bulk, once: metered usage of
   every deployment (ONE `usage_for_deployments` call), their exact passthrough LLM charges and
   the fallback resource prices once per currency;
4. per tenant, the quote engine prices each subscription: its prorated recurring lines
   (`first_invoice`) and its overage and list-priced usage lines; passthrough deployments add
   one `llm_usage` line (charges summed exactly, rounded to a cent ONCE); the late usage lines
   follow, each naming the month it belongs to; one tenant-level tax line comes last
   (`INVOICE_TAX_RATE` x subtotal, half-up);
5. per tenant, ONE transaction writes the invoice, its lines (one COPY) and its event,
   under the (tenant, period) advisory lock, so concurrent rollups write one invoice, never two.

A tenant that cannot be invoiced (subscriptions in two currencies, LLM charges in another
currency, any unexpected error) is reported in the RollupReport with the reason and logged; its
transaction rolls back whole and the other tenants carry on. The next run retries it.

Queries grow with the number of tenants (a handful each, to write), never with the number of
lines or usage rows.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.utils import timezone

from arcadia_cloud.bulk import bulk_insert
from arcadia_cloud.errors import field_error
from arcadia_cloud.money import format_decimal, round_cents
from arcadia_cloud.periods import month_end
from catalog.selectors import resource_price_terms
from deployments.models import Subscription
from deployments.selectors import subscription_pricing_terms, subscriptions_active_between
from invoicing.invoices.drafts import (
    CENTS_PER_UNIT,
    LINE_QTY_PLACES,
    LLM_RESOURCE_KIND,
    LineDraft,
    Period,
    RollupError,
)
from invoicing.invoices.late_usage import LateSource, late_usage_lines, late_usage_sources
from invoicing.invoices.locks import lock_period_invoice, lock_tenant_late_usage, lock_tenant_period
from invoicing.models import (
    InvoiceEventType,
    InvoiceLineKind,
    InvoiceStatus,
    TenantInvoice,
    TenantInvoiceEvent,
    TenantInvoiceLine,
)
from invoicing.usage.selectors import (
    llm_charge_currencies,
    llm_charges_for_deployments,
    usage_for_deployments,
)
from pricing.engine import QuoteInputError, QuoteLine, ResourcePriceTerms, quote
from pricing.kinds import BILLING_KINDS

logger = logging.getLogger(__name__)

LINE_BATCH_SIZE = 1000
TAX_UNIT = "rate"


# Errors about the run, not the tenant: the database went away (or chose us as a deadlock
# victim) or the task ran out of time. Every later tenant would fail the same way, so the run
# stops instead (the Celery task retries database errors); any re-run skips the tenants already
# written.
RUN_ERRORS = (OperationalError, InterfaceError, SoftTimeLimitExceeded)


class RollupOutcome(enum.StrEnum):
    INVOICED = "invoiced"  # a new draft invoice was written
    REGENERATED = "regenerated"  # force: the existing draft was rewritten
    SKIPPED = "skipped"  # an invoice already exists (no force)
    LEFT_ALONE = "left_alone"  # force, but the invoice is issued, paid or void
    FAILED = "failed"  # nothing written; see the reason; the next run retries
    NOTHING_TO_BILL = "nothing_to_bill"  # a tenant asked for has no subscription in the period


WRITTEN = (RollupOutcome.INVOICED, RollupOutcome.REGENERATED)


# ---------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TenantResult:
    """What the rollup did for one tenant; amounts are those of the invoice it found or wrote."""

    tenant_id: str
    outcome: RollupOutcome
    invoice_id: int | None = None
    invoice_status: str | None = None
    currency: str | None = None
    subtotal_cents: int | None = None
    tax_cents: int | None = None
    total_cents: int | None = None
    reason: str = ""
    warnings: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "outcome": str(self.outcome),
            "invoice_id": self.invoice_id,
            "invoice_status": self.invoice_status,
            "currency": self.currency,
            "subtotal_cents": self.subtotal_cents,
            "tax_cents": self.tax_cents,
            "total_cents": self.total_cents,
            "reason": self.reason,
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class CurrencyTotals:
    currency: str
    invoices: int
    subtotal_cents: int
    tax_cents: int
    total_cents: int


@dataclass(frozen=True)
class RollupReport:
    period_start: dt.date
    period_end: dt.date
    force: bool
    results: tuple[TenantResult, ...]

    def with_outcome(self, outcome: RollupOutcome) -> tuple[TenantResult, ...]:
        return tuple(result for result in self.results if result.outcome == outcome)

    @property
    def invoiced(self) -> tuple[TenantResult, ...]:
        return self.with_outcome(RollupOutcome.INVOICED)

    @property
    def regenerated(self) -> tuple[TenantResult, ...]:
        return self.with_outcome(RollupOutcome.REGENERATED)

    @property
    def skipped(self) -> tuple[TenantResult, ...]:
        return self.with_outcome(RollupOutcome.SKIPPED)

    @property
    def left_alone(self) -> tuple[TenantResult, ...]:
        return self.with_outcome(RollupOutcome.LEFT_ALONE)

    @property
    def failed(self) -> tuple[TenantResult, ...]:
        return self.with_outcome(RollupOutcome.FAILED)

    @property
    def nothing_to_bill(self) -> tuple[TenantResult, ...]:
        return self.with_outcome(RollupOutcome.NOTHING_TO_BILL)

    def totals_by_currency(self) -> tuple[CurrencyTotals, ...]:
        """Totals of the invoices this run wrote (invoiced and regenerated), per currency."""
        sums: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        for result in self.results:
            if result.outcome in WRITTEN and result.currency:
                entry = sums[result.currency]
                entry[0] += 1
                entry[1] += result.subtotal_cents or 0
                entry[2] += result.tax_cents or 0
                entry[3] += result.total_cents or 0
        return tuple(CurrencyTotals(currency, *values) for currency, values in sorted(sums.items()))

    def summary(self) -> str:
        counts = ", ".join(
            f"{len(self.with_outcome(outcome))} {outcome.replace('_', ' ')}"
            for outcome in RollupOutcome
        )
        return f"rollup {self.period_start:%Y-%m}{' (force)' if self.force else ''}: {counts}"

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe, for the Celery task's result."""
        return {
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "force": self.force,
            "counts": {str(o): len(self.with_outcome(o)) for o in RollupOutcome},
            "totals_by_currency": [vars(totals) for totals in self.totals_by_currency()],
            "tenants": [result.as_dict() for result in self.results],
        }


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaxTerms:
    rate: Decimal
    label: str


def tax_terms() -> TaxTerms:
    """INVOICE_TAX_RATE and INVOICE_TAX_LABEL from settings, checked once per rollup: a bad
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


@dataclass(frozen=True)
class PeriodData:
    """What pricing the period needs, read in bulk before any tenant is written."""

    usage: dict[int, dict[str, Decimal]]
    llm_charges: dict[int, Decimal]
    llm_currencies: dict[int, str]
    prices: dict[str, dict[str, ResourcePriceTerms | None]]  # by currency, then billing kind


def _period_data(period: Period, subscriptions: Sequence[Subscription]) -> PeriodData:
    """One query each for usage and the LLM charges and their currencies, whatever the number of
    deployments or usage rows, plus one per currency for the fallback resource prices.

    Resource prices are those in effect on the period's first day: a price change applies from
    the first full month after it (docs/decisions.md).
    """
    deployment_ids = [subscription.deployment_id for subscription in subscriptions]
    currencies = sorted({subscription.plan_version.currency for subscription in subscriptions})
    return PeriodData(
        usage=usage_for_deployments(deployment_ids, period.start, period.end),
        llm_charges=llm_charges_for_deployments(deployment_ids, period.start, period.end),
        llm_currencies=llm_charge_currencies(deployment_ids, period.start, period.end),
        prices={
            currency: resource_price_terms(BILLING_KINDS, period.start, currency)
            for currency in currencies
        },
    )


# ---------------------------------------------------------------------------------------------
# Pricing one tenant (no database access: everything comes from PeriodData and the prefetches)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InvoiceDraft:
    tenant_id: str
    currency: str
    lines: tuple[LineDraft, ...]  # the tax line last
    subtotal_cents: int
    tax_cents: int
    subscription_ids: tuple[int, ...]
    warnings: tuple[str, ...] = field(default=())

    @property
    def total_cents(self) -> int:
        return self.subtotal_cents + self.tax_cents

    def summary(self) -> dict[str, Any]:
        """What the invoice events record about a (re)generation."""
        return {
            "currency": self.currency,
            "subtotal_cents": self.subtotal_cents,
            "tax_cents": self.tax_cents,
            "total_cents": self.total_cents,
            "lines": len(self.lines),
            "subscription_ids": list(self.subscription_ids),
            "warnings": list(self.warnings),
        }


def price_tenant(
    tenant_id: str,
    subscriptions: Sequence[Subscription],
    period: Period,
    data: PeriodData,
    tax: TaxTerms,
    late_sources: Sequence[LateSource] = (),
) -> InvoiceDraft:
    """The tenant's invoice for the period, priced but not written.

    Per subscription (in deployment order): its recurring lines prorated to its active days,
    then its overage and list-priced usage lines, then its passthrough LLM line; then the late
    usage of earlier, already invoiced months (`invoicing.invoices.late_usage`); last, the tax
    line on the subtotal of all of them. A tenant with late usage only (no subscription this
    month) is invoiced for it in the currency of the months it belongs to.
    """
    currency = _invoice_currency(tenant_id, subscriptions, late_sources)
    lines: list[LineDraft] = []
    warnings: list[str] = []
    for subscription in subscriptions:
        priced, notes = _subscription_lines(subscription, period, data, currency)
        lines.extend(priced)
        warnings.extend(notes)
        llm_line = _llm_usage_line(subscription, data, currency)
        if llm_line is not None:
            lines.append(llm_line)
    late_lines, late_warnings = late_usage_lines(late_sources, currency=currency)
    lines.extend(late_lines)
    warnings.extend(late_warnings)
    subtotal = sum(line.amount_cents for line in lines)
    tax_line = _tax_line(subtotal, tax)
    return InvoiceDraft(
        tenant_id=tenant_id,
        currency=currency,
        lines=(*lines, tax_line),
        subtotal_cents=subtotal,
        tax_cents=tax_line.amount_cents,
        subscription_ids=tuple(subscription.pk for subscription in subscriptions),
        warnings=tuple(warnings),
    )


def _invoice_currency(
    tenant_id: str, subscriptions: Sequence[Subscription], late_sources: Sequence[LateSource]
) -> str:
    """The one currency of the tenant's plans (without any, of its late usage). Amounts in two
    currencies are never added, so a tenant whose subscriptions bill in several cannot be
    invoiced until an operator moves them to plan versions of one currency."""
    deployments: dict[str, list[str]] = defaultdict(list)
    for subscription in subscriptions:
        deployments[subscription.plan_version.currency].append(subscription.deployment.slug)
    if not subscriptions:
        for source in late_sources:
            deployments[source.currency].append(source.deployment_slug)
    if len(deployments) == 1:
        return next(iter(deployments))
    detail = "; ".join(
        f"{currency}: {', '.join(sorted(slugs))}" for currency, slugs in sorted(deployments.items())
    )
    raise RollupError(
        f"tenant {tenant_id} has subscriptions in {len(deployments)} currencies ({detail}); an "
        "invoice holds one currency: move them to plan versions of one currency and run the "
        "rollup again"
    )


def _active_days(
    subscription: Subscription, period: Period
) -> tuple[dt.date | None, dt.date | None]:
    """(starts_on, ends_on) for the quote engine: the start when it falls inside the period,
    the cancellation day when it does (that day is billed, docs/decisions.md); None otherwise."""
    starts_on = subscription.started_on if subscription.started_on > period.start else None
    cancelled_on = subscription.cancelled_on
    ends_on = cancelled_on if cancelled_on is not None and cancelled_on < period.end else None
    return starts_on, ends_on


def _subscription_lines(
    subscription: Subscription, period: Period, data: PeriodData, currency: str
) -> tuple[list[LineDraft], list[str]]:
    """The quote engine's first_invoice (recurring, prorated) and overage sections for one
    subscription, with the deployment's actual usage of the whole period.

    A paused subscription is priced like an active one: pausing stops usage, not the plan fee.
    """
    plan, addons = subscription_pricing_terms(subscription)
    starts_on, ends_on = _active_days(subscription, period)
    result = quote(
        plan,
        addons,
        data.usage.get(subscription.deployment_id, {}),
        resource_prices=data.prices[currency],
        starts_on=starts_on,
        ends_on=ends_on,
        period_start=period.start,
    )
    slug = subscription.deployment.slug
    context = {
        "deployment": slug,
        "subscription_id": subscription.pk,
        "subscription_status": subscription.status,
        "usage_period": [period.start.isoformat(), period.end.isoformat()],
    }
    lines = [
        _from_quote_line(line, subscription, context)
        for line in (*result.first_invoice.lines, *result.overage.lines)
    ]
    return lines, [f"{slug}: {warning}" for warning in result.warnings]


def _from_quote_line(
    line: QuoteLine, subscription: Subscription, context: dict[str, Any]
) -> LineDraft:
    return LineDraft(
        kind=line.kind,
        resource_kind=line.resource_kind,
        description=line.description,
        qty=line.qty,
        unit=line.unit,
        unit_price_cents=line.unit_price_cents,
        amount_cents=line.amount_cents,
        meta={**line.meta, **context},
        deployment_id=subscription.deployment_id,
        subscription_id=subscription.pk,
    )


def _llm_usage_line(
    subscription: Subscription, data: PeriodData, currency: str
) -> LineDraft | None:
    """The passthrough LLM line: the period's exact charges (currency units, 8 places) summed,
    then rounded half-up to a cent ONCE — three charges of 0.004 make 1 cent, not 3 x 0."""
    deployment_id = subscription.deployment_id
    exact = data.llm_charges.get(deployment_id)
    if exact is None:
        return None
    charged_in = data.llm_currencies.get(deployment_id, currency)
    slug = subscription.deployment.slug
    if charged_in != currency:
        raise RollupError(
            f"deployment {slug}'s LLM charges are in {charged_in} but its plan bills in "
            f"{currency}; currencies are never mixed on an invoice"
        )
    exact_cents = exact * CENTS_PER_UNIT
    return LineDraft(
        kind=InvoiceLineKind.LLM_USAGE,
        resource_kind=LLM_RESOURCE_KIND,
        description="LLM usage (passthrough, at the gateway's prices)",
        qty=exact,
        unit=currency,
        unit_price_cents=CENTS_PER_UNIT,
        amount_cents=round_cents(exact_cents),
        meta={
            "deployment": slug,
            "subscription_id": subscription.pk,
            "charges_total": format_decimal(exact),
            "charges_currency": charged_in,
            "exact_cents": format_decimal(exact_cents),
            "rounding": "the period's exact charges summed, then rounded half-up to a cent once",
        },
        deployment_id=deployment_id,
        subscription_id=subscription.pk,
    )


def _tax_line(subtotal_cents: int, tax: TaxTerms) -> LineDraft:
    """One tenant-level tax line: rate x subtotal, rounded half-up to a cent once."""
    exact = Decimal(subtotal_cents) * tax.rate
    percent = format_decimal(tax.rate * 100)
    return LineDraft(
        kind=InvoiceLineKind.TAX,
        resource_kind=None,
        description=f"{tax.label} {percent}%",
        qty=tax.rate,
        unit=TAX_UNIT,
        unit_price_cents=subtotal_cents,
        amount_cents=round_cents(exact),
        meta={
            "label": tax.label,
            "rate": format_decimal(tax.rate),
            "subtotal_cents": subtotal_cents,
            "exact_cents": format_decimal(exact),
            "rounding": "rate x subtotal, rounded half-up to a cent once",
        },
    )


# ---------------------------------------------------------------------------------------------
# Writing one tenant
# ---------------------------------------------------------------------------------------------


def _found(outcome: RollupOutcome, invoice: TenantInvoice, reason: str = "") -> TenantResult:
    return TenantResult(
        tenant_id=invoice.tenant_id,
        outcome=outcome,
        invoice_id=invoice.pk,
        invoice_status=invoice.status,
        currency=invoice.currency,
        subtotal_cents=invoice.subtotal_cents,
        tax_cents=invoice.tax_cents,
        total_cents=invoice.total_cents,
        reason=reason,
    )


def _written(outcome: RollupOutcome, invoice: TenantInvoice, draft: InvoiceDraft) -> TenantResult:
    return TenantResult(
        tenant_id=draft.tenant_id,
        outcome=outcome,
        invoice_id=invoice.pk,
        invoice_status=invoice.status,
        currency=draft.currency,
        subtotal_cents=draft.subtotal_cents,
        tax_cents=draft.tax_cents,
        total_cents=draft.total_cents,
        warnings=draft.warnings,
    )


def _write_invoice(draft: InvoiceDraft, period: Period, *, force: bool, actor: str) -> TenantResult:
    """Write the tenant's invoice in ONE transaction, under the (tenant, period) lock.

    Without `force` the tenant is only priced when the run's first read found no invoice, so
    the invoice is inserted straight away: one committed since by a concurrent rollup (which
    held the lock until then) makes the insert fail on the unique (tenant, period), handled
    below as skipped. Sparing the locking read of every tenant makes a month-end run a third
    faster (docs/performance.md).

    With `force`: no invoice → create; a draft → regenerate; anything else → leave it.
    """
    try:
        with transaction.atomic():
            lock_tenant_period(draft.tenant_id, period.start)
            if not force:
                return _written(RollupOutcome.INVOICED, _create(draft, period, actor), draft)
            existing = lock_period_invoice(draft.tenant_id, period.start)
            if existing is None:
                return _written(RollupOutcome.INVOICED, _create(draft, period, actor), draft)
            if existing.status != InvoiceStatus.DRAFT:
                return _found(RollupOutcome.LEFT_ALONE, existing, f"already {existing.status}")
            return _written(RollupOutcome.REGENERATED, _regenerate(existing, draft, actor), draft)
    except IntegrityError:
        # Another writer of the same (tenant, period) got there first: a rollup that committed
        # between our first read and our lock, or one that did not take the lock (the
        # single-writer SQLite quick start has no advisory locks). Theirs stands.
        concurrent = TenantInvoice.objects.filter(
            tenant_id=draft.tenant_id, period_start=period.start
        ).first()
        if concurrent is None:
            raise
        return _found(RollupOutcome.SKIPPED, concurrent, "written by a concurrent rollup")


def _create(draft: InvoiceDraft, period: Period, actor: str) -> TenantInvoice:
    invoice = TenantInvoice.objects.create(
        tenant_id=draft.tenant_id,
        period_start=period.start,
        period_end=period.end,
        currency=draft.currency,
        subtotal_cents=draft.subtotal_cents,
        tax_cents=draft.tax_cents,
        total_cents=draft.total_cents,
        status=InvoiceStatus.DRAFT,
        generated_at=timezone.now(),
    )
    _insert_lines(invoice, draft)
    _event(invoice, InvoiceEventType.GENERATED, actor, draft.summary())
    return invoice


def _regenerate(invoice: TenantInvoice, draft: InvoiceDraft, actor: str) -> TenantInvoice:
    """Rewrite a locked DRAFT from scratch; the event keeps what it replaced."""
    previous = {
        "currency": invoice.currency,
        "subtotal_cents": invoice.subtotal_cents,
        "tax_cents": invoice.tax_cents,
        "total_cents": invoice.total_cents,
    }
    previous["lines"], _ = TenantInvoiceLine.objects.filter(invoice=invoice).delete()
    invoice.currency = draft.currency
    invoice.subtotal_cents = draft.subtotal_cents
    invoice.tax_cents = draft.tax_cents
    invoice.total_cents = draft.total_cents
    invoice.generated_at = timezone.now()
    invoice.save(
        update_fields=[
            "currency",
            "subtotal_cents",
            "tax_cents",
            "total_cents",
            "generated_at",
            "updated_at",
        ]
    )
    _insert_lines(invoice, draft)
    _event(invoice, InvoiceEventType.REGENERATED, actor, {**draft.summary(), "previous": previous})
    return invoice


def _insert_lines(invoice: TenantInvoice, draft: InvoiceDraft) -> None:
    """One COPY on PostgreSQL (`arcadia_cloud.bulk`): a tenant's few lines cost the rollup
    less than through bulk_create, 5,000 times over."""
    bulk_insert(
        TenantInvoiceLine,
        [line.to_model(invoice, position) for position, line in enumerate(draft.lines, start=1)],
        batch_size=LINE_BATCH_SIZE,
    )


def _event(invoice: TenantInvoice, type_: str, actor: str, details: dict[str, Any]) -> None:
    TenantInvoiceEvent.objects.create(invoice=invoice, type=type_, actor=actor, details=details)


# ---------------------------------------------------------------------------------------------
# The service
# ---------------------------------------------------------------------------------------------


def roll_up_period(
    period_start: dt.date,
    *,
    force: bool = False,
    tenant_ids: Iterable[str] | None = None,
    actor: str = "system",
) -> RollupReport:
    """Invoice every tenant with a subscription active in the month starting `period_start`.

    - idempotent: a tenant with an invoice for the period is skipped; `force=True` regenerates
      DRAFT invoices only and reports issued, paid and void ones as left alone;
    - `tenant_ids` limits the run to those tenants (a retry, a fix-up);
    - the month must be over (its last day complete in UTC): usage of a running month is live
      accrual, not an invoice. 400 naming `period` otherwise.

    Deliberately NOT one transaction: each tenant is written in its own, so one tenant's
    failure rolls back only that tenant and is reported (`RollupReport.failed`) while the
    others are invoiced. Safe to run twice at once (one invoice per tenant and period).
    """
    period = _billable_period(period_start)
    tax = tax_terms()
    wanted = None if tenant_ids is None else sorted(set(tenant_ids))
    by_tenant = _subscriptions_by_tenant(period, wanted)
    owing = _owing_late_usage(period, wanted)
    tenants = sorted(set(by_tenant) | owing)
    existing = _existing_invoices(period, tenants)

    results = _already_invoiced(existing, force=force)
    to_price = [tenant_id for tenant_id in tenants if tenant_id not in results]

    data = _period_data(period, [s for tenant in to_price for s in by_tenant.get(tenant, ())])
    for tenant_id in to_price:
        results[tenant_id] = _roll_up_tenant(
            tenant_id,
            by_tenant.get(tenant_id, []),
            period,
            data,
            tax,
            owes_late_usage=tenant_id in owing,
            force=force,
            actor=actor,
        )
    for tenant_id in wanted or ():
        results.setdefault(
            tenant_id,
            TenantResult(
                tenant_id, RollupOutcome.NOTHING_TO_BILL, reason="no subscription in the period"
            ),
        )

    report = RollupReport(
        period_start=period.start,
        period_end=period.end,
        force=force,
        results=tuple(results[tenant_id] for tenant_id in sorted(results)),
    )
    logger.info(report.summary())
    return report


def _already_invoiced(
    existing: dict[str, TenantInvoice], *, force: bool
) -> dict[str, TenantResult]:
    """Tenants this run will not price: skipped (an invoice exists), or with `force` left
    alone (their invoice is no longer a draft). Forced drafts are priced and regenerated."""
    results: dict[str, TenantResult] = {}
    for tenant_id, invoice in existing.items():
        if not force:
            results[tenant_id] = _found(RollupOutcome.SKIPPED, invoice, "already invoiced")
        elif invoice.status != InvoiceStatus.DRAFT:
            results[tenant_id] = _found(
                RollupOutcome.LEFT_ALONE, invoice, f"already {invoice.status}"
            )
    return results


def _owing_late_usage(period: Period, tenant_ids: list[str] | None) -> set[str]:
    """Tenants whose invoice for the period will carry late usage of earlier months (or whose
    late usage cannot be priced: their pricing reports why). Read once for the run, in bulk."""
    owing: set[str] = set()
    for tenant_id, sources in late_usage_sources(period.start, tenant_ids=tenant_ids).items():
        try:
            owes = bool(late_usage_lines(sources)[0])
        except (RollupError, QuoteInputError):
            owes = True  # its pricing reports why, as a failed tenant
        if owes:
            owing.add(tenant_id)
    return owing


def _roll_up_tenant(
    tenant_id: str,
    subscriptions: Sequence[Subscription],
    period: Period,
    data: PeriodData,
    tax: TaxTerms,
    *,
    owes_late_usage: bool,
    force: bool,
    actor: str,
) -> TenantResult:
    """Price and write one tenant; any failure is contained here, reported and logged."""
    try:
        if owes_late_usage:
            return _roll_up_with_late_usage(
                tenant_id, subscriptions, period, data, tax, force=force, actor=actor
            )
        draft = price_tenant(tenant_id, subscriptions, period, data, tax)
        return _write_invoice(draft, period, force=force, actor=actor)
    except (RollupError, QuoteInputError) as exc:
        logger.warning("rollup %s: tenant %s not invoiced: %s", period.label, tenant_id, exc)
        reason = str(exc)
    except RUN_ERRORS:
        raise
    except Exception as exc:  # one tenant's bug must not stop the month-end run of the others
        logger.exception("rollup %s: tenant %s failed", period.label, tenant_id)
        reason = f"unexpected error ({type(exc).__name__}: {exc}); see the logs"
    return TenantResult(tenant_id, RollupOutcome.FAILED, reason=reason)


def _roll_up_with_late_usage(
    tenant_id: str,
    subscriptions: Sequence[Subscription],
    period: Period,
    data: PeriodData,
    tax: TaxTerms,
    *,
    force: bool,
    actor: str,
) -> TenantResult:
    """Price and write a tenant that owes late usage, under its late-usage lock: what was
    billed for the late months is read again inside the lock, so two rollups of different
    months (each may carry the same late usage) bill it once between them."""
    with transaction.atomic():
        lock_tenant_late_usage(tenant_id)
        sources = late_usage_sources(period.start, tenant_ids=[tenant_id]).get(tenant_id, [])
        if not subscriptions and not late_usage_lines(sources)[0]:
            return TenantResult(
                tenant_id, RollupOutcome.NOTHING_TO_BILL, reason="its late usage was billed"
            )
        draft = price_tenant(tenant_id, subscriptions, period, data, tax, sources)
        return _write_invoice(draft, period, force=force, actor=actor)


def _billable_period(period_start: object) -> Period:
    if not isinstance(period_start, dt.date) or isinstance(period_start, dt.datetime):
        raise field_error("period", f"must be a date, got {period_start!r}")
    if period_start.day != 1:
        raise field_error(
            "period", f"{period_start} is not the first day of a month; a period is named by it"
        )
    period = Period(start=period_start, end=month_end(period_start))
    today = timezone.now().astimezone(dt.UTC).date()
    if period.end >= today:
        raise field_error(
            "period",
            f"{period.label} is not over yet (its last day, {period.end}, is not complete in "
            "UTC); a month is invoiced after it ends",
        )
    return period


def _subscriptions_by_tenant(
    period: Period, tenant_ids: list[str] | None
) -> dict[str, list[Subscription]]:
    """Subscriptions active in the period (plan version, items and add-ons prefetched: a fixed
    number of queries), by tenant in tenant order, each tenant's in deployment order."""
    subscriptions = subscriptions_active_between(period.start, period.end)
    if tenant_ids is not None:
        subscriptions = subscriptions.filter(deployment__tenant_id__in=tenant_ids)
    by_tenant: dict[str, list[Subscription]] = defaultdict(list)
    for subscription in subscriptions:
        by_tenant[subscription.deployment.tenant_id].append(subscription)
    return {tenant_id: by_tenant[tenant_id] for tenant_id in sorted(by_tenant)}


def _existing_invoices(period: Period, tenant_ids: Iterable[str]) -> dict[str, TenantInvoice]:
    """The period's invoices of these tenants, in one query. Read without a lock to avoid
    pricing what is already invoiced; the decision is taken again under the lock."""
    invoices = TenantInvoice.objects.filter(
        period_start=period.start, tenant_id__in=list(tenant_ids)
    )
    return {invoice.tenant_id: invoice for invoice in invoices}
