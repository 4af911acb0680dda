"""Invoice exports for finance (SPEC §13): a filtered invoice list as CSV or XLSX.

One row per invoice, or with `lines` one row per invoice line (the invoice's columns repeated,
then the line's). Amounts are in currency units with two places (7064 cents → 70.64), times in
UTC.

The `type` column says what a row is: `invoice`, `credit_note` (an adjustment note against one
of the exported invoices, its amounts negative: `invoice_number` is the invoice it adjusts,
`credit_note_number` its own), and last one `total` row per currency: what the issued and paid
invoices and their notes come to, net (drafts and void invoices are listed, never counted).
The API and the admin both answer with `export_response`, so the two files are identical.

CSV is streamed row by row (StreamingHttpResponse) straight from a database iterator, so a
period of any size never sits in memory. XLSX is written by openpyxl's write-only workbook into
a spooled temporary file (memory, then disk past a few MB) and sent as a file.
"""

from __future__ import annotations

import csv
import datetime as dt
import enum
import tempfile
from collections.abc import Iterable, Iterator
from decimal import Decimal

from django.db.models import QuerySet
from django.http import FileResponse, HttpResponseBase, StreamingHttpResponse
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from arcadia_cloud.money import cents_to_units, format_decimal
from invoicing.invoices.selectors import (
    credit_note_lines_for_export,
    credit_notes_for_export,
    invoices_for_export,
    lines_for_export,
)
from invoicing.models import CreditNote, CreditNoteLine, TenantInvoice, TenantInvoiceLine

ROW_INVOICE = "invoice"
ROW_CREDIT_NOTE = "credit_note"
ROW_TOTAL = "total"
COUNTED_STATUSES = frozenset({"issued", "paid"})
INVOICE_COLUMNS = (
    "type",
    "invoice_number",
    "credit_note_number",
    "tenant_id",
    "period",
    "status",
    "currency",
    "subtotal",
    "tax",
    "total",
    "issued_at",
    "due_on",
    "paid_at",
)
LINE_COLUMNS = (
    "line_kind",
    "deployment",
    "description",
    "qty",
    "unit",
    "unit_price",
    "amount",
)
MONEY_COLUMNS = frozenset({"subtotal", "tax", "total", "unit_price", "amount"})
TIME_COLUMNS = frozenset({"issued_at", "paid_at"})

XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
SPOOL_MAX_BYTES = 8 * 1024 * 1024
# A text cell starting with one of these is a formula to a spreadsheet (CSV injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

Value = str | Decimal | dt.datetime | None


class ExportFormat(enum.StrEnum):
    CSV = "csv"
    XLSX = "xlsx"


def columns(*, lines: bool) -> tuple[str, ...]:
    return INVOICE_COLUMNS + LINE_COLUMNS if lines else INVOICE_COLUMNS


def export_rows(invoices: QuerySet[TenantInvoice], *, lines: bool) -> Iterator[list[Value]]:
    """The export's data rows as typed values (money as Decimal units, times as UTC datetimes):
    the invoices, their adjustment notes, then the per-currency totals."""
    totals: dict[str, list[int]] = {}
    if not lines:
        for invoice in invoices_for_export(invoices):
            _count(totals, invoice)
            yield _invoice_values(invoice)
        for note in credit_notes_for_export(invoices):
            _count_note(totals, note)
            yield _note_values(note)
    else:
        counted: set[int] = set()
        for line in lines_for_export(invoices):
            if line.invoice_id not in counted:
                counted.add(line.invoice_id)
                _count(totals, line.invoice)
            yield _invoice_values(line.invoice) + _line_values(line)
        seen_notes: set[int] = set()
        for note_line in credit_note_lines_for_export(invoices):
            if note_line.note_id not in seen_notes:
                seen_notes.add(note_line.note_id)
                _count_note(totals, note_line.note)
            yield _note_values(note_line.note) + _note_line_values(note_line)
    for currency in sorted(totals):
        subtotal, tax, total = totals[currency]
        row: list[Value] = [ROW_TOTAL, "", "", "", "", "", currency]
        row += [cents_to_units(subtotal), cents_to_units(tax), cents_to_units(total)]
        row += [None] * (len(INVOICE_COLUMNS) - len(row))  # issued_at, due_on, paid_at
        if lines:
            row += [None] * len(LINE_COLUMNS)
        yield row


def _count(totals: dict[str, list[int]], invoice: TenantInvoice) -> None:
    if invoice.status in COUNTED_STATUSES:
        sums = totals.setdefault(invoice.currency, [0, 0, 0])
        sums[0] += invoice.subtotal_cents
        sums[1] += invoice.tax_cents
        sums[2] += invoice.total_cents


def _count_note(totals: dict[str, list[int]], note: CreditNote) -> None:
    sums = totals.setdefault(note.currency, [0, 0, 0])
    sums[0] -= note.subtotal_cents
    sums[1] -= note.tax_cents
    sums[2] -= note.total_cents


