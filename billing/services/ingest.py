"""Invoice ingest: fetch DigitalOcean's CSV, parse, classify, match, reconcile, replace the set.

Network first, then ONE short transaction: the invoice row is locked, its lines deleted and the
new set bulk-inserted, counts written, so a reader sees the old set or the new one, never a mix,
and two ingests of the same invoice serialize.

A file is only taken when its lines add up to DigitalOcean's own invoice amount (see
`invoice_reconcile`): a file cut short, or holding only its header, would otherwise replace the
invoice's lines and send finance a wrong gross. The download is bounded
(`DO_INVOICE_CSV_MAX_BYTES`) and decoded strictly as UTF-8.

Every failure — a file that cannot be read or does not add up, a DigitalOcean error, or anything
unexpected — is stored in `last_error` (shown in the admin) and raised; the invoice keeps its
previous lines, counts and finance state, and nothing is pushed.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

from arcadia_cloud.bulk import bulk_insert
from arcadia_cloud.errors import ApplicationError
from arcadia_cloud.money import cents_to_units, dollars_to_cents
from arcadia_cloud.periods import parse_period
from billing.csv_parser import (
    AMOUNT_LIMIT,
    InvoiceCsvError,
    ParsedLine,
    decode_invoice_csv,
    parse_invoice_csv,
)
from billing.locks import lock_cloud_invoice
from billing.models import CloudCostLine, CloudInvoice, MatchStatus
from billing.selectors import LineToMatch, lines_classify_and_match
from billing.services.common import invoice_error_record
from billing.services.enqueue import finance_push_enqueue
from billing.summaries import cost_summary_refresh
from integrations.digitalocean import (
    DEFAULT_MAX_CSV_BYTES,
    DigitalOceanClient,
    DigitalOceanError,
    DOBadPayload,
    DONotFound,
    DOResponseTooLarge,
)

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


KEPT = "previous lines kept"
# The summary's breakdown of its `amount` (OpenAPI `invoice_summary`), quoted in a mismatch.
SUMMARY_PARTS = (
    ("product_charges", "product charges"),
    ("overages", "overages"),
    ("taxes", "taxes"),
    ("credits_and_adjustments", "credits & adjustments"),
)


class InvoiceRejected(ApplicationError):
    """DigitalOcean's invoice cannot be ingested as it stands (retrying will not help)."""

    status_code = 422
    code = "invoice_rejected"


class InvoiceUnreadable(InvoiceRejected):
    """The file cannot be read: malformed CSV, not UTF-8, too large, an unusable summary."""

    code = "invoice_unreadable"


class InvoiceDoesNotAddUp(InvoiceRejected):
    """The file reads, but its lines do not add up to DigitalOcean's invoice amount."""

    code = "invoice_does_not_add_up"


