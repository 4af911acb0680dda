"""Invoice exports (SPEC §13): CSV and XLSX files whose every figure equals the database."""

from __future__ import annotations

import csv
import io
import itertools
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from arcadia_cloud.money import cents_to_units
from invoicing.credit_notes.services import credit_note_issue
from invoicing.invoices.exports import INVOICE_COLUMNS, LINE_COLUMNS
from invoicing.invoices.lifecycle import invoice_issue, invoice_mark_paid
from invoicing.invoices.rollup import roll_up_period
from invoicing.models import TenantInvoice, TenantInvoiceLine
from tests.conftest import TENANT_A, TENANT_B
from tests.invoicing.factories import (
    APRIL,
    MARCH,
    add_usage,
    make_invoice,
    meter,
    seed_catalog,
    subscriber,
)

pytestmark = pytest.mark.django_db

EXPORT = "/api/v1/invoices/export"


@pytest.fixture
def april():
    """Example 2 for tenant A, a smaller invoice for tenant B; both issued, A paid."""
    seed_catalog()
    subscriber(TENANT_A, droplets=3)
    b = subscriber(TENANT_B, plan="starter", addons=())
    add_usage(b, "volume_gb_month", "33.333333")
    meter()
    roll_up_period(APRIL)
    invoices = {
        i.tenant_id: invoice_issue(invoice=i, actor="t") for i in TenantInvoice.objects.all()
    }
    invoice_mark_paid(invoice=invoices[TENANT_A], actor="t")
    return {tenant: TenantInvoice.objects.get(pk=i.pk) for tenant, i in invoices.items()}


def streamed_csv(response) -> list[dict[str, str]]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def xlsx_rows(response) -> list[dict[str, object]]:
    workbook = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    header, *rows = list(workbook.active.iter_rows(values_only=True))
    # Empty trailing cells are not stored in the file: read back as None.
    return [dict(itertools.zip_longest(header, row)) for row in rows]


def data_rows(rows: list[dict]) -> list[dict]:
    """The invoice and note rows: without the per-currency `total` rows at the end."""
    return [row for row in rows if row["type"] != "total"]


def units(value: object) -> Decimal:
    """A money cell read back (text from CSV, a number from XLSX) as exact currency units."""
    return Decimal(str(value)).quantize(Decimal("0.01"))


def test_csv_has_one_row_per_invoice_equal_to_the_database(admin_api, april):
    response = admin_api.get(EXPORT, {"format": "csv", "period": "2026-04"})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == 'attachment; filename="invoices-2026-04.csv"'
    rows = data_rows(streamed_csv(response))
    assert list(rows[0]) == list(INVOICE_COLUMNS)
    by_tenant = {row["tenant_id"]: row for row in rows}
    a = by_tenant[TENANT_A]
    assert a == {
        "type": "invoice",
        "invoice_number": april[TENANT_A].number,
        "credit_note_number": "",
        "tenant_id": TENANT_A,
        "period": "2026-04",
        "status": "paid",
        "currency": "AUD",
        "subtotal": "64.22",
        "tax": "6.42",
        "total": "70.64",
        "issued_at": april[TENANT_A].issued_at.isoformat(),
        "due_on": april[TENANT_A].due_on.isoformat(),
        "paid_at": april[TENANT_A].paid_at.isoformat(),
    }
    for tenant, invoice in april.items():
        row = by_tenant[tenant]
        assert units(row["subtotal"]) == cents_to_units(invoice.subtotal_cents)
        assert units(row["tax"]) == cents_to_units(invoice.tax_cents)
        assert units(row["total"]) == cents_to_units(invoice.total_cents)
    assert sum(units(row["total"]) for row in rows) == cents_to_units(
        sum(i.total_cents for i in april.values())
    )


def test_csv_with_lines_has_one_row_per_line_and_adds_up(admin_api, april):
    response = admin_api.get(EXPORT, {"format": "csv", "lines": "1", "tenant_id": TENANT_A})

    rows = data_rows(streamed_csv(response))
    assert list(rows[0]) == list(INVOICE_COLUMNS + LINE_COLUMNS)
    assert [(r["line_kind"], r["amount"]) for r in rows] == [
        ("plan_base", "50.00"),
        ("addon", "7.50"),
        ("overage", "6.72"),
        ("tax", "6.42"),
    ]
    overage = rows[2]
    assert (overage["qty"], overage["unit"], overage["unit_price"]) == ("672", "hour", "0.01")
    assert overage["deployment"] and rows[3]["deployment"] == ""
    assert sum(units(r["amount"]) for r in rows) == units(rows[0]["total"])
    assert TenantInvoiceLine.objects.filter(invoice=april[TENANT_A]).count() == len(rows)


