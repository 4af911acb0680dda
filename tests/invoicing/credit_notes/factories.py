"""Builders for adjustment-note tests: an issued invoice of a known amount."""

from __future__ import annotations

import datetime as dt

from invoicing.invoices.lifecycle import invoice_issue
from invoicing.models import TenantInvoice
from tests.invoicing.factories import ACTOR, APRIL, make_invoice


def issued_invoice(
    tenant_id: str,
    *,
    subtotal_cents: int = 12_345,
    tax_cents: int = 1_235,
    period_start: dt.date = APRIL,
) -> TenantInvoice:
    """A draft of one usage line and a 10% GST line, issued through the real service."""
    draft = make_invoice(
        tenant_id, period_start=period_start, subtotal_cents=subtotal_cents, tax_cents=tax_cents
    )
    return invoice_issue(invoice=draft, actor=ACTOR)


def usage_line(invoice: TenantInvoice):
    return invoice.lines.get(kind="usage")