@dataclass(frozen=True)
class ExpectedAmount:
    """DigitalOcean's invoice total (tax included) in cents, and where it was read."""

    cents: int
    source: str
    breakdown: str = ""


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

    Raises InvoiceRejected (InvoiceUnreadable, InvoiceDoesNotAddUp) for a file that cannot be
    taken, the DO client's errors for failed requests, and anything unexpected as it came —
    each after storing the reason in `last_error`; the invoice is left as it was. On success
    the finance push is queued after commit (unless `push_to_finance=False`).
    """
    try:
        return _ingest(invoice, client, push_to_finance=push_to_finance)
    except InvoiceRejected as exc:
        _failure_record(invoice, exc.message)
        raise
    except DigitalOceanError as exc:
        _failure_record(invoice, f"ingest failed, {KEPT}: {exc}")
        raise
    except Exception as exc:
        _failure_record(invoice, f"ingest failed unexpectedly, {KEPT}: {type(exc).__name__}: {exc}")
        raise


def _ingest(
    invoice: CloudInvoice, client: DigitalOceanClient, *, push_to_finance: bool
) -> IngestResult:
    summary = client.get_invoice_summary(invoice.invoice_uuid)
    expected = invoice_amount_expected(summary, invoice)
    limit = int(getattr(settings, "DO_INVOICE_CSV_MAX_BYTES", DEFAULT_MAX_CSV_BYTES))
    try:
        data = client.get_invoice_csv(invoice.invoice_uuid, max_bytes=limit)
        parsed = parse_invoice_csv(decode_invoice_csv(data))
    except DOResponseTooLarge as exc:
        problem = (
            f"the file is larger than {exc.limit} bytes (DO_INVOICE_CSV_MAX_BYTES), far more "
            "than any real invoice; it was not downloaded further"
        )
        raise InvoiceUnreadable(
            f"invoice CSV refused, {KEPT}: {problem}", fields={"csv": [problem]}
        ) from exc
    except InvoiceCsvError as exc:
        raise InvoiceUnreadable(
            f"invoice CSV is malformed, {KEPT}: {exc.message}",
            fields={exc.column or "csv": [exc.message]},
        ) from exc
    lines = cost_lines_build(parsed, provider_ids=_provider_ids(client, invoice, parsed))
    invoice_reconcile(lines, expected)
    result = _replace_lines(
        invoice,
        lines,
        period=_summary_period(summary, invoice),
        push_to_finance=push_to_finance,
    )
    logger.info("%s", result.summary())
    return result


def invoice_amount_expected(summary: Mapping[str, Any], invoice: CloudInvoice) -> ExpectedAmount:
    """What the lines must add up to: the summary's `amount` — DigitalOcean's "total amount of
    the invoice", i.e. product charges + overages + taxes + credits & adjustments — else, for a
    summary without one, the billing-history amount on the invoice row. Both are tax included.
    """
    raw = summary.get("amount")
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return ExpectedAmount(dollars_to_cents(invoice.amount), "billing history")
    amount = _decimal_or_none(raw)
    if amount is None:
        problem = f"the invoice summary's amount {raw!r} is not an amount in USD"
        raise InvoiceUnreadable(
            f"invoice summary is unusable, {KEPT}: {problem}", fields={"amount": [problem]}
        )
    if amount != invoice.amount:
        logger.warning(
            "invoice %s: billing history says %s USD, the summary %s USD; using the summary",
            invoice.invoice_uuid,
            invoice.amount,
            amount,
        )
    return ExpectedAmount(dollars_to_cents(amount), "invoice summary", _breakdown(summary))


def invoice_reconcile(lines: Sequence[CloudCostLine], expected: ExpectedAmount) -> None:
    """Refuse a line set that does not add up to DigitalOcean's invoice amount, to the cent.

    The figure compared is the gross the finance push sends: the non-tax lines and the tax lines
    each summed exactly and rounded half-up to cents once, then added (credits are negative
    lines). So finance is only ever told what DigitalOcean billed, and an empty file only
    passes for an invoice DigitalOcean says is 0.
    """
    net = sum((line.amount for line in lines if not line.is_tax), ZERO)
    tax = sum((line.amount for line in lines if line.is_tax), ZERO)
    gross_cents = dollars_to_cents(net) + dollars_to_cents(tax)
    if gross_cents == expected.cents:
        return
    stated = f"DigitalOcean's invoice amount is {cents_to_units(expected.cents)} USD"
    stated += f" ({expected.source}{': ' + expected.breakdown if expected.breakdown else ''})"
    if not lines:
        problem = (
            f"the file has no lines, but {stated}; an empty invoice is only taken when "
            "DigitalOcean says its amount is 0"
        )
    else:
        problem = (
            f"the file's {len(lines)} lines add up to {cents_to_units(gross_cents)} USD (net "
            f"{cents_to_units(dollars_to_cents(net))} + tax {cents_to_units(dollars_to_cents(tax))}"
            f"), but {stated}; off by {cents_to_units(abs(gross_cents - expected.cents))} USD: "
            "the file is incomplete or not this invoice's"
        )
    raise InvoiceDoesNotAddUp(
        f"invoice lines do not add up, {KEPT}: {problem}", fields={"amount": [problem]}
    )


def _breakdown(summary: Mapping[str, Any]) -> str:
    parts = []
    for key, label in SUMMARY_PARTS:
        part = summary.get(key)
        value = _decimal_or_none(part.get("amount")) if isinstance(part, Mapping) else None
        if value is not None:
            parts.append(f"{label} {value}")
    return ", ".join(parts)


def _decimal_or_none(raw: Any) -> Decimal | None:
    """A USD amount from DigitalOcean's JSON (a string per its OpenAPI description), or None."""
    if isinstance(raw, bool) or raw is None:
        return None
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        return None
    return value if value.is_finite() and abs(value) < AMOUNT_LIMIT else None


