"""Reads of tenant invoices (SPEC §13): lists, one invoice with its lines, totals, export rows.

Kept apart from `invoicing.usage.selectors` (metering and LLM usage) so each module reads one
domain.
Every reader issues a fixed number of queries whatever the number of invoices or lines; exports
iterate in chunks instead of loading a period into memory.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, OuterRef, Prefetch, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce

from arcadia_cloud.sql import KeysetPage, json_value, page_rows
from invoicing.models import (
    CreditNote,
    CreditNoteLine,
    InvoiceStatus,
    TenantInvoice,
    TenantInvoiceEvent,
    TenantInvoiceLine,
)

EXPORT_CHUNK_SIZE = 2000
# Newest period first, then by tenant: the order of lists and exports.
INVOICE_ORDER = ("-period_start", "tenant_id", "id")
LINE_ORDER = ("-invoice__period_start", "invoice__tenant_id", "invoice_id", "position")


def invoices_list(
    *,
    period_start: dt.date | None = None,
    status: str | None = None,
    tenant_id: str | None = None,
) -> QuerySet[TenantInvoice]:
    """Invoices, newest period first, then by tenant; each filter applies when given. Each
    carries `credited_cents`: what its adjustment notes credit (GST-inclusive), in the query."""
    invoices = TenantInvoice.objects.order_by(*INVOICE_ORDER).annotate(
        credited_cents=with_credited_cents()
    )
    if period_start is not None:
        invoices = invoices.filter(period_start=period_start)
    if status is not None:
        invoices = invoices.filter(status=status)
    if tenant_id is not None:
        invoices = invoices.filter(tenant_id=tenant_id)
    return invoices


def with_credited_cents() -> Coalesce:
    """What the invoice's adjustment notes credit, GST-inclusive: a subquery, no extra query."""
    notes = (
        CreditNote.objects.filter(invoice=OuterRef("pk"))
        .order_by()
        .values("invoice")
        .annotate(total=Sum("total_cents"))
        .values("total")
    )
    return Coalesce(Subquery(notes), 0)


def visible_to_tenant(invoices: QuerySet[TenantInvoice], tenant_id: str) -> QuerySet[TenantInvoice]:
    """A tenant's own invoices, drafts excepted: a draft is the operators' working copy (a
    forced rollup may still rewrite it); a tenant sees its bill once it is issued."""
    return invoices.filter(tenant_id=tenant_id).exclude(status=InvoiceStatus.DRAFT)


def invoice_lines() -> QuerySet[TenantInvoiceLine]:
    return TenantInvoiceLine.objects.select_related("deployment").order_by("position")


# What an invoice line of the API prints, read as columns (`invoice_line_rows`).
LINE_ROW_FIELDS = (
    "invoice_id",
    "position",
    "kind",
    "deployment_id",
    "deployment__slug",
    "subscription_id",
    "resource_kind",
    "description",
    "qty",
    "unit",
    "unit_price_cents",
    "amount_cents",
    "meta",
)


def invoice_line_rows(invoice_ids: list[int]) -> dict[int, list[dict]]:
    """{invoice id: its lines as `values()` rows, in position order}, in one query."""
    by_invoice: dict[int, list[dict]] = {pk: [] for pk in invoice_ids}
    if not invoice_ids:
        return by_invoice
    rows = (
        TenantInvoiceLine.objects.filter(invoice_id__in=invoice_ids)
        .order_by("invoice_id", "position")
        .values(*LINE_ROW_FIELDS)
    )
    for row in rows:
        by_invoice[row["invoice_id"]].append(row)
    return by_invoice


# The invoice list's page by hand (arcadia_cloud.sql): the columns of `invoices_list()` the
# API's list item prints, with its `credited_cents` annotation.
_INVOICE_PAGE_SELECT = """
SELECT tenant_invoices.id, tenant_invoices.number, tenant_invoices.tenant_id,
       tenant_invoices.period_start, tenant_invoices.period_end, tenant_invoices.currency,
       tenant_invoices.status, tenant_invoices.subtotal_cents, tenant_invoices.tax_cents,
       tenant_invoices.total_cents, tenant_invoices.credit_cents,
       COALESCE(
           (SELECT SUM(n.total_cents) FROM credit_notes n WHERE n.invoice_id = tenant_invoices.id),
           0
       )::bigint AS credited_cents,
       tenant_invoices.due_on, tenant_invoices.issued_at, tenant_invoices.paid_at,
       tenant_invoices.voided_at, tenant_invoices.void_reason, tenant_invoices.generated_at,
       (SELECT COALESCE(json_agg(json_build_object(
                   'invoice_id', l.invoice_id, 'position', l.position, 'kind', l.kind,
                   'deployment_id', l.deployment_id, 'deployment__slug', d.slug,
                   'subscription_id', l.subscription_id, 'resource_kind', l.resource_kind,
                   'description', l.description, 'qty', l.qty::text, 'unit', l.unit,
                   'unit_price_cents', l.unit_price_cents, 'amount_cents', l.amount_cents,
                   'meta', l.meta
               ) ORDER BY l.position), '[]')::text
        FROM tenant_invoice_lines l
        LEFT JOIN cloud_deployments d ON d.id = l.deployment_id
        WHERE l.invoice_id = tenant_invoices.id) AS lines
FROM tenant_invoices"""


