"""Reads of the dunning domain: aged receivables and each deployment's dunning history."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import QuerySet

from dunning.models import DunningStep
from invoicing.models import InvoiceStatus, TenantInvoice

BUCKETS = ("current", "days_1_30", "days_31_60", "days_61_90", "days_over_90")


@dataclass
class ReceivablesRow:
    tenant_id: str
    currency: str
    current: int = 0
    days_1_30: int = 0
    days_31_60: int = 0
    days_61_90: int = 0
    days_over_90: int = 0
    invoices: int = 0

    @property
    def total(self) -> int:
        return sum(getattr(self, bucket) for bucket in BUCKETS)

    def as_dict(self) -> dict:
        return {
            "tenant_id": self.tenant_id,
            "currency": self.currency,
            **{f"{bucket}_cents": getattr(self, bucket) for bucket in BUCKETS},
            "total_cents": self.total,
            "invoices": self.invoices,
        }


def bucket_of(days_overdue: int) -> str:
    """current: not yet past its due date; then 1-30, 31-60, 61-90 and over 90 days overdue."""
    if days_overdue <= 0:
        return "current"
    if days_overdue <= 30:
        return "days_1_30"
    if days_overdue <= 60:
        return "days_31_60"
    if days_overdue <= 90:
        return "days_61_90"
    return "days_over_90"


def aged_receivables(*, today: dt.date, tenant_id: str | None = None) -> list[ReceivablesRow]:
    """What is owed (issued, unpaid invoices) per tenant and currency, by age past due.

    An invoice issued before due dates existed (no `due_on`) ages from its period's end."""
    invoices = TenantInvoice.objects.filter(status=InvoiceStatus.ISSUED)
    if tenant_id is not None:
        invoices = invoices.filter(tenant_id=tenant_id)
    rows: dict[tuple[str, str], ReceivablesRow] = {}
    for tenant, currency, due_on, period_end, total, credit in invoices.values_list(
        "tenant_id", "currency", "due_on", "period_end", "total_cents", "credit_cents"
    ).order_by("tenant_id", "currency"):
        row = rows.setdefault((tenant, currency), ReceivablesRow(tenant, currency))
        bucket = bucket_of((today - (due_on or period_end)).days)
        # What is owed is the amount due: the total less the credit the invoice consumed.
        setattr(row, bucket, getattr(row, bucket) + total - credit)
        row.invoices += 1
    return [rows[key] for key in sorted(rows)]


def dunning_history(deployment_id: int) -> QuerySet[DunningStep]:
    return (
        DunningStep.objects.filter(deployment_id=deployment_id)
        .select_related("invoice")
        .order_by("recorded_at", "id")
    )
