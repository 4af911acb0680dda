"""What a rollup did, tenant by tenant: the report the task returns and the command prints."""

from __future__ import annotations

import datetime as dt
import enum
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from invoicing.models import TenantInvoice
from pricing.tenant import TenantPrice


class RollupOutcome(enum.StrEnum):
    INVOICED = "invoiced"  # a new draft invoice was written
    REGENERATED = "regenerated"  # force: the existing draft was rewritten
    SKIPPED = "skipped"  # an invoice already exists (no force)
    LEFT_ALONE = "left_alone"  # force, but the invoice is issued, paid or void
    FAILED = "failed"  # nothing written; see the reason; the next run retries
    NOTHING_TO_BILL = "nothing_to_bill"  # a tenant asked for has no subscription in the period


WRITTEN = (RollupOutcome.INVOICED, RollupOutcome.REGENERATED)


@dataclass(frozen=True)
class TenantResult:
    """What the rollup did for one tenant; amounts are those of the invoice it found or wrote."""

    tenant_id: str
    outcome: RollupOutcome
    invoice_id: int | None = None
    invoice_status: str | None = None
    currency: str | None = None
    subtotal_cents: int | None = None
    tax_cents: int | None = None
    total_cents: int | None = None
    reason: str = ""
    warnings: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "outcome": str(self.outcome),
            "invoice_id": self.invoice_id,
            "invoice_status": self.invoice_status,
            "currency": self.currency,
            "subtotal_cents": self.subtotal_cents,
            "tax_cents": self.tax_cents,
            "total_cents": self.total_cents,
            "reason": self.reason,
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TenantResult:
        """The inverse of `as_dict` (a fanned-out run stores its chunks' results as dicts)."""
        return cls(
            **{
                **data,
                "outcome": RollupOutcome(data["outcome"]),
                "warnings": tuple(data["warnings"]),
            }
        )


@dataclass(frozen=True)
class CurrencyTotals:
    currency: str
    invoices: int
    subtotal_cents: int
    tax_cents: int
    total_cents: int


@dataclass(frozen=True)
class RollupReport:
    period_start: dt.date
    period_end: dt.date
    force: bool
    results: tuple[TenantResult, ...]

    @classmethod
    def of(
        cls,
        month_start: dt.date,
        month_end: dt.date,
        *,
        force: bool,
        results: Iterable[TenantResult],
    ) -> RollupReport:
        """A report of these results in tenant order (a tenant's result once)."""
        by_tenant = {result.tenant_id: result for result in results}
        return cls(
            period_start=month_start,
            period_end=month_end,
            force=force,
            results=tuple(by_tenant[tenant_id] for tenant_id in sorted(by_tenant)),
        )

    def with_outcome(self, outcome: RollupOutcome) -> tuple[TenantResult, ...]:
        return tuple(result for result in self.results if result.outcome == outcome)

    @property
    def invoiced(self) -> tuple[TenantResult, ...]:
        return self.with_outcome(RollupOutcome.INVOICED)

    @property
    def regenerated(self) -> tuple[TenantResult, ...]:
        return self.with_outcome(RollupOutcome.REGENERATED)

    @property
    def skipped(self) -> tuple[TenantResult, ...]:
        return self.with_outcome(RollupOutcome.SKIPPED)

    @property
    def left_alone(self) -> tuple[TenantResult, ...]:
        return self.with_outcome(RollupOutcome.LEFT_ALONE)

    @property
    def failed(self) -> tuple[TenantResult, ...]:
        return self.with_outcome(RollupOutcome.FAILED)

    @property
    def nothing_to_bill(self) -> tuple[TenantResult, ...]:
        return self.with_outcome(RollupOutcome.NOTHING_TO_BILL)

    def totals_by_currency(self) -> tuple[CurrencyTotals, ...]:
        """Totals of the invoices this run wrote (invoiced and regenerated), per currency."""
        sums: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        for result in self.results:
            if result.outcome in WRITTEN and result.currency:
                entry = sums[result.currency]
                entry[0] += 1
                entry[1] += result.subtotal_cents or 0
                entry[2] += result.tax_cents or 0
                entry[3] += result.total_cents or 0
        return tuple(CurrencyTotals(currency, *values) for currency, values in sorted(sums.items()))

    def summary(self) -> str:
        counts = ", ".join(
            f"{len(self.with_outcome(outcome))} {outcome.replace('_', ' ')}"
            for outcome in RollupOutcome
        )
        return f"rollup {self.period_start:%Y-%m}{' (force)' if self.force else ''}: {counts}"

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe, for the Celery task's result."""
        return {
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "force": self.force,
            "counts": {str(o): len(self.with_outcome(o)) for o in RollupOutcome},
            "totals_by_currency": [vars(totals) for totals in self.totals_by_currency()],
            "tenants": [result.as_dict() for result in self.results],
        }


def found(outcome: RollupOutcome, invoice: TenantInvoice, reason: str = "") -> TenantResult:
    """An invoice the run found, with its own amounts."""
    return TenantResult(
        tenant_id=invoice.tenant_id,
        outcome=outcome,
        invoice_id=invoice.pk,
        invoice_status=invoice.status,
        currency=invoice.currency,
        subtotal_cents=invoice.subtotal_cents,
        tax_cents=invoice.tax_cents,
        total_cents=invoice.total_cents,
        reason=reason,
    )


def written(outcome: RollupOutcome, invoice: TenantInvoice, priced: TenantPrice) -> TenantResult:
    """An invoice the run wrote, with the amounts it priced."""
    return TenantResult(
        tenant_id=priced.tenant_id,
        outcome=outcome,
        invoice_id=invoice.pk,
        invoice_status=invoice.status,
        currency=priced.currency,
        subtotal_cents=priced.subtotal_cents,
        tax_cents=priced.tax_cents,
        total_cents=priced.total_cents,
        warnings=priced.warnings,
    )
