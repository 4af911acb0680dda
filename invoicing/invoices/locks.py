"""Locks of the tenant-invoice domain, taken here and nowhere else.

Lock order: tenant late-usage advisory lock → tenant credit advisory lock → (tenant, period)
advisory lock → tenant_invoices row → invoice_number_counters row. The rollup takes the
(tenant, period) lock (a forced one also the invoice row), and first the tenant's late-usage
lock when the invoice carries late usage of earlier months, then its credit lock when it
consumes adjustment-note credit; the status services take the invoice row and, to issue, the
counter; an adjustment note takes the invoice row it credits, then its own counter.
Subscriptions, usage and catalog rows are only read (committed state), so nothing here waits on
the deployments domain's locks and no cycle can form. A fanned-out run's chunk row and
then its run row are locked on their own, after the chunk's tenants are written (their own
transactions).
"""

from __future__ import annotations

import datetime as dt

from arcadia_cloud.locks import advisory_xact_lock
from invoicing.models import InvoiceNumberCounter, RollupRun, RollupRunChunk, TenantInvoice


def lock_tenant_period(tenant_id: str, period_start: dt.date) -> None:
    """Serialize every rollup of one tenant's period until the transaction ends.

    The invoice row cannot be locked before it exists; this lock covers its creation, so two
    concurrent rollups never both decide to create it (the unique constraint is the backstop).
    """
    advisory_xact_lock(f"invoicing:rollup:{tenant_id}:{period_start.isoformat()}")


def lock_tenant_late_usage(tenant_id: str) -> None:
    """Serialize, per tenant, every rollup that bills late usage until the transaction ends.

    Late usage of one month may be billed by the invoice of any later month; two rollups of
    different months of one tenant hold different (tenant, period) locks, so this one makes the
    second read what the first billed before it prices the difference.
    """
    advisory_xact_lock(f"invoicing:late-usage:{tenant_id}")


def lock_tenant_credit(tenant_id: str) -> None:
    """Serialize, per tenant, every rollup that consumes adjustment-note credit until the
    transaction ends: two rollups of different months read what the other consumed, so a
    note's credit is never spent twice."""
    advisory_xact_lock(f"invoicing:credit:{tenant_id}")


def lock_period_invoice(tenant_id: str, period_start: dt.date) -> TenantInvoice | None:
    return (
        TenantInvoice.objects.select_for_update()
        .filter(tenant_id=tenant_id, period_start=period_start)
        .first()
    )


def lock_invoice(invoice_id: int) -> TenantInvoice:
    return TenantInvoice.objects.select_for_update().get(pk=invoice_id)


def lock_number_counter(prefix: str, year: int) -> InvoiceNumberCounter:
    """The (prefix, year) counter, created at 0 when missing, locked until the transaction ends.

    Creation ignores a conflict, so two first issues of a year racing each other both end up
    locking the one row.
    """
    InvoiceNumberCounter.objects.bulk_create(
        [InvoiceNumberCounter(prefix=prefix, year=year, last_number=0)], ignore_conflicts=True
    )
    return InvoiceNumberCounter.objects.select_for_update().get(prefix=prefix, year=year)


def lock_rollup_chunk(chunk_id: int) -> RollupRunChunk:
    """A fanned-out run's chunk row, to record its results once (after its tenants' own
    transactions, never inside them)."""
    return (
        RollupRunChunk.objects.select_for_update(of=("self",))
        .select_related("run")
        .get(pk=chunk_id)
    )


def lock_rollup_run(run_id: int) -> RollupRun:
    """A fanned-out run's row, after one of its chunks (the chunk that finds none left
    unfinished writes the run's report)."""
    return RollupRun.objects.select_for_update().get(pk=run_id)
