"""Status changes of tenant invoices (SPEC §13): issue, mark paid, void.

    draft ──issue──▶ issued ──mark paid──▶ paid
      │                │
      └──────void──────┴──▶ void

Each service locks the invoice row (`invoicing.invoices.locks`), checks the edge, changes the
status and writes its `tenant_invoice_events` row with the actor, in one transaction. Anything
off the map is a 422 naming the allowed moves. Issuing assigns the next number of the year from
the locked per-year counter in the same transaction, so numbers are unique and gapless; from
then on the invoice's content is frozen (and the database refuses any change to it, see
migration 0004).
"""

from __future__ import annotations

import datetime as dt
from types import MappingProxyType

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from arcadia_cloud.celery import enqueue_on_commit
from arcadia_cloud.errors import Conflict, InvalidStateChange, field_error
from invoicing.documents.email import document_email_queue
from invoicing.documents.parties import frozen_parties
from invoicing.invoices.locks import lock_invoice, lock_number_counter
from invoicing.invoices.terms import due_on_for
from invoicing.models import (
    CreditNote,
    InvoiceEventType,
    InvoiceStatus,
    TenantInvoice,
    TenantInvoiceEvent,
)
from invoicing.receivables.services import receivable_queue
from invoicing.summaries import revenue_summary_refresh
from webhooks.services import webhook_event_emit

ISSUE = "issue"
MARK_PAID = "mark_paid"
VOID = "void"

# What each status may do next. Paid and void are final.
ALLOWED_ACTIONS = MappingProxyType(
    {
        InvoiceStatus.DRAFT: (ISSUE, VOID),
        InvoiceStatus.ISSUED: (MARK_PAID, VOID),
        InvoiceStatus.PAID: (),
        InvoiceStatus.VOID: (),
    }
)
MAX_REASON_LENGTH = 2000
NUMBER_DIGITS = 6


@transaction.atomic
def invoice_issue(*, invoice: TenantInvoice, actor: str) -> TenantInvoice:
    """Issue a draft: the next number of the year (UTC) is assigned and the content frozen,
    with the seller's and the buyer's details as they are now and the due date. Its receivable
    push and its email are queued for when the issue commits."""
    locked = _locked_for(invoice, ISSUE)
    now = timezone.now()
    locked.number = _next_number(now)
    locked.status = InvoiceStatus.ISSUED
    locked.issued_at = now
    locked.parties = frozen_parties(locked.tenant_id)
    locked.due_on = due_on_for(tenant_id=locked.tenant_id, issued_on=now.astimezone(dt.UTC).date())
    locked.save(update_fields=["number", "status", "issued_at", "parties", "due_on", "updated_at"])
    _event(
        locked,
        InvoiceEventType.ISSUED,
        actor,
        {"number": locked.number, "due_on": locked.due_on.isoformat()},
    )
    _announce(locked, "invoice.issued")
    # Delivered once the issue commits: a receivable to finance, the PDF by email.
    receivable_queue(invoice=locked)
    document_email_queue(invoice=locked, actor=actor)
    if locked.amount_due_cents <= 0:
        _settled_by_credit(locked, actor, now)
    return locked


@transaction.atomic
def invoice_mark_paid(
    *, invoice: TenantInvoice, actor: str, paid_at: dt.datetime | None = None
) -> TenantInvoice:
    """Record the payment of an issued invoice.

    `paid_at` defaults to now. A payment cannot predate the invoice: its UTC day is not before
    the day the invoice was issued, and it is not in the future beyond
    INVOICE_PAID_AT_LEEWAY_SECONDS (another system's clock may run a little ahead). Anything
    else is a 400 naming `paid_at`, with nothing written — for the API, the admin action and
    every other caller alike.
    """
    _require_aware(paid_at)
    locked = _locked_for(invoice, MARK_PAID)
    paid_at = _paid_at(paid_at, locked)
    locked.status = InvoiceStatus.PAID
    locked.paid_at = paid_at
    locked.save(update_fields=["status", "paid_at", "updated_at"])
    _event(locked, InvoiceEventType.PAID, actor, {"paid_at": paid_at.isoformat()})
    _announce(locked, "invoice.paid")
    invoice_settled(invoice=locked, actor=actor)
    return locked


def _settled_by_credit(invoice: TenantInvoice, actor: str, now: dt.datetime) -> None:
    """An invoice whose adjustment-note credit covers it entirely has nothing left to pay: it is
    paid when issued (event `paid`, settled by credit), so nothing dunns it."""
    invoice.status = InvoiceStatus.PAID
    invoice.paid_at = now
    invoice.save(update_fields=["status", "paid_at", "updated_at"])
    _event(
        invoice,
        InvoiceEventType.PAID,
        actor,
        {"paid_at": now.isoformat(), "settled_by": "credit", "credit_cents": invoice.credit_cents},
    )
    _announce(invoice, "invoice.paid")
    invoice_settled(invoice=invoice, actor=actor)


def invoice_settled(*, invoice: TenantInvoice, actor: str) -> None:
    """The ONE hook for "this invoice is settled": mark paid calls it, and so does issuing an
    invoice its credit covers entirely. Dunning (a floor above) reinstates what it moved, after
    the commit, by task name."""
    enqueue_on_commit("dunning.invoice_settled", invoice.pk, actor=actor)


