"""What a rollup run starts from: the billable month, who is priced, what is already invoiced.

Everything pricing itself needs comes from the one pricing loader
(`invoicing.pricing_inputs.load_pricing_inputs`), as for quotes and live accrual.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db import transaction

from arcadia_cloud.errors import field_error
from deployments.selectors import pricing_subjects_active_between
from deployments.services import scheduled_changes_apply_due
from invoicing.invoices.rollup.report import RollupOutcome, TenantResult, found
from invoicing.models import InvoiceStatus, TenantInvoice
from pricing.invoice import Month, PricingSubject


def billable_month(period_start: object, *, today: dt.date) -> Month:
    """The month starting `period_start`, once it is over (its last day complete in UTC): usage
    of a running month is live accrual, not an invoice. 400 naming `period` otherwise."""
    if not isinstance(period_start, dt.date) or isinstance(period_start, dt.datetime):
        raise field_error("period", f"must be a date, got {period_start!r}")
    if period_start.day != 1:
        raise field_error(
            "period", f"{period_start} is not the first day of a month; a period is named by it"
        )
    month = Month.of(period_start)
    if month.end >= today:
        raise field_error(
            "period",
            f"{month.label} is not over yet (its last day, {month.end}, is not complete in "
            "UTC); a month is invoiced after it ends",
        )
    return month


def apply_scheduled_changes(month: Month) -> None:
    """Period-end changes due by the month's end are applied before it is priced (the daily task
    normally did it on their day), so the month is priced with its segments (issue 20)."""
    scheduled_changes_apply_due(
        through=month.end,
        actor="system",
        durable=not transaction.get_connection().in_atomic_block,
    )


def subjects_by_tenant(
    month: Month, tenant_ids: list[str] | None
) -> dict[str, list[PricingSubject]]:
    """The subscriptions active in the month (one query), by tenant in tenant order, each
    tenant's in deployment order."""
    by_tenant: dict[str, list[PricingSubject]] = {}
    for subject in pricing_subjects_active_between(month.start, month.end, tenant_ids=tenant_ids):
        by_tenant.setdefault(subject.tenant_id, []).append(subject)
    return by_tenant


def existing_invoices(month: Month, tenant_ids: Iterable[str]) -> dict[str, TenantInvoice]:
    """The month's invoices of these tenants, in one query. Read without a lock to avoid
    pricing what is already invoiced; the decision is taken again under the lock."""
    invoices = TenantInvoice.objects.filter(
        period_start=month.start, tenant_id__in=list(tenant_ids)
    )
    return {invoice.tenant_id: invoice for invoice in invoices}


def already_invoiced(
    existing: dict[str, TenantInvoice], *, force: bool, written_since: dt.datetime | None = None
) -> dict[str, TenantResult]:
    """Tenants this run will not price: skipped (an invoice exists), or with `force` left
    alone (their invoice is no longer a draft). Forced drafts are priced and regenerated.

    An invoice created at or after `written_since` (the start of the fanned-out run this call
    is a chunk of) was written by an earlier delivery of the same chunk: it counts as invoiced
    by this run, so the run's report is the same however often a chunk was delivered."""
    results: dict[str, TenantResult] = {}
    for tenant_id, invoice in existing.items():
        if not force and written_since is not None and invoice.created_at >= written_since:
            results[tenant_id] = found(
                RollupOutcome.INVOICED, invoice, "written by an earlier delivery of this run"
            )
        elif not force:
            results[tenant_id] = found(RollupOutcome.SKIPPED, invoice, "already invoiced")
        elif invoice.status != InvoiceStatus.DRAFT:
            results[tenant_id] = found(
                RollupOutcome.LEFT_ALONE, invoice, f"already {invoice.status}"
            )
    return results