def invoice_page_rows(
    *,
    viewer_tenant_id: str | None,
    page: KeysetPage,
    period_start: dt.date | None = None,
    status: str | None = None,
    tenant_id: str | None = None,
) -> list[dict]:
    """A page of the invoice list, read by one hand-written statement (PostgreSQL): what
    `invoices_list(...)` gives for an admin (viewer None), or `visible_to_tenant` of it for a
    tenant, as `values()` rows, each with its `lines` as `invoice_line_rows` gives them (read in
    the same statement: one query a page). Held equal to the ORM form by
    tests/test_hand_sql_pages.py."""
    conditions: list[tuple[str, list]] = []
    if viewer_tenant_id is not None:
        conditions.append(("tenant_invoices.tenant_id = %s", [viewer_tenant_id]))
        conditions.append(("tenant_invoices.status <> %s", [InvoiceStatus.DRAFT.value]))
    if period_start is not None:
        conditions.append(("tenant_invoices.period_start = %s", [period_start]))
    if status:
        conditions.append(("tenant_invoices.status = %s", [status]))
    if tenant_id:
        conditions.append(("tenant_invoices.tenant_id = %s", [tenant_id]))
    rows = page_rows(_INVOICE_PAGE_SELECT, conditions, page)
    for row in rows:
        row["lines"] = [{**line, "qty": Decimal(line["qty"])} for line in json_value(row["lines"])]
    return rows


def invoices_with_lines(invoices: QuerySet[TenantInvoice]) -> QuerySet[TenantInvoice]:
    """The invoices with their lines (and each line's deployment): two queries for any count."""
    return invoices.prefetch_related(Prefetch("lines", queryset=invoice_lines()))


def invoices_with_history(invoices: QuerySet[TenantInvoice]) -> QuerySet[TenantInvoice]:
    """As `invoices_with_lines`, plus each invoice's events (for operators)."""
    return invoices_with_lines(invoices).prefetch_related(
        Prefetch("events", queryset=TenantInvoiceEvent.objects.order_by("occurred_at", "id"))
    )


@dataclass(frozen=True)
class InvoiceTotals:
    currency: str
    count: int
    subtotal_cents: int
    tax_cents: int
    total_cents: int


def invoice_totals_by_currency(invoices: QuerySet[TenantInvoice]) -> list[InvoiceTotals]:
    """Count and sums of the invoices per currency, in ONE aggregate query. Amounts in
    different currencies are never added together."""
    rows = (
        invoices.order_by()
        .values("currency")
        .annotate(
            count=Count("id"),
            subtotal=Sum("subtotal_cents"),
            tax=Sum("tax_cents"),
            total=Sum("total_cents"),
        )
        .order_by("currency")
    )
    return [
        InvoiceTotals(row["currency"], row["count"], row["subtotal"], row["tax"], row["total"])
        for row in rows
    ]


def invoices_for_export(invoices: QuerySet[TenantInvoice]) -> Iterator[TenantInvoice]:
    """The invoices in list order, streamed from the database in chunks (one query)."""
    return invoices.order_by(*INVOICE_ORDER).iterator(chunk_size=EXPORT_CHUNK_SIZE)


def credit_notes_for_export(invoices: QuerySet[TenantInvoice]) -> Iterator[CreditNote]:
    """The adjustment notes of the invoices, with their invoice, oldest first (one query)."""
    return (
        CreditNote.objects.filter(invoice__in=invoices.order_by().values("pk"))
        .select_related("invoice")
        .order_by("issued_at", "id")
        .iterator(chunk_size=EXPORT_CHUNK_SIZE)
    )


def credit_note_lines_for_export(invoices: QuerySet[TenantInvoice]) -> Iterator[CreditNoteLine]:
    """Every line of the invoices' notes, with its note, invoice and invoice line (one query)."""
    return (
        CreditNoteLine.objects.filter(note__invoice__in=invoices.order_by().values("pk"))
        .select_related("note__invoice", "invoice_line__deployment")
        .order_by("note__issued_at", "note_id", "position")
        .iterator(chunk_size=EXPORT_CHUNK_SIZE)
    )


def lines_for_export(invoices: QuerySet[TenantInvoice]) -> Iterator[TenantInvoiceLine]:
    """Every line of the invoices, with its invoice and deployment, in list order and then line
    position, streamed in chunks (one query)."""
    return (
        TenantInvoiceLine.objects.filter(invoice__in=invoices.order_by().values("pk"))
        .select_related("invoice", "deployment")
        .order_by(*LINE_ORDER)
        .iterator(chunk_size=EXPORT_CHUNK_SIZE)
    )