@transaction.atomic
def invoice_void(*, invoice: TenantInvoice, actor: str, reason: str) -> TenantInvoice:
    """Void a draft or issued invoice. The reason is required; an issued one keeps its number
    (numbers stay gapless: a void invoice is still accounted for)."""
    reason = _reason(reason)
    locked = _locked_for(invoice, VOID)
    if CreditNote.objects.filter(invoice=locked).exists():
        raise Conflict(
            f"invoice {locked.number} has adjustment notes: it is corrected by notes, not "
            "voided (void is for an invoice sent in error before any note or payment)"
        )
    previous = locked.status
    locked.status = InvoiceStatus.VOID
    locked.voided_at = timezone.now()
    locked.void_reason = reason
    locked.save(update_fields=["status", "voided_at", "void_reason", "updated_at"])
    # A void invoice is no revenue: its margin summary rows go in the same transaction.
    revenue_summary_refresh(period=locked.period_start, tenant_ids=[locked.tenant_id])
    _event(locked, InvoiceEventType.VOIDED, actor, {"reason": reason, "was": previous})
    _announce(locked, "invoice.voided")
    return locked


def allowed_actions(status: str) -> tuple[str, ...]:
    return ALLOWED_ACTIONS[InvoiceStatus(status)]


def _locked_for(invoice: TenantInvoice, action: str) -> TenantInvoice:
    """The invoice locked, or a 422 when `action` is not allowed from its current status."""
    locked = lock_invoice(invoice.pk)
    allowed = allowed_actions(locked.status)
    if action not in allowed:
        raise InvalidStateChange(
            f"invoice {locked} is {locked.status}: it cannot {action.replace('_', ' ')}; "
            f"allowed from {locked.status}: {', '.join(allowed) or 'nothing (final status)'}",
            extra={"status": locked.status, "allowed": list(allowed)},
        )
    return locked


def _next_number(now: dt.datetime) -> str:
    """`ARC-2026-000042`: the prefix from settings, the UTC year of issue, a per-year sequence."""
    year = now.astimezone(dt.UTC).year
    counter = lock_number_counter(settings.INVOICE_NUMBER_PREFIX, year)
    counter.last_number += 1
    counter.save(update_fields=["last_number"])
    return f"{counter.prefix}-{year}-{counter.last_number:0{NUMBER_DIGITS}d}"


def _require_aware(value: object) -> None:
    if value is not None and (not isinstance(value, dt.datetime) or timezone.is_naive(value)):
        raise field_error("paid_at", "must be a date and time with a time zone")


def _paid_at(value: dt.datetime | None, invoice: TenantInvoice) -> dt.datetime:
    """The payment time checked against the invoice's issue day and the clock (see above)."""
    now = timezone.now()
    if value is None:
        return now
    leeway = dt.timedelta(seconds=settings.INVOICE_PAID_AT_LEEWAY_SECONDS)
    if value > now + leeway:
        raise field_error(
            "paid_at",
            f"{value.isoformat()} is in the future; a payment is recorded once it has arrived "
            f"(at most {_duration(leeway)} ahead of the server clock, {now.isoformat()})",
        )
    issued_on = _issued_on(invoice)
    if value.astimezone(dt.UTC).date() < issued_on:
        raise field_error(
            "paid_at",
            f"{value.isoformat()} is before invoice {invoice.number} was issued on "
            f"{issued_on.isoformat()} (UTC); a payment cannot predate its invoice",
        )
    return value


def _issued_on(invoice: TenantInvoice) -> dt.date:
    """The UTC day the invoice was issued. A row issued without `issued_at` (written by hand)
    was at the earliest issued the day after its month ended: only finished months are
    invoiced."""
    if invoice.issued_at is not None:
        return invoice.issued_at.astimezone(dt.UTC).date()
    return invoice.period_end + dt.timedelta(days=1)


def _duration(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 60:
        return f"{seconds} seconds"
    return f"{seconds // 60} minute{'s' if seconds != 60 else ''}"


def _reason(value: object) -> str:
    reason = value.strip() if isinstance(value, str) else ""
    if not reason:
        raise field_error("reason", "a void needs a reason (what was wrong with the invoice)")
    if len(reason) > MAX_REASON_LENGTH:
        raise field_error("reason", f"must be at most {MAX_REASON_LENGTH} characters")
    return reason


def _announce(invoice: TenantInvoice, event_type: str) -> None:
    """The tenant's webhooks hear of the change once it commits (payload version in
    webhooks.events)."""
    webhook_event_emit(
        tenant_id=invoice.tenant_id,
        event_type=event_type,
        data={
            "invoice_id": invoice.pk,
            "number": invoice.number,
            "status": invoice.status,
            "period_start": invoice.period_start.isoformat(),
            "currency": invoice.currency,
            "total_cents": invoice.total_cents,
            "amount_due_cents": invoice.amount_due_cents,
            "due_on": invoice.due_on.isoformat() if invoice.due_on else None,
        },
    )


def _event(invoice: TenantInvoice, type_: str, actor: str, details: dict) -> None:
    TenantInvoiceEvent.objects.create(invoice=invoice, type=type_, actor=actor, details=details)
