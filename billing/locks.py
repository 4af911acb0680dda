"""Locks of the provider-billing app, taken here and nowhere else (the order across apps:
docs/CONVENTIONS.md, "Lock order")."""

from __future__ import annotations

from arcadia_cloud.locks import advisory_xact_lock
from billing.models import CloudInvoice

HISTORY_SYNC_LOCK = "billing:history-sync"


def lock_history_sync() -> None:
    """Until the transaction ends, no other billing-history sync writes headers: two at once
    would both insert the new ones."""
    advisory_xact_lock(HISTORY_SYNC_LOCK)


def lock_cloud_invoice(invoice_id: int) -> CloudInvoice:
    return CloudInvoice.objects.select_for_update().get(pk=invoice_id)


DAILY_COSTS_LOCK = "billing:daily-costs"


def lock_daily_costs() -> None:
    """Until the transaction ends, no other daily-cost ingest replaces days: two at once would
    both delete a day's rows and insert their sets (the unique (day, position) would fail one
    of them, or worse, a mix would stand)."""
    advisory_xact_lock(DAILY_COSTS_LOCK)
