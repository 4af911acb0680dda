"""Every write of the billing app (SPEC §5, §6). Import services from here."""

from billing.services.balance import balance_snapshot_fetch
from billing.services.daily import (
    DailyCostsRejected,
    DailyIngestResult,
    billing_account_urn,
    daily_cost_rows_build,
    daily_costs_ingest,
    daily_default_range,
    daily_range_clean,
)
from billing.services.enqueue import (
    daily_costs_ingest_enqueue,
    finance_push_enqueue,
    invoice_ingest_enqueue,
)
from billing.services.finance import (
    FinancePushResult,
    FinanceUnavailable,
    finance_base_url,
    finance_payload,
    finance_post,
    finance_push,
    payload_hash,
    response_excerpt,
)
from billing.services.history import HistorySyncResult, billing_history_sync
from billing.services.ingest import (
    IngestResult,
    InvoiceDoesNotAddUp,
    InvoiceRejected,
    InvoiceUnreadable,
    cost_lines_build,
    invoice_ingest,
)

__all__ = [
    "DailyCostsRejected",
    "DailyIngestResult",
    "FinancePushResult",
    "FinanceUnavailable",
    "HistorySyncResult",
    "IngestResult",
    "InvoiceDoesNotAddUp",
    "InvoiceRejected",
    "InvoiceUnreadable",
    "balance_snapshot_fetch",
    "billing_account_urn",
    "billing_history_sync",
    "cost_lines_build",
    "daily_cost_rows_build",
    "daily_costs_ingest",
    "daily_costs_ingest_enqueue",
    "daily_default_range",
    "daily_range_clean",
    "finance_base_url",
    "finance_payload",
    "finance_post",
    "finance_push",
    "finance_push_enqueue",
    "invoice_ingest",
    "invoice_ingest_enqueue",
    "payload_hash",
    "response_excerpt",
]
