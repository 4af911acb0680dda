"""Adjustment notes (credit notes) against issued or paid invoices.

`credit_note_issue` credits chosen lines of an invoice — each whole, or an amount of it, ex-GST
— or, without lines, everything still creditable. Under the invoice's row lock it checks what
remains creditable (each line less what earlier notes credited of it), adjusts the GST half-up
on the credited amount (`arcadia_cloud.money.round_cents`, at the invoice's own rate; a note
crediting everything left takes exactly the GST left), numbers the note from its own gapless
per-year counter (`ARC-CN-2026-000001`) and freezes the parties. The note is issued when
written and never changes (a database trigger refuses it).

A note settles either as **credit** on the tenant's balance (consumed by its next invoices as
`credit` lines: `invoicing.pricing_inputs`, `pricing.credit`) or as a **refund** paid outside
(its date and reference recorded).

Two notes racing for one invoice's remainder queue on the invoice row: the second sees the
first and is refused (409) if it would credit more than what is left.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from arcadia_cloud.errors import Conflict, InvalidStateChange, field_error
from arcadia_cloud.money import round_cents
from arcadia_cloud.validation import clean_cents, clean_choice, clean_date, clean_text
from invoicing.documents.email import document_email_queue
from invoicing.documents.parties import frozen_parties
from invoicing.invoices.locks import lock_invoice, lock_number_counter
from invoicing.models import (
    CreditNote,
    CreditNoteLine,
    CreditNoteSettlement,
    InvoiceEventType,
    InvoiceLineKind,
    InvoiceStatus,
    TenantInvoice,
    TenantInvoiceEvent,
    TenantInvoiceLine,
)
from invoicing.receivables.services import receivable_queue
from invoicing.summaries import note_period, revenue_summary_refresh
from webhooks.services import webhook_event_emit

CREDITABLE_STATUSES = (InvoiceStatus.ISSUED, InvoiceStatus.PAID)
# Lines a note may credit: the supplies (never the tax line, whose adjustment follows from the
# credited amount, nor a credit line).
NOT_CREDITABLE_KINDS = (InvoiceLineKind.TAX, InvoiceLineKind.CREDIT)
MAX_REASON_LENGTH = 2000
MAX_LINES = 500
NUMBER_DIGITS = 6


@transaction.atomic
def credit_note_issue(
    *,
    invoice: TenantInvoice,
    reason: object,
    settlement: object = CreditNoteSettlement.CREDIT,
    lines: object = None,
    refund_reference: object = "",
    refunded_on: object = None,
    actor: str,
) -> CreditNote:
    """Issue an adjustment note against `invoice` (see the module docstring).

    `lines`: None (credit everything still creditable) or a list of
    `{"line_id": <invoice line id>, "amount_cents": <ex-GST cents, optional: the line's
    remainder>}`. Bad input is a 400 naming the field; a draft or void invoice a 422; more
    than what remains creditable a 409 naming the line's amount. Nothing is written on error.
    """
    reason_text = clean_text("reason", reason, max_length=MAX_REASON_LENGTH)
    settle = clean_choice("settlement", settlement, CreditNoteSettlement.values)
    reference, refund_day = _refund(settle, refund_reference, refunded_on)
    wanted = _wanted_lines(lines)

    locked = lock_invoice(invoice.pk)
    if locked.status not in CREDITABLE_STATUSES:
        raise InvalidStateChange(
            f"invoice {locked} is {locked.status}: only an issued or paid invoice takes an "
            "adjustment note (a draft is regenerated, a void one is void)",
            extra={"status": locked.status, "allowed": list(CREDITABLE_STATUSES)},
        )
    remaining = creditable_lines(locked)
    credited = _credited(locked, wanted, remaining)
    subtotal = sum(amount for _, amount in credited)
    if subtotal <= 0:
        raise Conflict(
            f"invoice {locked.number} has nothing left to credit",
            fields={"lines": ["nothing left to credit"]},
        )
    tax = _tax(locked, subtotal, remaining)
    now = timezone.now()
    note = CreditNote.objects.create(
        number=_next_number(now),
        invoice=locked,
        tenant_id=locked.tenant_id,
        currency=locked.currency,
        reason=reason_text,
        settlement=settle,
        subtotal_cents=subtotal,
        tax_cents=tax,
        total_cents=subtotal + tax,
        refund_reference=reference,
        refunded_on=refund_day,
        parties=locked.parties or frozen_parties(locked.tenant_id),
        issued_at=now,
        created_by=actor[:200],
    )
    CreditNoteLine.objects.bulk_create(
        CreditNoteLine(
            note=note,
            position=position,
            invoice_line=line,
            description=line.description,
            amount_cents=amount,
        )
        for position, (line, amount) in enumerate(credited, start=1)
    )
    # What the note credits counts against the revenue of the month it is issued in.
    revenue_summary_refresh(period=note_period(note.issued_at), tenant_ids=[note.tenant_id])
    TenantInvoiceEvent.objects.create(
        invoice=locked,
        type=InvoiceEventType.CREDITED,
        actor=actor,
        details={
            "credit_note": note.number,
            "settlement": settle,
            "subtotal_cents": subtotal,
            "tax_cents": tax,
            "total_cents": note.total_cents,
        },
    )
    receivable_queue(credit_note=note)
    document_email_queue(credit_note=note, actor=actor)
    webhook_event_emit(
        tenant_id=note.tenant_id,
        event_type="credit_note.issued",
        data={
            "credit_note_id": note.pk,
            "number": note.number,
            "invoice_number": locked.number,
            "settlement": settle,
            "currency": note.currency,
            "subtotal_cents": note.subtotal_cents,
            "tax_cents": note.tax_cents,
            "total_cents": note.total_cents,
        },
    )
    return note


def creditable_lines(invoice: TenantInvoice) -> dict[int, tuple[TenantInvoiceLine, int]]:
    """Each creditable line of the invoice with what is left of it ex-GST (its amount less what
    earlier notes credited of it), in position order: two queries."""
    already = dict(
        CreditNoteLine.objects.filter(note__invoice=invoice)
        .values_list("invoice_line_id")
        .annotate(total=Sum("amount_cents"))
    )
    lines = (
        TenantInvoiceLine.objects.filter(invoice=invoice)
        .exclude(kind__in=NOT_CREDITABLE_KINDS)
        .order_by("position")
    )
    return {line.pk: (line, line.amount_cents - already.get(line.pk, 0)) for line in lines}


def credited_cents(invoice: TenantInvoice) -> dict[str, int]:
    """What the invoice's notes credit so far: subtotal, tax and total."""
    sums = CreditNote.objects.filter(invoice=invoice).aggregate(
        subtotal=Sum("subtotal_cents"), tax=Sum("tax_cents"), total=Sum("total_cents")
    )
    return {key: value or 0 for key, value in sums.items()}


