"""Tax invoices and adjustment notes as documents: ONE template, rendered to HTML (the admin's
document view, `GET /api/v1/invoices/{id}/document`) and to PDF by WeasyPrint (`…/pdf`).

What the ATO requires of a tax invoice is on every one: the words "Tax invoice", the seller's
identity and ABN, the date of issue, the buyer's identity (and ABN when it has one), what was
supplied with quantity and price, the GST and the total (GST-inclusive). An adjustment note says
it is one, shows the seller's ABN, the original invoice's number and date, and the effect on the
GST. Issued documents read only what was frozen on them (`parties`); a draft shows today's
details, a DRAFT watermark and no number.
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict

from django.template.loader import render_to_string

from arcadia_cloud.money import cents_to_units, format_decimal
from invoicing.credit_notes.selectors import credit_notes_list
from invoicing.documents.parties import frozen_parties
from invoicing.invoices.terms import due_on_for
from invoicing.models import CreditNote, InvoiceLineKind, InvoiceStatus, TenantInvoice

TEMPLATE = "invoicing/documents/document.html"
PDF_CONTENT_TYPE = "application/pdf"
TENANT_LEVEL = "Account"


def money(cents: int, currency: str) -> str:
    """12345 → "AUD 123.45" (currency units, two places, thousands grouped)."""
    units = cents_to_units(cents)
    return f"{currency} {units:,.2f}"


def _abn(abn: str) -> str:
    digits = "".join(ch for ch in abn or "" if ch.isdigit())
    if len(digits) != 11:
        return abn or ""
    return f"{digits[:2]} {digits[2:5]} {digits[5:8]} {digits[8:]}"


def _party(details: dict) -> dict:
    return {**details, "abn_display": _abn(details.get("abn", ""))}


def _day(value: dt.datetime | None) -> dt.date | None:
    return value.astimezone(dt.UTC).date() if value is not None else None


def invoice_context(invoice: TenantInvoice) -> dict:
    """Everything the template shows of an invoice (lines with their deployment prefetched)."""
    currency = invoice.currency
    is_draft = invoice.status == InvoiceStatus.DRAFT
    parties = invoice.parties or frozen_parties(invoice.tenant_id)
    groups: OrderedDict[str, list[dict]] = OrderedDict()
    tax_label, credits = "GST", []
    for line in invoice.lines.all():
        if line.kind == InvoiceLineKind.TAX:
            tax_label = (line.meta or {}).get("label", tax_label)
            continue
        row = {
            "description": line.description,
            "qty": format_decimal(line.qty),
            "unit": line.unit,
            "unit_price": money(line.unit_price_cents, currency),
            "amount": money(line.amount_cents, currency),
        }
        if line.kind == InvoiceLineKind.CREDIT:
            credits.append(row)
            continue
        group = line.deployment.slug if line.deployment_id else TENANT_LEVEL
        groups.setdefault(group, []).append(row)
    notes = list(credit_notes_list().filter(invoice=invoice)) if not is_draft else []
    credited = sum(note.total_cents for note in notes)
    issued_on = _day(invoice.issued_at)
    due_on = invoice.due_on
    if due_on is None and issued_on is not None:
        due_on = due_on_for(tenant_id=invoice.tenant_id, issued_on=issued_on)
    return {
        "kind": "invoice",
        "title": "Tax invoice",
        "is_draft": is_draft,
        "is_void": invoice.status == InvoiceStatus.VOID,
        "number": None if is_draft else invoice.number,
        "issued_on": issued_on,
        "due_on": due_on,
        "period_start": invoice.period_start,
        "period_end": invoice.period_end,
        "seller": _party(parties["seller"]),
        "buyer": _party(parties["buyer"]),
        "currency": currency,
        "groups": list(groups.items()),
        "tax_label": tax_label,
        "subtotal": money(invoice.subtotal_cents, currency),
        "tax": money(invoice.tax_cents, currency),
        "total": money(invoice.total_cents, currency),
        "credits": credits,
        "credit": money(invoice.credit_cents, currency) if invoice.credit_cents else None,
        "amount_due": money(invoice.amount_due_cents, currency),
        "notes": [
            {"number": note.number, "total": money(note.total_cents, currency)} for note in notes
        ],
        "net": money(invoice.total_cents - credited, currency) if notes else None,
        "status": invoice.status,
    }


def note_context(note: CreditNote) -> dict:
    """Everything the template shows of an adjustment note."""
    currency = note.currency
    invoice = note.invoice
    rows = [
        {
            "description": line.description,
            "qty": "1",
            "unit": "adjustment",
            "unit_price": money(line.amount_cents, currency),
            "amount": money(line.amount_cents, currency),
        }
        for line in note.lines.all()
    ]
    return {
        "kind": "note",
        "title": "Adjustment note",
        "is_draft": False,
        "is_void": False,
        "number": note.number,
        "issued_on": _day(note.issued_at),
        "due_on": None,
        "original_number": invoice.number,
        "original_issued_on": _day(invoice.issued_at),
        "reason": note.reason,
        "settlement": note.settlement,
        "refund_reference": note.refund_reference,
        "refunded_on": note.refunded_on,
        "seller": _party(note.parties["seller"]),
        "buyer": _party(note.parties["buyer"]),
        "currency": currency,
        "groups": [("Credited", rows)],
        "tax_label": "GST",
        "subtotal": money(note.subtotal_cents, currency),
        "tax": money(note.tax_cents, currency),
        "total": money(note.total_cents, currency),
        "credits": [],
        "credit": None,
        "amount_due": None,
        "notes": [],
        "net": None,
        "status": "issued",
    }


def render_html(context: dict) -> str:
    return render_to_string(TEMPLATE, context)


def render_pdf(context: dict) -> bytes:
    """The same HTML as a PDF (WeasyPrint; needs Pango, which bin/test and the image install)."""
    from weasyprint import HTML  # imported on use: Pango is loaded only by what renders PDFs

    return HTML(string=render_html(context)).write_pdf()


def pdf_filename(context: dict) -> str:
    label = context["number"] or f"draft-{context['period_start']:%Y-%m}"
    return f"{label}.pdf"
