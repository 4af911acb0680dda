"""Receivables to finance: each issued invoice and adjustment note POSTed to
`FINANCE_URL` + `/api/v1/integrations/cloud/import-receivable`, with the same service JWT as
the COGS push (`billing.services.finance_post`).

Exactly once, whatever the retries: issuing writes ONE `receivable_pushes` row per document (in
the issuing transaction) and queues `invoicing.push_receivable` on commit; finance upserts on
(source, external_id) and answers created / updated; the request carries an Idempotency-Key
of the document and payload; a payload finance already accepted is not sent again unless
forced. 5xx, 429, timeouts and unreadable answers raise `FinanceUnavailable` (the task retries
with backoff); any other 4xx is stored as `last_error` (status `rejected`) for an operator's
*Push again*. Payments marked in finance come back through `POST /api/v1/invoices/{id}/mark-paid`.
"""

from __future__ import annotations

import logging
from typing import Any

from django.utils import timezone

from arcadia_cloud.celery import enqueue_on_commit
from billing.services import (
    FinanceUnavailable,
    finance_base_url,
    finance_post,
    payload_hash,
    response_excerpt,
)
from invoicing.models import (
    CreditNote,
    DocumentType,
    InvoiceLineKind,
    ReceivablePush,
    ReceivableStatus,
    TenantInvoice,
)

logger = logging.getLogger(__name__)

IMPORT_PATH = "/api/v1/integrations/cloud/import-receivable"
SOURCE = "arcadia-cloud"
PUSH_TASK = "invoicing.push_receivable"


def receivable_queue(
    *, invoice: TenantInvoice | None = None, credit_note: CreditNote | None = None
) -> ReceivablePush:
    """The document's one push row (created on first call), queued on commit."""
    if invoice is not None:
        push, _ = ReceivablePush.objects.get_or_create(
            invoice=invoice,
            defaults={"document_type": DocumentType.INVOICE, "external_id": invoice.number},
        )
    else:
        push, _ = ReceivablePush.objects.get_or_create(
            credit_note=credit_note,
            defaults={"document_type": DocumentType.CREDIT_NOTE, "external_id": credit_note.number},
        )
    enqueue_on_commit(PUSH_TASK, push.pk)
    return push


def receivable_push_again(*, push: ReceivablePush, actor: str) -> ReceivablePush:
    """An operator's *Push again*: sent even when finance has this payload already."""
    logger.info("receivable %s pushed again by %s", push.external_id, actor)
    ReceivablePush.objects.filter(pk=push.pk).update(status=ReceivableStatus.PENDING)
    enqueue_on_commit(PUSH_TASK, push.pk, force=True)
    push.refresh_from_db()
    return push


def receivable_payload(push: ReceivablePush) -> dict[str, Any]:
    """What finance imports: the document, its customer, dates, amounts in minor units, lines."""
    if push.document_type == DocumentType.INVOICE:
        invoice = push.invoice
        buyer = invoice.parties.get("buyer", {})
        lines = [
            {"kind": line.kind, "description": line.description, "net_minor": line.amount_cents}
            for line in invoice.lines.order_by("position")
            if line.kind not in (InvoiceLineKind.TAX, InvoiceLineKind.CREDIT)
        ]
        return {
            "source": SOURCE,
            "type": DocumentType.INVOICE.value,
            "external_id": invoice.number,
            "customer": _customer(invoice.tenant_id, buyer),
            "issue_date": invoice.issued_at.date().isoformat(),
            "due_date": invoice.due_on.isoformat() if invoice.due_on else None,
            "period": invoice.period_start.isoformat(),
            "currency": invoice.currency,
            "amount_net_minor": invoice.subtotal_cents,
            "amount_tax_minor": invoice.tax_cents,
            "amount_gross_minor": invoice.total_cents,
            "credit_applied_minor": invoice.credit_cents,
            "lines": lines,
        }
    note = push.credit_note
    buyer = note.parties.get("buyer", {})
    return {
        "source": SOURCE,
        "type": DocumentType.CREDIT_NOTE.value,
        "external_id": note.number,
        "adjusts_external_id": note.invoice.number,
        "customer": _customer(note.tenant_id, buyer),
        "issue_date": note.issued_at.date().isoformat(),
        "due_date": None,
        "currency": note.currency,
        "settlement": note.settlement,
        "amount_net_minor": note.subtotal_cents,
        "amount_tax_minor": note.tax_cents,
        "amount_gross_minor": note.total_cents,
        "lines": [
            {"description": line.description, "net_minor": line.amount_cents}
            for line in note.lines.order_by("position")
        ],
    }


def _customer(tenant_id: str, buyer: dict) -> dict[str, str]:
    return {
        "tenant_id": tenant_id,
        "legal_name": buyer.get("legal_name") or tenant_id,
        "abn": buyer.get("abn", ""),
    }


def receivable_push(*, push_id: int, force: bool = False) -> ReceivablePush:
    """Send the document to finance and record the outcome (see the module docstring). Holds
    no lock and no transaction while finance answers: each step is one UPDATE of the push row,
    committed, so a failure a retry follows is still on record (like the COGS push)."""
    push = ReceivablePush.objects.select_related("invoice", "credit_note__invoice").get(pk=push_id)
    base_url = finance_base_url()
    if not base_url:
        return _record(push, status=ReceivableStatus.SKIPPED, last_error="FINANCE_URL is not set")
    payload = receivable_payload(push)
    digest = payload_hash(payload)
    if not force and push.status == ReceivableStatus.PUSHED and push.payload_hash == digest:
        return push
    _record(push, attempts=push.attempts + 1)
    try:
        response = finance_post(
            base_url + IMPORT_PATH,
            payload,
            idempotency_key=f"{SOURCE}:{push.document_type}:{push.external_id}:{digest[:16]}",
        )
    except FinanceUnavailable as exc:
        _record(push, status=ReceivableStatus.PENDING, last_error=str(exc))
        raise
    if response.status_code >= 500 or response.status_code == 429:
        message = f"finance answered HTTP {response.status_code} {response_excerpt(response)}"
        _record(push, status=ReceivableStatus.PENDING, last_error=f"{message}; will retry")
        raise FinanceUnavailable(message)
    if response.status_code >= 400:
        message = (
            f"finance rejected the {push.document_type}: HTTP {response.status_code} "
            f"{response_excerpt(response)}"
        )
        return _record(push, status=ReceivableStatus.REJECTED, last_error=message)
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        message = f"finance answered HTTP {response.status_code} without a JSON object; will retry"
        _record(push, status=ReceivableStatus.PENDING, last_error=message)
        raise FinanceUnavailable(message)
    finance_id = body.get("id", body.get("receivable_id"))
    return _record(
        push,
        status=ReceivableStatus.PUSHED,
        finance_status=str(body.get("status") or "accepted")[:32],
        finance_id="" if finance_id is None else str(finance_id)[:100],
        payload_hash=digest,
        pushed_at=timezone.now(),
        last_error="",
    )


def _record(push: ReceivablePush, **fields: Any) -> ReceivablePush:
    fields["updated_at"] = timezone.now()
    ReceivablePush.objects.filter(pk=push.pk).update(**fields)
    for name, value in fields.items():
        setattr(push, name, value)
    return push
