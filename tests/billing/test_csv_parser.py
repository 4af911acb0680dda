"""Invoice CSV parsing: by header name, tolerant of DigitalOcean's variations, strict on errors."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pytest

from billing.csv_parser import (
    InvoiceCsvError,
    decode_invoice_csv,
    parse_csv_datetime,
    parse_invoice_csv,
    parse_usd,
)
from tests.billing.factories import HEADER, PERIOD_END, PERIOD_START, day, invoice_csv, line


def test_columns_are_read_by_header_name_in_any_order():
    rows = [
        line("Droplets", "web-1 (s-1vcpu-1gb)", "$6.00"),
        line("Volumes", "data (100 GiB)", "$10.00", start=day(3), end=day(12)),
    ]
    expected = parse_invoice_csv(invoice_csv(rows))
    shuffled = list(HEADER)
    random.Random(7).shuffle(shuffled)
    assert shuffled != list(HEADER)
    assert parse_invoice_csv(invoice_csv(rows, header=shuffled)) == expected
    volume = expected[1]
    assert (volume.product, volume.description, volume.amount) == (
        "Volumes",
        "data (100 GiB)",
        Decimal("10.00"),
    )
    assert (volume.start_at, volume.end_at, volume.hours) == (day(3), day(12), Decimal(216))
    assert (volume.line_number, volume.project_name, volume.category) == (2, "Acme Corp", "iaas")


def test_a_file_without_category_parses():
    header = [column for column in HEADER if column != "category"]
    [parsed] = parse_invoice_csv(invoice_csv([line()], header=header))
    assert parsed.category == ""
    assert parsed.amount == Decimal("6.00")


def test_header_names_tolerate_case_and_spaces():
    text = "Product, Description ,usd,START,End,Project Name\nDroplets,web-1 (s),$1.00,"
    text += "2026-04-01 00:00:00 +0000,2026-05-01 00:00:00 +0000,Acme\n"
    [parsed] = parse_invoice_csv(text)
    assert (parsed.product, parsed.amount, parsed.project_name) == (
        "Droplets",
        Decimal("1.00"),
        "Acme",
    )


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("$1,234.56", Decimal("1234.56")),
        ("$1,008.00", Decimal("1008.00")),
        ("1234.56", Decimal("1234.56")),
        ("$0.61", Decimal("0.61")),
        ("-$5.00", Decimal("-5.00")),
        ("$-5.00", Decimal("-5.00")),
        ("($5.00)", Decimal("-5.00")),
        ("$1,234,567.8912", Decimal("1234567.8912")),
    ],
)
def test_amounts(text, amount):
    assert parse_usd(text) == amount


@pytest.mark.parametrize(
    "text",
    ["", "$", "12,34.00", "1.2.3", "five", "--5", "(-$5.00)", "$1.23456", "$10,000,000,000.00"],
)
def test_bad_amounts_are_refused(text):
    with pytest.raises(ValueError):
        parse_usd(text)


def test_thousands_separator_amount_in_a_file_is_quoted_by_csv():
    [parsed] = parse_invoice_csv(invoice_csv([line(usd="$1,234.56")]))
    assert parsed.amount == Decimal("1234.56")


def test_tax_row_with_blank_hours():
    rows = [line(), line("Taxes", "GST (10%)", "$0.60", hours="", project_name="", category="")]
    tax = parse_invoice_csv(invoice_csv(rows))[1]
    assert tax.hours is None
    assert tax.amount == Decimal("0.60")


def test_quoted_comma_in_description():
    [parsed] = parse_invoice_csv(invoice_csv([line(description='db, primary "main" (s-2vcpu)')]))
    assert parsed.description == 'db, primary "main" (s-2vcpu)'


def test_dates_are_utc():
    [parsed] = parse_invoice_csv(invoice_csv([line()]))
    assert parsed.start_at == PERIOD_START and parsed.start_at.tzinfo == dt.UTC
    assert parsed.end_at == PERIOD_END
    assert parse_csv_datetime("2026-04-01 10:00:00 +1000") == PERIOD_START
    assert parse_csv_datetime("2026-04-01T00:00:00Z") == PERIOD_START


def test_blank_lines_are_not_rows_but_keep_row_numbers():
    text = invoice_csv([line(), line(description="web-2 (s)")])
    first, second = text.rstrip("\n").split("\n")[1:]
    parsed = parse_invoice_csv(f"{','.join(HEADER)}\n{first}\n\n{second}\n\n")
    assert [p.line_number for p in parsed] == [1, 3]


def test_byte_order_mark_is_ignored():
    [parsed] = parse_invoice_csv("\ufeff" + invoice_csv([line()]))
    assert parsed.product == "Droplets"


def test_header_only_is_an_empty_invoice():
    assert parse_invoice_csv(invoice_csv([])) == []


def test_missing_required_column_is_named():
    header = [column for column in HEADER if column != "USD"]
    with pytest.raises(InvoiceCsvError) as excinfo:
        parse_invoice_csv(invoice_csv([line()], header=header))
    assert excinfo.value.row is None
    assert "USD" in str(excinfo.value)
    assert "required" in str(excinfo.value)


def test_bad_amount_names_row_and_column():
    rows = [line(), line(), line(usd="$12.x"), line()]
    with pytest.raises(InvoiceCsvError) as excinfo:
        parse_invoice_csv(invoice_csv(rows))
    error = excinfo.value
    assert (error.row, error.column) == (3, "USD")
    assert str(error).startswith("row 3 (line 4 of the file), column USD:")
    assert "'$12.x'" in str(error)


def test_bad_date_names_row_and_column():
    rows = [line(), {**line(), "end": "April 30th"}]
    with pytest.raises(InvoiceCsvError) as excinfo:
        parse_invoice_csv(invoice_csv(rows))
    assert (excinfo.value.row, excinfo.value.column) == (2, "end")


def test_blank_required_value_and_reversed_dates_are_errors():
    with pytest.raises(InvoiceCsvError, match=r"row 1 .*column product: is blank"):
        parse_invoice_csv(invoice_csv([line(product="")]))
    with pytest.raises(InvoiceCsvError, match=r"row 1 .*column end: .* before the start"):
        parse_invoice_csv(invoice_csv([line(start=day(5), end=day(2))]))


def test_empty_file_and_duplicate_columns_are_errors():
    with pytest.raises(InvoiceCsvError, match="empty"):
        parse_invoice_csv("")
    with pytest.raises(InvoiceCsvError, match="twice"):
        parse_invoice_csv("product,description,USD,start,end,usd\n")


def test_negative_hours_are_refused():
    with pytest.raises(InvoiceCsvError) as excinfo:
        parse_invoice_csv(invoice_csv([line(hours="-3")]))
    assert excinfo.value.column == "hours"


# -- bytes to text: UTF-8 only -------------------------------------------------------------------


def test_utf8_decodes_with_or_without_a_byte_order_mark():
    text = invoice_csv([line(description="café-1 (s-1vcpu-1gb)")])
    assert decode_invoice_csv(text.encode()) == text
    assert decode_invoice_csv(b"\xef\xbb\xbf" + text.encode()) == text
    [parsed] = parse_invoice_csv(decode_invoice_csv(text.encode()))
    assert parsed.description == "café-1 (s-1vcpu-1gb)"


def test_latin1_is_refused_naming_the_line_and_byte_not_replaced():
    text = invoice_csv([line(), line(description="café-1 (s-1vcpu-1gb)")])
    with pytest.raises(InvoiceCsvError) as excinfo:
        decode_invoice_csv(text.encode("latin-1"))
    message = str(excinfo.value)
    assert message.startswith("line 3 of the file is not UTF-8: byte e9 at position")
    assert "must be UTF-8" in message


@pytest.mark.parametrize(
    ("encoding", "name"),
    [("utf-16", "UTF-16"), ("utf-16-be", None), ("utf-32", "UTF-32")],
)
def test_utf16_and_utf32_are_refused(encoding, name):
    data = invoice_csv([line()]).encode(encoding)
    if encoding == "utf-16-be":  # no byte-order mark: decodes, but every other byte is NUL
        with pytest.raises(InvoiceCsvError, match=r"header holds a NUL .*UTF-16"):
            parse_invoice_csv(decode_invoice_csv(data))
        return
    with pytest.raises(InvoiceCsvError, match=f"the file is {name}"):
        decode_invoice_csv(data)


def test_a_nul_character_is_refused_naming_row_and_column():
    rows = [line(), line(), line(description="web\x00-3 (s)")]
    with pytest.raises(InvoiceCsvError) as excinfo:
        parse_invoice_csv(invoice_csv(rows))
    assert (excinfo.value.row, excinfo.value.column) == (3, "description")
    assert "NUL" in str(excinfo.value)
    assert "\x00" not in str(excinfo.value)


def test_a_nul_character_in_a_column_the_parser_ignores_is_refused_too():
    with pytest.raises(InvoiceCsvError) as excinfo:
        parse_invoice_csv(invoice_csv([line(notes="x\x00")], header=[*HEADER, "notes"]))
    assert (excinfo.value.row, excinfo.value.column) == (1, "notes")


@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01 00:00:00 +0000",
        "1999-12-31 23:59:59 +0000",
        "2100-01-01 00:00:00 +0000",
        "9999-12-31 23:59:59 -0100",  # year 10000 in UTC: overflows
        "0001-01-01 00:30:00 +0100",  # before year 1 in UTC: overflows
    ],
)
def test_dates_no_invoice_can_have_are_refused(value):
    with pytest.raises(InvoiceCsvError) as excinfo:
        parse_invoice_csv(invoice_csv([line(), {**line(), "start": value}]))
    assert (excinfo.value.row, excinfo.value.column) == (2, "start")
    assert "outside the years 2000-2099" in str(excinfo.value)


def test_the_first_and_last_instants_of_the_allowed_years_parse():
    assert parse_csv_datetime("2000-01-01 00:00:00 +0000").year == 2000
    assert parse_csv_datetime("2099-12-31 23:59:59 +0000").year == 2099
