"""DigitalOcean invoice CSV → typed lines. Pure: no database, no network.

Columns are read BY HEADER NAME, never by position: DigitalOcean has reordered and added columns
over the years (files before 2020 have no `category`). Header names are compared after
trimming, lower-casing and turning spaces into underscores, so `USD`, `usd` and ` Project Name`
all resolve; unknown columns are ignored.

Required columns, and why the ingest cannot do without them:
- `product` — the resource kind is derived from it;
- `description` — the resource name (and tax detection) comes from it;
- `USD` — the amount, the whole point of the line;
- `start`, `end` — the window a resource must have existed in to match the line.
Optional: `group_description`, `hours` (blank on tax rows), `project_name`, `category`.

Any problem raises `InvoiceCsvError` naming the data row (1-based, header excluded) and the
column, so an operator can open the file and find it. Nothing is returned for a file that is
partly wrong: the caller keeps its previous line set.

Bytes become text in `decode_invoice_csv` only, strictly: DigitalOcean writes UTF-8 (a byte-order
mark is allowed). A file in any other encoding fails there, rather than decoding to replacement
characters whose names then match nothing. NUL characters (never in a real invoice, refused by
PostgreSQL) and dates outside the years an invoice can cover are refused with their row and
column too.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import functools
import io
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

REQUIRED_COLUMNS = ("product", "description", "usd", "start", "end")
OPTIONAL_COLUMNS = ("group_description", "hours", "project_name", "category")
# How DigitalOcean spells the columns, for messages.
_DISPLAY_NAMES = {"usd": "USD"}
MAX_AMOUNT_PLACES = 4
MAX_HOURS_PLACES = 2
# What the columns hold (numeric(14, 4) and numeric(12, 2)): refused here, not by the database.
AMOUNT_LIMIT = Decimal(10) ** 10
HOURS_LIMIT = Decimal(10) ** 10

# 1234.56, 1,234.56, .5 — thousands separators only in groups of three.
_NUMBER_RE = re.compile(r"^(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?$")
# An optional sign before or after the `$`, or accounting parentheses around the whole amount.
_USD_RE = re.compile(
    r"^\s*(?P<open>\()?\s*(?:(?P<sign>-)\s*\$?|\$?\s*(?P<sign_after>-)?)\s*"
    r"(?P<number>[0-9][0-9,]*(?:\.[0-9]+)?|\.[0-9]+)\s*(?(open)\))\s*$"
)
_USD_EXAMPLE = "$1,234.56 or -$5.00"
_CSV_TIME_FORMAT = "%Y-%m-%d %H:%M:%S %z"
# Dates an invoice line can carry (UTC): DigitalOcean bills from 2011; year 1 or 9999 is a broken
# file, and would overflow date arithmetic further on.
EARLIEST_LINE_TIME = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
LATEST_LINE_TIME = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
# Byte-order marks of the encodings DigitalOcean does not write (UTF-32 LE starts like UTF-16 LE).
_WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)

T = TypeVar("T")


class InvoiceCsvError(ValueError):
    """The file cannot be ingested.

    `row` is the 1-based data row (the header is not counted; None for header problems),
    `column` the column as DigitalOcean spells it.
    """

    def __init__(
        self,
        message: str,
        *,
        row: int | None = None,
        column: str | None = None,
        file_line: int | None = None,
    ) -> None:
        self.row = row
        self.column = display_name(column) if column else None
        location = []
        if row is not None:
            suffix = f" (line {file_line} of the file)" if file_line else ""
            location.append(f"row {row}{suffix}")
        if self.column:
            location.append(f"column {self.column}")
        self.message = f"{', '.join(location)}: {message}" if location else message
        super().__init__(self.message)


@dataclass(frozen=True)
class ParsedLine:
    line_number: int
    product: str
    group_description: str
    description: str
    hours: Decimal | None
    start_at: dt.datetime
    end_at: dt.datetime
    amount: Decimal
    project_name: str
    category: str


def display_name(column: str) -> str:
    return _DISPLAY_NAMES.get(column, column)


def normalize_header(name: str) -> str:
    return "_".join(name.strip().lower().split())


def decode_invoice_csv(data: bytes) -> str:
    """The file's text: UTF-8, with or without a byte-order mark, and nothing else.

    Raises InvoiceCsvError naming the encoding found (UTF-16 / UTF-32 by their byte-order mark)
    or the first byte that is not UTF-8, with its line of the file.
    """
    for bom, encoding in _WIDE_BOMS:
        if data.startswith(bom):
            raise InvoiceCsvError(
                f"the file is {encoding} (it starts with a {encoding} byte-order mark); "
                "an invoice CSV must be UTF-8"
            )
    try:
        return data.decode("utf-8-sig")  # strict: never a replacement character
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        line = data.count(b"\n", 0, exc.start) + 1
        raise InvoiceCsvError(
            f"line {line} of the file is not UTF-8: byte {data[exc.start : exc.end].hex(' ')} at "
            f"position {exc.start - line_start + 1} ({exc.reason}); an invoice CSV must be UTF-8 "
            "(a file saved as Latin-1 or Windows-1252 is not)"
        ) from None


def parse_invoice_csv(text: str) -> list[ParsedLine]:
    """Every data row of an invoice CSV, or InvoiceCsvError for the first problem found.

    A blank line is not a row, but its number stays taken, so row numbers in errors and
    `line_number` always agree with a spreadsheet view of the file.
    """
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    row_number = 0
    try:
        header = next(reader, None)
        if header is None or not any(cell.strip() for cell in header):
            raise InvoiceCsvError("the file is empty: expected a header row")
        _refuse_nul(header, header, row=None, file_line=reader.line_num)
        columns = _column_positions(header)
        lines = []
        for row_number, cells in enumerate(reader, start=1):
            _refuse_nul(cells, header, row=row_number, file_line=reader.line_num)
            if any(cell.strip() for cell in cells):
                lines.append(_parse_row(row_number, cells, columns, reader.line_num))
    except csv.Error as exc:
        raise InvoiceCsvError(
            f"not valid CSV ({exc})", row=row_number + 1, file_line=reader.line_num
        ) from exc
    return lines


def _refuse_nul(
    cells: Sequence[str], header: Sequence[str], *, row: int | None, file_line: int
) -> None:
    for index, cell in enumerate(cells):
        if "\x00" in cell:
            name = normalize_header(header[index]) if index < len(header) else ""
            where = "the header" if row is None else "the cell"
            raise InvoiceCsvError(
                f"{where} holds a NUL character (byte 00), which no invoice has"
                + (" (is the file UTF-16?)" if row is None else ""),
                row=row,
                column=(name.replace("\x00", "") or f"#{index + 1}"),
                file_line=file_line if row is not None else None,
            )


def _column_positions(header: Sequence[str]) -> dict[str, int]:
    positions: dict[str, int] = {}
    for index, raw in enumerate(header):
        name = normalize_header(raw)
        if not name:
            continue
        if name in positions:
            raise InvoiceCsvError(f"the header names {raw.strip()!r} twice", column=name)
        positions[name] = index
    missing = [display_name(name) for name in REQUIRED_COLUMNS if name not in positions]
    if missing:
        required = ", ".join(display_name(name) for name in REQUIRED_COLUMNS)
        found = ", ".join(cell.strip() for cell in header if cell.strip())
        raise InvoiceCsvError(
            f"the header lacks required column(s) {', '.join(missing)} "
            f"(required: {required}; found: {found})"
        )
    return positions


def _parse_row(
    row: int, cells: Sequence[str], columns: Mapping[str, int], file_line: int
) -> ParsedLine:
    def text(name: str) -> str:
        index = columns.get(name)
        return cells[index].strip() if index is not None and index < len(cells) else ""

    def converted(name: str, convert: Callable[[str], T]) -> T:
        value = text(name)
        if name in REQUIRED_COLUMNS and not value:
            raise InvoiceCsvError(
                "is blank; every line needs it", row=row, column=name, file_line=file_line
            )
        try:
            return convert(value)
        except ValueError as exc:
            raise InvoiceCsvError(str(exc), row=row, column=name, file_line=file_line) from None

    start_at = converted("start", parse_csv_datetime)
    end_at = converted("end", parse_csv_datetime)
    if end_at < start_at:
        raise InvoiceCsvError(
            f"{text('end')!r} is before the start {text('start')!r}",
            row=row,
            column="end",
            file_line=file_line,
        )
    return ParsedLine(
        line_number=row,
        product=converted("product", str),
        group_description=text("group_description"),
        description=converted("description", str),
        hours=converted("hours", parse_hours),
        start_at=start_at,
        end_at=end_at,
        amount=converted("usd", parse_usd),
        project_name=text("project_name"),
        category=text("category"),
    )


def parse_usd(value: str) -> Decimal:
    """`$1,234.56`, `1234.56`, `-$5.00`, `$-5.00`, `($5.00)` (a credit) → Decimal.

    Raises ValueError with a message fit for an operator.
    """
    match = _USD_RE.match(value)
    sign = match and (match["sign"] or match["sign_after"])
    if match is None or (match["open"] and sign):
        raise ValueError(f"{value!r} is not an amount (expected e.g. {_USD_EXAMPLE})")
    number = _plain_number(match["number"], original=value, what="an amount", example=_USD_EXAMPLE)
    if -number.as_tuple().exponent > MAX_AMOUNT_PLACES:
        raise ValueError(f"{value!r} has more than {MAX_AMOUNT_PLACES} decimal places")
    if number >= AMOUNT_LIMIT:
        raise ValueError(f"{value!r} is too large for an invoice line")
    return -number if match["open"] or sign else number


def parse_hours(value: str) -> Decimal | None:
    """Blank (tax rows, fixed-price lines) → None; otherwise a non-negative number of hours."""
    if not value.strip():
        return None
    hours = _plain_number(
        value.strip(), original=value, what="a number of hours", example="744 or 12.5"
    )
    if -hours.as_tuple().exponent > MAX_HOURS_PLACES:
        raise ValueError(f"{value!r} has more than {MAX_HOURS_PLACES} decimal places")
    if hours >= HOURS_LIMIT:
        raise ValueError(f"{value!r} is too many hours for an invoice line")
    return hours


def _plain_number(text: str, *, original: str, what: str, example: str) -> Decimal:
    if not text or text == "." or not _NUMBER_RE.match(text):
        raise ValueError(f"{original!r} is not {what} (expected e.g. {example})")
    return Decimal(text.replace(",", ""))


@functools.lru_cache(maxsize=4096)
def parse_csv_datetime(value: str) -> dt.datetime:
    """`2026-04-01 00:00:00 +0000` (DigitalOcean's form), or ISO 8601; naive times are UTC.

    Cached: an invoice repeats a handful of distinct times (most lines run from the month's
    first instant to its last) and `strptime` is the parser's most expensive call; the result
    is an immutable value of its argument alone.
    """
    text = value.strip()
    try:
        moment = dt.datetime.strptime(text, _CSV_TIME_FORMAT)
    except ValueError:
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"{value!r} is not a date and time (expected e.g. 2026-04-01 00:00:00 +0000)"
            ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    try:
        moment = moment.astimezone(dt.UTC)
    except OverflowError:  # 9999-12-31 23:59 -0100 is in year 10000 in UTC
        moment = None
    if moment is None or not EARLIEST_LINE_TIME <= moment < LATEST_LINE_TIME:
        raise ValueError(
            f"{value!r} is outside the years {EARLIEST_LINE_TIME.year}-"
            f"{LATEST_LINE_TIME.year - 1} an invoice line can fall in"
        )
    return moment