def _note_values(note: CreditNote) -> list[Value]:
    return [
        ROW_CREDIT_NOTE,
        note.invoice.number or "",
        note.number,
        note.tenant_id,
        f"{note.invoice.period_start:%Y-%m}",
        note.settlement,
        note.currency,
        -cents_to_units(note.subtotal_cents),
        -cents_to_units(note.tax_cents),
        -cents_to_units(note.total_cents),
        _utc(note.issued_at),
        None,  # due_on: a note is not paid
        None,
    ]


def _note_line_values(line: CreditNoteLine) -> list[Value]:
    credited = line.invoice_line
    return [
        "credit_note",
        credited.deployment.slug if credited.deployment else "",
        line.description,
        Decimal(1),
        "adjustment",
        -cents_to_units(line.amount_cents),
        -cents_to_units(line.amount_cents),
    ]


def _invoice_values(invoice: TenantInvoice) -> list[Value]:
    return [
        ROW_INVOICE,
        invoice.number or "",
        "",
        invoice.tenant_id,
        f"{invoice.period_start:%Y-%m}",
        invoice.status,
        invoice.currency,
        cents_to_units(invoice.subtotal_cents),
        cents_to_units(invoice.tax_cents),
        cents_to_units(invoice.total_cents),
        _utc(invoice.issued_at),
        invoice.due_on.isoformat() if invoice.due_on else None,
        _utc(invoice.paid_at),
    ]


def _line_values(line: TenantInvoiceLine) -> list[Value]:
    return [
        line.kind,
        line.deployment.slug if line.deployment else "",
        line.description,
        Decimal(format_decimal(line.qty)),  # 2160.000000000 → 2160, no exponent
        line.unit,
        cents_to_units(line.unit_price_cents),
        cents_to_units(line.amount_cents),
    ]


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    return value.astimezone(dt.UTC) if value is not None else None


def _safe_text(value: str) -> str:
    """Text a spreadsheet will show as text, never evaluate as a formula."""
    return f"'{value}" if value.startswith(FORMULA_TRIGGERS) else value


# ---------------------------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------------------------


class _Echo:
    """A file-like object whose write returns the line, so csv.writer can feed a generator."""

    def write(self, value: str) -> str:
        return value


def _csv_cell(value: Value) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return _safe_text(value)


def csv_lines(invoices: QuerySet[TenantInvoice], *, lines: bool) -> Iterator[str]:
    """The CSV text, one row at a time: the header, then the rows."""
    writer = csv.writer(_Echo())
    yield writer.writerow(columns(lines=lines))
    for row in export_rows(invoices, lines=lines):
        yield writer.writerow([_csv_cell(value) for value in row])


# ---------------------------------------------------------------------------------------------
# XLSX
# ---------------------------------------------------------------------------------------------


def _xlsx_cell(sheet: WriteOnlyWorksheet, name: str, value: Value) -> WriteOnlyCell:
    if isinstance(value, dt.datetime):
        # Excel has no time zones: the UTC wall time, labelled UTC by the column's meaning.
        cell = WriteOnlyCell(sheet, value=value.replace(tzinfo=None))
        cell.number_format = "yyyy-mm-dd hh:mm:ss"
        return cell
    if isinstance(value, str):
        return WriteOnlyCell(sheet, value=_safe_text(value))
    cell = WriteOnlyCell(sheet, value=value)
    if name in MONEY_COLUMNS:
        cell.number_format = "0.00"
    return cell


def xlsx_file(invoices: QuerySet[TenantInvoice], *, lines: bool) -> tempfile.SpooledTemporaryFile:
    """The workbook (one sheet, header row first), rewound and ready to send."""
    names = columns(lines=lines)
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Invoice lines" if lines else "Invoices")
    sheet.append(list(names))
    for row in export_rows(invoices, lines=lines):
        sheet.append(
            [_xlsx_cell(sheet, name, value) for name, value in zip(names, row, strict=True)]
        )
    # Not a context manager: the response sends the file and closes it.
    file = tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX_BYTES)  # noqa: SIM115
    workbook.save(file)
    file.seek(0)
    return file


# ---------------------------------------------------------------------------------------------
# Responses
# ---------------------------------------------------------------------------------------------


def export_filename(
    export_format: ExportFormat,
    *,
    lines: bool,
    period_start: dt.date | None = None,
    status: str | None = None,
) -> str:
    """`invoices-2026-04-issued-lines.csv`: what the file holds, readable in a downloads folder."""
    parts: Iterable[str] = (
        "invoices",
        f"{period_start:%Y-%m}" if period_start else "all-periods",
        status or "",
        "lines" if lines else "",
    )
    return "-".join(part for part in parts if part) + f".{export_format}"


def export_response(
    invoices: QuerySet[TenantInvoice],
    *,
    export_format: ExportFormat,
    lines: bool,
    filename: str,
) -> HttpResponseBase:
    """The export as an attachment: CSV streamed, XLSX sent from its spooled file."""
    if export_format == ExportFormat.CSV:
        response = StreamingHttpResponse(
            csv_lines(invoices, lines=lines), content_type=CSV_CONTENT_TYPE
        )
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
    return FileResponse(
        xlsx_file(invoices, lines=lines),
        as_attachment=True,
        filename=filename,
        content_type=XLSX_CONTENT_TYPE,
    )
