"""Month-end rollup (SPEC §13): one invoice per tenant for a calendar month, priced through the
one pricing path — the loader the price preview and live accrual use, and the kernel's
`price_tenant` — so an invoice can never disagree with a quote or the accrual.

How a period is rolled up (`roll_up_period`):

1. inputs (`rollup.inputs`): the subscriptions active on at least one day of the month, by
   tenant, and the tenants owed late usage of earlier, already invoiced months; tenants that
   already have an invoice for the month are skipped (with `force`, only their DRAFT is
   regenerated; issued, paid and void invoices are left alone and reported);
2. everything the remaining tenants' pricing needs is read in bulk, once
   (`invoicing.pricing_inputs.load_pricing_inputs`);
3. pricing (`rollup.pricing`): per tenant, the kernel prices each subscription (prorated
   recurring lines, overage and list-priced usage, passthrough LLM charges rounded once), the
   late usage lines each naming the month they belong to, and one tax line;
4. writing (`rollup.writing`): per tenant, ONE transaction writes the invoice, its lines (one
   COPY) and its event under the (tenant, period) advisory lock, so concurrent rollups write
   one invoice, never two; a tenant owing late usage is priced again inside its late-usage
   lock, so two rollups of different months bill it once;
5. the report (`rollup.report`) says what happened to every tenant.

A tenant that cannot be invoiced (subscriptions in two currencies, LLM charges in another
currency, any unexpected error) is reported with the reason and logged; its transaction rolls
back whole and the other tenants carry on. The next run retries it.

Queries grow with the number of tenants (a handful each, to write), never with the number of
lines or usage rows.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

from celery.exceptions import SoftTimeLimitExceeded
from django.db import InterfaceError, OperationalError, transaction

from arcadia_cloud.clock import utc_today
from invoicing.invoices.locks import lock_tenant_credit, lock_tenant_late_usage
from invoicing.invoices.rollup import inputs, pricing
from invoicing.invoices.rollup.report import RollupOutcome, RollupReport, TenantResult
from invoicing.invoices.rollup.writing import write_invoice
from invoicing.pricing_inputs import PricingInputs
from pricing.engine import QuoteInputError
from pricing.invoice import Month, PricingError

logger = logging.getLogger(__name__)

# Errors about the run, not the tenant: the database went away (or chose us as a deadlock
# victim) or the task ran out of time. Every later tenant would fail the same way, so the run
# stops instead (the Celery task retries database errors); any re-run skips the tenants already
# written.
RUN_ERRORS = (OperationalError, InterfaceError, SoftTimeLimitExceeded)


def roll_up_period(
    period_start: dt.date,
    *,
    force: bool = False,
    tenant_ids: Iterable[str] | None = None,
    actor: str = "system",
    written_since: dt.datetime | None = None,
) -> RollupReport:
    """Invoice every tenant with a subscription active in the month starting `period_start`
    (or with late usage of an earlier month to bill).

    - idempotent: a tenant with an invoice for the period is skipped; `force=True` regenerates
      DRAFT invoices only and reports issued, paid and void ones as left alone;
    - `tenant_ids` limits the run to those tenants (a retry, a fix-up, a fanned-out chunk);
    - `written_since`: the start of the run this call is part of (a redelivered chunk): an
      invoice created since then was written by an earlier delivery of the same run and is
      reported as invoiced, not skipped;
    - the month must be over (its last day complete in UTC): 400 naming `period` otherwise.

    Deliberately NOT one transaction: each tenant is written in its own, so one tenant's
    failure rolls back only that tenant and is reported (`RollupReport.failed`) while the
    others are invoiced. Safe to run twice at once (one invoice per tenant and period).
    """
    month = inputs.billable_month(period_start, today=utc_today())
    wanted = None if tenant_ids is None else sorted(set(tenant_ids))
    inputs.apply_scheduled_changes(month)
    subjects = inputs.subjects_by_tenant(month, wanted)
    owing = pricing.tenants_owing_late_usage(month, wanted)
    with_credit = pricing.tenants_with_credit(wanted)
    tenants = sorted(set(subjects) | owing)
    results = inputs.already_invoiced(
        inputs.existing_invoices(month, tenants), force=force, written_since=written_since
    )
    to_price = [tenant_id for tenant_id in tenants if tenant_id not in results]

    loaded = pricing.load(month, subjects, to_price)
    for tenant_id in to_price:
        results[tenant_id] = _roll_up_tenant(
            tenant_id,
            loaded,
            owes_late_usage=tenant_id in owing,
            has_credit=tenant_id in with_credit,
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

    report = RollupReport.of(month.start, month.end, force=force, results=results.values())
    logger.info(report.summary())
    return report


def period_tenants(period_start: dt.date) -> tuple[Month, list[str]]:
    """The month (once it is over; 400 naming `period` otherwise) and every tenant a rollup of
    it considers: a subscription active in it, or late usage of an earlier month to bill."""
    month = inputs.billable_month(period_start, today=utc_today())
    subjects = inputs.subjects_by_tenant(month, None)
    return month, sorted(set(subjects) | pricing.tenants_owing_late_usage(month, None))


def _roll_up_tenant(
    tenant_id: str,
    loaded: PricingInputs,
    *,
    owes_late_usage: bool,
    has_credit: bool = False,
    force: bool,
    actor: str,
) -> TenantResult:
    """Price and write one tenant; any failure is contained here, reported and logged.

    A tenant owing late usage, or with adjustment-note credit to consume, is priced again
    inside its late-usage / credit locks (in that order), so two rollups of different months
    bill the late usage once and spend the credit once between them."""
    month = loaded.month
    try:
        if not owes_late_usage and not has_credit:
            priced = pricing.price(loaded, tenant_id)
            return write_invoice(priced, month, force=force, actor=actor)
        with transaction.atomic(durable=True):
            late = ()
            if owes_late_usage:
                lock_tenant_late_usage(tenant_id)
                late = pricing.late_usage_now(month, tenant_id)
                if not loaded.subscriptions_of(tenant_id) and not pricing.owes(late):
                    return TenantResult(
                        tenant_id,
                        RollupOutcome.NOTHING_TO_BILL,
                        reason="its late usage was billed",
                    )
            credits = ()
            if has_credit:
                lock_tenant_credit(tenant_id)
                credits = pricing.credit_now(month, tenant_id)
            priced = pricing.price(loaded, tenant_id, late, credits)
            return write_invoice(priced, month, force=force, actor=actor, durable=False)
    except (PricingError, QuoteInputError) as exc:
        logger.warning("rollup %s: tenant %s not invoiced: %s", month.label, tenant_id, exc)
        reason = str(exc)
    except RUN_ERRORS:
        raise
    except Exception as exc:  # one tenant's bug must not stop the month-end run of the others
        logger.exception("rollup %s: tenant %s failed", month.label, tenant_id)
        reason = f"unexpected error ({type(exc).__name__}: {exc}); see the logs"
    return TenantResult(tenant_id, RollupOutcome.FAILED, reason=reason)
