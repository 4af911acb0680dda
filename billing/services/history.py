"""Billing history → invoice headers, and the ingest of every invoice not yet ingested.

Period: DigitalOcean issues a month's invoice at the start of the next month and dates its
billing-history entry then (the emulator: 00:00 UTC on the 1st), so the billed period is the
month BEFORE the entry's date. The ingest later confirms it from the invoice summary's
`billing_period` (authoritative when present); a later history sync never overwrites a period.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from arcadia_cloud.periods import previous_month
from billing.locks import lock_history_sync
from billing.models import USD, CloudInvoice
from billing.services.enqueue import invoice_ingest_enqueue
from integrations.digitalocean import DigitalOceanClient

logger = logging.getLogger(__name__)

INVOICE_ENTRY_TYPE = "invoice"
# Header fields billing history owns; everything else on the row belongs to ingest / finance.
HEADER_FIELDS = ("invoice_id", "description", "issued_at", "amount")


@dataclass(frozen=True)
class InvoiceHeader:
    invoice_uuid: str
    invoice_id: str
    description: str
    issued_at: dt.datetime
    amount: Decimal

    @property
    def period(self) -> dt.date:
        return previous_month(self.issued_at.astimezone(dt.UTC).date())


@dataclass
class HistorySyncResult:
    listed: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: list[str] = field(default_factory=list)
    to_ingest: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = (
            f"billing history: {self.listed} invoices listed, {self.created} new, "
            f"{self.updated} updated, {self.unchanged} unchanged, "
            f"{len(self.to_ingest)} to ingest"
        )
        return text + (f", {len(self.skipped)} unreadable entries skipped" if self.skipped else "")


def billing_history_sync(
    *, client: DigitalOceanClient, enqueue_ingest: bool = True
) -> HistorySyncResult:
    """Upsert a header per `Invoice` entry of billing history (payments and credits are not
    invoices) and enqueue, after commit, the ingest of every invoice not yet ingested or whose
    header changed (DigitalOcean re-issued it). `enqueue_ingest=False` leaves ingesting to the
    caller (the management command, which prints each result).

    The listing happens before the transaction opens: no row is locked while DigitalOcean
    answers.
    """
    result = HistorySyncResult()
    headers: dict[str, InvoiceHeader] = {}
    for entry in client.list_billing_history():
        if str(entry.get("type", "")).strip().lower() != INVOICE_ENTRY_TYPE:
            continue
        try:
            header = _header(entry)
        except ValueError as exc:
            logger.warning("billing history: skipping an unreadable invoice entry: %s", exc)
            result.skipped.append(str(exc))
            continue
        headers[header.invoice_uuid] = header
    result.listed = len(headers)
    _upsert_headers(headers, result, enqueue_ingest=enqueue_ingest)
    logger.info("%s", result.summary())
    return result


@transaction.atomic(durable=True)
def _upsert_headers(
    headers: dict[str, InvoiceHeader], result: HistorySyncResult, *, enqueue_ingest: bool
) -> None:
    lock_history_sync()  # two syncs at once would both insert the new headers
    existing = CloudInvoice.objects.in_bulk(list(headers), field_name="invoice_uuid")
    new = [_new_invoice(h) for uuid, h in headers.items() if uuid not in existing]
    CloudInvoice.objects.bulk_create(new)
    changed = [inv for inv in existing.values() if _apply_header(inv, headers[inv.invoice_uuid])]
    CloudInvoice.objects.bulk_update(changed, [*HEADER_FIELDS, "updated_at"])
    result.created = len(new)
    result.updated = len(changed)
    result.unchanged = len(existing) - len(changed)

    changed_uuids = {invoice.invoice_uuid for invoice in changed}
    result.to_ingest = sorted(
        uuid
        for uuid in headers
        if uuid not in existing or not existing[uuid].is_ingested or uuid in changed_uuids
    )
    if enqueue_ingest:
        invoice_ingest_enqueue(invoice_uuids=result.to_ingest)


def _header(entry: Mapping[str, Any]) -> InvoiceHeader:
    invoice_uuid = str(entry.get("invoice_uuid") or "").strip()
    if not invoice_uuid:
        raise ValueError(f"invoice entry without invoice_uuid: {dict(entry)!r}")
    raw_date = entry.get("date")
    issued_at = parse_datetime(raw_date) if isinstance(raw_date, str) else None
    if issued_at is None or issued_at.tzinfo is None:
        raise ValueError(f"invoice {invoice_uuid}: date {raw_date!r} is not an ISO 8601 time")
    raw_amount = entry.get("amount")
    try:
        amount = Decimal(str(raw_amount).strip())
    except InvalidOperation:
        amount = None
    if amount is None or isinstance(raw_amount, bool) or not amount.is_finite():
        raise ValueError(f"invoice {invoice_uuid}: amount {raw_amount!r} is not a number")
    return InvoiceHeader(
        invoice_uuid=invoice_uuid,
        invoice_id=str(entry.get("invoice_id") or ""),
        description=str(entry.get("description") or "")[:255],
        issued_at=issued_at,
        amount=amount,
    )


def _new_invoice(header: InvoiceHeader) -> CloudInvoice:
    return CloudInvoice(
        invoice_uuid=header.invoice_uuid,
        invoice_id=header.invoice_id,
        description=header.description,
        issued_at=header.issued_at,
        amount=header.amount,
        currency=USD,
        period=header.period,
    )


def _apply_header(invoice: CloudInvoice, header: InvoiceHeader) -> bool:
    """Copy the header's fields onto the row; True when something changed."""
    changed = False
    for name in HEADER_FIELDS:
        value = getattr(header, name)
        if getattr(invoice, name) != value:
            setattr(invoice, name, value)
            changed = True
    if changed:
        invoice.updated_at = timezone.now()  # bulk_update skips auto_now
    return changed
