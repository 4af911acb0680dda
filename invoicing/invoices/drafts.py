"""The shapes an invoice is built from before it is written: the billed month and the priced
lines, shared by the rollup and the late-usage pass (`invoicing.invoices.late_usage`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from invoicing.models import TenantInvoice, TenantInvoiceLine

LINE_QTY_PLACES = Decimal("1E-9")  # tenant_invoice_lines.qty holds 9 decimal places
CENTS_PER_UNIT = 100
LLM_RESOURCE_KIND = "llm_tokens"


class RollupError(Exception):
    """A tenant cannot be invoiced as its data stands; the message says what to fix."""


@dataclass(frozen=True)
class Period:
    start: dt.date
    end: dt.date  # inclusive

    @property
    def label(self) -> str:
        return f"{self.start:%Y-%m}"


@dataclass(frozen=True)
class LineDraft:
    """A line to persist: a quote line, plus what it bills (deployment, subscription)."""

    kind: str
    resource_kind: str | None
    description: str
    qty: Decimal
    unit: str
    unit_price_cents: int
    amount_cents: int
    meta: dict[str, Any]
    deployment_id: int | None = None
    subscription_id: int | None = None

    def __post_init__(self) -> None:
        if self.qty != self.qty.quantize(LINE_QTY_PLACES):
            raise RollupError(
                f"line {self.description!r}: qty {self.qty} has more than 9 decimal places"
            )

    def to_model(self, invoice: TenantInvoice, position: int) -> TenantInvoiceLine:
        return TenantInvoiceLine(
            invoice=invoice,
            position=position,
            kind=self.kind,
            deployment_id=self.deployment_id,
            subscription_id=self.subscription_id,
            resource_kind=self.resource_kind,
            description=self.description,
            qty=self.qty,
            unit=self.unit,
            unit_price_cents=self.unit_price_cents,
            amount_cents=self.amount_cents,
            meta=self.meta,
        )
