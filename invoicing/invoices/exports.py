"""Invoice exports for finance (SPEC §13): a filtered invoice list as CSV or XLSX.

One row per invoice, or with `lines` one row per invoice line (the invoice's columns repeated,
then the line's). Amounts are in currency units with two places (7064 cents → 70.64), times in
UTC. The API and the admin both answer with `export_response`, so the two files are identical.

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
from invoicing.invoices.selectors import invoices_for_export, lines_for_export
from invoicing.models import TenantInvoice, TenantInvoiceLine

INVOICE_COLUMNS = (
    "invoice_number",
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
    """The export's data rows as typed values (money as Decimal units, times as UTC datetimes)."""
    if not lines:
        for invoice in invoices_for_export(invoices):
            yield _invoice_values(invoice)
        return
    for line in lines_for_export(invoices):
        yield _invoice_values(line.invoice) + _line_values(line)


def _invoice_values(invoice: TenantInvoice) -> list[Value]:
    return [
        invoice.number or "",
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