def _failure_record(invoice: CloudInvoice, message: str) -> None:
    """Store the reason; a database that cannot store it must not hide the original error."""
    try:
        invoice_error_record(invoice=invoice, message=message)
    except DatabaseError:
        logger.exception(
            "invoice %s: could not record the failure: %s", invoice.invoice_uuid, message
        )


def cost_lines_build(
    parsed: Sequence[ParsedLine], *, provider_ids: Sequence[Sequence[str]] | None = None
) -> list[CloudCostLine]:
    """Classify and match parsed lines (unsaved rows; no invoice yet). The candidates of all
    lines are loaded at once: a few queries per invoice, not one per line.

    `provider_ids[i]` are the ids DigitalOcean gives line i in its JSON invoice
    (`resource_uuid`, `resource_id`); a line with ids is matched by them first."""
    ids = list(provider_ids) if provider_ids is not None else [()] * len(parsed)
    if len(ids) != len(parsed):
        raise ValueError("provider_ids must give one entry per parsed line")
    verdicts = lines_classify_and_match(
        [
            LineToMatch(
                product=line.product,
                description=line.description,
                group_description=line.group_description,
                start=line.start_at,
                end=line.end_at,
                provider_ids=tuple(line_ids),
            )
            for line, line_ids in zip(parsed, ids, strict=True)
        ]
    )
    rows = []
    for line, (line_class, verdict) in zip(parsed, verdicts, strict=True):
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


def _provider_ids(
    client: DigitalOceanClient, invoice: CloudInvoice, parsed: Sequence[ParsedLine]
) -> list[tuple[str, ...]]:
    """Each CSV line's provider ids, read from the JSON invoice (`GET
    /v2/customers/my/invoices/{uuid}`): the item with the same product, group, description and
    amount, taken in order. The CSV stays the record (its total is reconciled); the JSON only
    adds ids. Without the JSON (404, or a body we cannot use) every line is matched by name."""
    try:
        items = client.list_invoice_items(invoice.invoice_uuid)
    except (DONotFound, DOBadPayload) as exc:
        logger.warning(
            "invoice %s: no JSON invoice items (%s); matching by name only",
            invoice.invoice_uuid,
            exc,
        )
        return [()] * len(parsed)
    queues: dict[tuple[str, str, str, Decimal], list[tuple[str, ...]]] = {}
    for item in items:
        key = _item_key(item)
        if key is None:
            logger.warning(
                "invoice %s: unreadable JSON item %r skipped", invoice.invoice_uuid, item
            )
            continue
        ids = tuple(
            str(item[name]).strip()
            for name in ("resource_uuid", "resource_id")
            if isinstance(item.get(name), str | int) and str(item[name]).strip()
        )
        queues.setdefault(key, []).append(ids)
    found = []
    for line in parsed:
        queue = queues.get(
            (line.product, line.group_description, line.description, line.amount), []
        )
        found.append(queue.pop(0) if queue else ())
    if len(items) != len(parsed):
        logger.warning(
            "invoice %s: the JSON invoice has %d items, the CSV %d lines",
            invoice.invoice_uuid,
            len(items),
            len(parsed),
        )
    return found


def _item_key(item: Any) -> tuple[str, str, str, Decimal] | None:
    if not isinstance(item, Mapping):
        return None
    try:
        amount = Decimal(str(item.get("amount")))
    except InvalidOperation:
        return None
    if not amount.is_finite():
        return None
    return (
        str(item.get("product") or ""),
        str(item.get("group_description") or ""),
        str(item.get("description") or ""),
        amount,
    )


@transaction.atomic(durable=True)
def _replace_lines(
    invoice: CloudInvoice,
    lines: list[CloudCostLine],
    *,
    period: dt.date,
    push_to_finance: bool,
) -> IngestResult:
    locked = lock_cloud_invoice(invoice.pk)
    CloudCostLine.objects.filter(invoice=locked).delete()
    for line in lines:
        line.invoice = locked
    bulk_insert(CloudCostLine, lines, batch_size=BULK_BATCH)  # COPY on PostgreSQL
    cost_summary_refresh(invoice_ids=[locked.pk])  # the margin's COGS rows, same transaction

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