def _wanted_lines(lines: object) -> list[tuple[int, int | None]] | None:
    if lines is None:
        return None
    if not isinstance(lines, list | tuple):
        raise field_error("lines", f"must be a list of {{line_id, amount_cents}}, got {lines!r}")
    if not lines:
        raise field_error("lines", "name at least one line (or leave lines out: credit all)")
    if len(lines) > MAX_LINES:
        raise field_error("lines", f"at most {MAX_LINES} lines, got {len(lines)}")
    wanted: list[tuple[int, int | None]] = []
    seen: set[int] = set()
    for index, entry in enumerate(lines):
        field = f"lines[{index}]"
        if not isinstance(entry, dict):
            raise field_error(field, f"must be an object with line_id, got {entry!r}")
        line_id = entry.get("line_id")
        if isinstance(line_id, bool) or not isinstance(line_id, int) or line_id <= 0:
            raise field_error(f"{field}.line_id", f"must be an invoice line id, got {line_id!r}")
        if line_id in seen:
            raise field_error(f"{field}.line_id", f"line {line_id} is named twice")
        seen.add(line_id)
        amount = entry.get("amount_cents")
        if amount is not None:
            amount = clean_cents(f"{field}.amount_cents", amount)
            if amount == 0:
                raise field_error(f"{field}.amount_cents", "must be more than 0 cents")
        wanted.append((line_id, amount))
    return wanted


def _credited(
    invoice: TenantInvoice,
    wanted: list[tuple[int, int | None]] | None,
    remaining: dict[int, tuple[TenantInvoiceLine, int]],
) -> list[tuple[TenantInvoiceLine, int]]:
    if wanted is None:
        return [(line, left) for line, left in remaining.values() if left > 0]
    credited = []
    for index, (line_id, amount) in enumerate(wanted):
        if line_id not in remaining:
            raise field_error(
                f"lines[{index}].line_id",
                f"invoice {invoice.number} has no creditable line {line_id} (tax and credit "
                "lines are not credited: the GST follows from the credited amount)",
            )
        line, left = remaining[line_id]
        amount = left if amount is None else amount
        if amount > left or left <= 0:
            raise Conflict(
                f"line {line_id} of invoice {invoice.number} has {left} cents left to credit "
                f"ex-GST; {amount} asked",
                fields={f"lines[{index}].amount_cents": [f"at most {max(left, 0)} cents"]},
                extra={"creditable_cents": max(left, 0)},
            )
        credited.append((line, amount))
    return credited


def _tax(
    invoice: TenantInvoice, subtotal: int, remaining: dict[int, tuple[TenantInvoiceLine, int]]
) -> int:
    """GST on the credited amount at the invoice's rate, half-up; never more than the GST the
    invoice has left, and exactly that when the note credits everything left."""
    tax_left = invoice.tax_cents - credited_cents(invoice)["tax"]
    if subtotal == sum(left for _, left in remaining.values() if left > 0):
        return max(tax_left, 0)
    tax_line = TenantInvoiceLine.objects.filter(invoice=invoice, kind=InvoiceLineKind.TAX).first()
    rate = tax_line.qty if tax_line is not None else Decimal(0)
    return max(min(round_cents(Decimal(subtotal) * rate), tax_left), 0)


def _refund(settlement: str, reference: object, refunded_on: object) -> tuple[str, dt.date | None]:
    if settlement != CreditNoteSettlement.REFUND:
        if reference or refunded_on is not None:
            field = "refund_reference" if reference else "refunded_on"
            raise field_error(field, "only a refund note records a refund")
        return "", None
    return (
        clean_text("refund_reference", reference, max_length=200),
        clean_date("refunded_on", refunded_on),
    )


def _next_number(now: dt.datetime) -> str:
    """`ARC-CN-2026-000001`: the note prefix, the UTC year of issue, its own sequence."""
    year = now.astimezone(dt.UTC).year
    counter = lock_number_counter(settings.CREDIT_NOTE_NUMBER_PREFIX, year)
    counter.last_number += 1
    counter.save(update_fields=["last_number"])
    return f"{counter.prefix}-{year}-{counter.last_number:0{NUMBER_DIGITS}d}"
