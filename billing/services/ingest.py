"""Invoice ingest: fetch DigitalOcean's CSV, parse, classify, match, replace the line set.

Network first, then ONE short transaction: the invoice row is locked, its lines deleted and the
new set bulk-inserted, counts written, so a reader sees the old set or the new one, never a mix,
and two ingests of the same invoice serialize. A file that cannot be read changes no line: the
error is stored in `last_error` (shown in the admin) and raised.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from arcadia_cloud.bulk import bulk_insert
from arcadia_cloud.errors import ApplicationError
from arcadia_cloud.periods import parse_period
from billing.classify import classify_line
from billing.csv_parser import InvoiceCsvError, ParsedLine, parse_invoice_csv
from billing.matching import match_key, match_line
from billing.models import CloudCostLine, CloudInvoice, MatchStatus
from billing.selectors import match_candidates
from billing.services.common import invoice_error_record
from billing.services.enqueue import finance_push_enqueue
from inventory.digitalocean import DigitalOceanClient, DigitalOceanError

logger = logging.getLogger(__name__)

BULK_BATCH = 1000
ZERO = Decimal("0.00")
# What an ingest writes on the invoice row (besides updated_at).
INGEST_FIELDS = (
    "period",
    "line_count",
    "matched_count",
    "unmatched_count",
    "ambiguous_count",
    "net_amount",
    "tax_amount",
    "lines_ingested_at",
    "last_error",
)


class InvoiceUnreadable(ApplicationError):
    """DigitalOcean's file for this invoice cannot be ingested (retrying will not help)."""

    status_code = 422
    code = "invoice_unreadable"


@dataclass(frozen=True)
class IngestResult:
    invoice_uuid: str
    period: dt.date
    line_count: int
    matched: int
    unmatched: int
    ambiguous: int
    net_amount: Decimal
    tax_amount: Decimal

    @property
    def gross_amount(self) -> Decimal:
        return self.net_amount + self.tax_amount

    def summary(self) -> str:
        return (
            f"invoice {self.invoice_uuid} ({self.period:%Y-%m}): {self.line_count} lines, "
            f"{self.matched} matched, {self.unmatched} unmatched, {self.ambiguous} ambiguous; "
            f"net {self.net_amount} + tax {self.tax_amount} = {self.gross_amount} USD"
        )


def invoice_ingest(
    *, invoice: CloudInvoice, client: DigitalOceanClient, push_to_finance: bool = True
) -> IngestResult:
    """Ingest one invoice; re-running replaces its lines (never duplicates them).

    Raises InvoiceUnreadable for a malformed file and the DO client's errors for failed
    requests, after storing the reason in `last_error`; the previous lines stay. On success
    the finance push is queued after commit (unless `push_to_finance=False`).
    """
    try:
        summary = client.get_invoice_summary(invoice.invoice_uuid)
        parsed = parse_invoice_csv(client.get_invoice_csv(invoice.invoice_uuid))
    except InvoiceCsvError as exc:
        message = f"invoice CSV is malformed, previous lines kept: {exc.message}"
        invoice_error_record(invoice=invoice, message=message)
        raise InvoiceUnreadable(message, fields={exc.column or "csv": [exc.message]}) from exc
    except DigitalOceanError as exc:
        invoice_error_record(invoice=invoice, message=f"ingest failed, previous lines kept: {exc}")
        raise
    lines = cost_lines_build(parsed)
    result = _replace_lines(
        invoice,
        lines,
        period=_summary_period(summary, invoice),
        push_to_finance=push_to_finance,
    )
    logger.info("%s", result.summary())
    return result


def cost_lines_build(parsed: Sequence[ParsedLine]) -> list[CloudCostLine]:
    """Classify and match parsed lines (unsaved rows; no invoice yet). The candidates of all
    lines are loaded at once: a few queries per invoice, not one per line."""
    classes = [classify_line(line.product, line.description) for line in parsed]
    keys = {key for key in map(match_key, classes) if key is not None}
    candidates = match_candidates(keys)
    rows = []
    for line, line_class in zip(parsed, classes, strict=True):
        verdict = match_line(
            line_class,
            product=line.product,
            description=line.description,
            start=line.start_at,
            end=line.end_at,
            candidates=candidates,
        )
        rows.append(
            CloudCostLine(
                line_number=line.line_number,
                product=line.product,
                group_description=line.group_description,
                description=line.description,
                hours=line.hours,
                start_at=line.start_at,
                end_at=line.end_at,
                amount=line.amount,
                project_name=line.project_name,
                category=line.category,
                kind=line_class.kind,
                resource_name=line_class.resource_name,
                is_tax=line_class.is_tax,
                resource_id=verdict.resource_id,
                match_status=verdict.status,
                match_code=verdict.code,
                match_reason=verdict.reason,
            )
        )
    return rows


@transaction.atomic
def _replace_lines(
    invoice: CloudInvoice,
    lines: list[CloudCostLine],
    *,
    period: dt.date,
    push_to_finance: bool,
) -> IngestResult:
    locked = CloudInvoice.objects.select_for_update().get(pk=invoice.pk)
    CloudCostLine.objects.filter(invoice=locked).delete()
    for line in lines:
        line.invoice = locked
    bulk_insert(CloudCostLine, lines, batch_size=BULK_BATCH)  # COPY on PostgreSQL

    statuses = Counter(line.match_status for line in lines)
    locked.period = period
    locked.line_count = len(lines)
    locked.matched_count = statuses[MatchStatus.MATCHED]
    locked.unmatched_count = statuses[MatchStatus.UNMATCHED]
    locked.ambiguous_count = statuses[MatchStatus.AMBIGUOUS]
    locked.net_amount = sum((line.amount for line in lines if not line.is_tax), ZERO)
    locked.tax_amount = sum((line.amount for line in lines if line.is_tax), ZERO)
    locked.lines_ingested_at = timezone.now()
    locked.last_error = ""
    locked.save(update_fields=[*INGEST_FIELDS, "updated_at"])
    for name in (*INGEST_FIELDS, "updated_at"):  # keep the caller's instance in step
        setattr(invoice, name, getattr(locked, name))
    if push_to_finance:
        finance_push_enqueue(invoice_uuids=[locked.invoice_uuid])
    return IngestResult(
        invoice_uuid=locked.invoice_uuid,
        period=locked.period,
        line_count=locked.line_count,
        matched=locked.matched_count,
        unmatched=locked.unmatched_count,
        ambiguous=locked.ambiguous_count,
        net_amount=locked.net_amount,
        tax_amount=locked.tax_amount,
    )


def _summary_period(summary: Mapping[str, Any], invoice: CloudInvoice) -> dt.date:
    """The summary's `billing_period` ("2026-04") is authoritative; the period derived from
    the billing-history date stays when the summary has none (or an unreadable one)."""
    raw = summary.get("billing_period")
    if not isinstance(raw, str) or not raw.strip():
        return invoice.period
    try:
        period = parse_period(raw)
    except ValueError:
        logger.warning("invoice %s: unreadable billing_period %r", invoice.invoice_uuid, raw)
        return invoice.period
    if period != invoice.period:
        logger.warning(
            "invoice %s: billing history suggested %s, the summary says %s; using the summary",
            invoice.invoice_uuid,
            invoice.period,
            period,
        )
    return period
