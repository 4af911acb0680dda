"""Reads of adjustment notes: lists, what each note still has as credit, net invoice amounts."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.db.models import Prefetch, QuerySet, Sum

from invoicing.models import (
    CreditNote,
    CreditNoteLine,
    CreditNoteSettlement,
    InvoiceLineKind,
    InvoiceStatus,
    TenantInvoiceLine,
)
from pricing.credit import CREDIT_NOTE, CreditAvailable


def credit_notes_list() -> QuerySet[CreditNote]:
    """Notes with their invoice and lines (three queries per page)."""
    return (
        CreditNote.objects.select_related("invoice")
        .prefetch_related(Prefetch("lines", queryset=CreditNoteLine.objects.order_by("position")))
        .order_by("-issued_at", "-id")
    )


def credited_by_invoice(invoice_ids: Iterable[int]) -> dict[int, int]:
    """The GST-inclusive total the notes of each invoice credit, in one query."""
    rows = (
        CreditNote.objects.filter(invoice_id__in=list(invoice_ids))
        .values_list("invoice_id")
        .annotate(total=Sum("total_cents"))
    )
    return dict(rows)


def tenants_with_credit_notes(tenant_ids: Iterable[str] | None) -> set[str]:
    """Tenants with at least one note settled as credit (one query)."""
    notes = CreditNote.objects.filter(settlement=CreditNoteSettlement.CREDIT)
    if tenant_ids is not None:
        notes = notes.filter(tenant_id__in=list(tenant_ids))
    return set(notes.values_list("tenant_id", flat=True).distinct())


def credit_available(
    tenant_ids: Iterable[str] | None, *, except_period_start=None
) -> dict[str, tuple[CreditAvailable, ...]]:
    """What each tenant's credit notes still have to give: each note's total less what the
    `credit` lines of the tenant's non-void invoices consumed of it — the invoice of
    `except_period_start` excepted (the draft being (re)generated). Two queries."""
    notes = CreditNote.objects.filter(settlement=CreditNoteSettlement.CREDIT)
    lines = TenantInvoiceLine.objects.filter(kind=InvoiceLineKind.CREDIT).exclude(
        invoice__status=InvoiceStatus.VOID
    )
    if tenant_ids is not None:
        wanted = list(tenant_ids)
        notes = notes.filter(tenant_id__in=wanted)
        lines = lines.filter(invoice__tenant_id__in=wanted)
    if except_period_start is not None:
        lines = lines.exclude(invoice__period_start=except_period_start)
    consumed: dict[int, int] = defaultdict(int)
    for meta, amount in lines.values_list("meta", "amount_cents"):
        note_id = (meta or {}).get(CREDIT_NOTE, {}).get("id")
        if note_id is not None:
            consumed[note_id] += -amount
    found: dict[str, list[CreditAvailable]] = defaultdict(list)
    for note in notes.order_by("issued_at", "id"):
        left = note.total_cents - consumed.get(note.pk, 0)
        if left > 0:
            found[note.tenant_id].append(
                CreditAvailable(
                    note_id=note.pk,
                    number=note.number,
                    currency=note.currency,
                    issued_on=note.issued_at.date(),
                    available_cents=left,
                )
            )
    return {tenant_id: tuple(credits) for tenant_id, credits in found.items()}
