"""Month-end rollup, in four parts: inputs, pricing, writing and the report (see `service`)."""

from invoicing.invoices.rollup.report import (
    CurrencyTotals,
    RollupOutcome,
    RollupReport,
    TenantResult,
)
from invoicing.invoices.rollup.service import RUN_ERRORS, roll_up_period

__all__ = [
    "RUN_ERRORS",
    "CurrencyTotals",
    "RollupOutcome",
    "RollupReport",
    "TenantResult",
    "roll_up_period",
]