def test_xlsx_carries_the_same_figures(admin_api, april):
    response = admin_api.get(EXPORT, {"format": "xlsx", "status": "issued"})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    assert 'filename="invoices-all-periods-issued.xlsx"' in response["Content-Disposition"]
    rows = data_rows(xlsx_rows(response))
    assert [row["tenant_id"] for row in rows] == [TENANT_B]
    row = rows[0]
    invoice = april[TENANT_B]
    assert row["invoice_number"] == invoice.number
    assert units(row["total"]) == cents_to_units(invoice.total_cents)
    assert units(row["subtotal"]) + units(row["tax"]) == units(row["total"])
    assert row["issued_at"].replace(microsecond=0) == invoice.issued_at.replace(
        tzinfo=None, microsecond=0
    )
    assert row["paid_at"] is None


def test_xlsx_with_lines(admin_api, april):
    rows = data_rows(xlsx_rows(admin_api.get(EXPORT, {"format": "xlsx", "lines": "1"})))

    lines = TenantInvoiceLine.objects.all()
    assert len(rows) == lines.count()
    assert sum(units(row["amount"]) for row in rows) == cents_to_units(
        sum(line.amount_cents for line in lines)
    )
    volume = next(row for row in rows if row["line_kind"] == "usage")
    assert Decimal(str(volume["qty"])) == Decimal("33.333333")


def test_a_tenants_export_holds_only_its_own_issued_invoices(tenant_b_api, april):
    make_invoice(TENANT_B, period_start=MARCH)  # its draft: not exported to the tenant

    csv_rows = data_rows(streamed_csv(tenant_b_api.get(EXPORT, {"format": "csv", "lines": "1"})))
    xlsx = data_rows(xlsx_rows(tenant_b_api.get(EXPORT, {"format": "xlsx"})))

    assert {row["tenant_id"] for row in csv_rows} == {TENANT_B}
    assert {row["invoice_number"] for row in csv_rows} == {april[TENANT_B].number}
    assert [row["tenant_id"] for row in xlsx] == [TENANT_B]


@pytest.mark.parametrize("params", [{}, {"format": "pdf"}, {"format": "json"}])
def test_a_bad_or_missing_format_is_a_400_naming_format(admin_api, params):
    response = admin_api.get(EXPORT, params)

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["format"]


def test_a_bad_period_in_an_export_is_a_400_naming_period(admin_api):
    response = admin_api.get(EXPORT, {"format": "csv", "period": "2026/04"})

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["period"]


def test_exports_need_a_token(anon_api):
    assert anon_api.get(EXPORT, {"format": "csv"}).status_code == 401


def test_text_that_a_spreadsheet_would_run_as_a_formula_is_neutralised(admin_api):
    make_invoice("=HYPERLINK(1)")

    csv_row = streamed_csv(admin_api.get(EXPORT, {"format": "csv"}))[0]
    xlsx_row = xlsx_rows(admin_api.get(EXPORT, {"format": "xlsx"}))[0]

    assert csv_row["tenant_id"] == "'=HYPERLINK(1)"
    assert xlsx_row["tenant_id"] == "'=HYPERLINK(1)"


def test_notes_are_listed_beside_invoices_with_per_currency_net_totals(admin_api, april):
    a = april[TENANT_A]
    line = a.lines.get(kind="plan_base")
    note = credit_note_issue(
        invoice=a,
        reason="goodwill",
        lines=[{"line_id": line.pk, "amount_cents": 1000}],
        actor="t",
    )
    rows = streamed_csv(admin_api.get(EXPORT, {"format": "csv", "period": "2026-04"}))

    assert [row["type"] for row in rows] == ["invoice", "invoice", "credit_note", "total"]
    note_row = rows[2]
    assert (note_row["invoice_number"], note_row["credit_note_number"]) == (a.number, note.number)
    assert (note_row["subtotal"], note_row["tax"], note_row["total"]) == (
        "-10.00",
        "-1.00",
        "-11.00",
    )
    total = rows[3]
    assert total["currency"] == "AUD"
    invoiced = sum(i.total_cents for i in april.values())
    assert units(total["total"]) == cents_to_units(invoiced - note.total_cents)
    assert units(total["subtotal"]) + units(total["tax"]) == units(total["total"])

    lines = xlsx_rows(
        admin_api.get(EXPORT, {"format": "xlsx", "lines": "1", "tenant_id": TENANT_A})
    )
    credited = [row for row in lines if row["type"] == "credit_note"]
    assert [(row["line_kind"], units(row["amount"])) for row in credited] == [
        ("credit_note", Decimal("-10.00"))
    ]
    assert units(lines[-1]["total"]) == cents_to_units(a.total_cents - note.total_cents)
