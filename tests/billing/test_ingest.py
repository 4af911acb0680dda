"""invoice_ingest: the line set is replaced atomically, re-ingests never duplicate, a bad file
changes nothing but last_error. DigitalOcean is faked with `responses`."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import responses

from billing.models import CloudCostLine
from billing.services import InvoiceUnreadable, invoice_ingest
from inventory.digitalocean import DONotFound
from tests.billing.factories import (
    HEADER,
    PERIOD,
    do_client,
    invoice_csv,
    line,
    make_invoice,
    make_resource,
    serve_invoice,
)

pytestmark = pytest.mark.django_db

ROWS = [
    line("Droplets", "web-1 (s-1vcpu-1gb)", "$6.00"),
    line("Droplet Backups", "web-1 (Weekly Backup Services)", "$1.20"),
    line("Droplets", "ghost (s-1vcpu-1gb)", "$1,234.56"),
    line("Spaces Subscription", "Spaces Subscription", "$5.00", project_name=""),
    line("Taxes", "GST (10%)", "$124.68", hours="", project_name="", category=""),
]


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def invoice():
    return make_invoice()


def line_set(invoice):
    return list(
        CloudCostLine.objects.filter(invoice=invoice)
        .order_by("line_number")
        .values_list("line_number", "description", "amount", "match_status")
    )


def test_ingest_stores_lines_counts_and_totals(rsps, invoice):
    make_resource(name="web-1")
    serve_invoice(rsps, invoice.invoice_uuid, invoice_csv(ROWS))
    result = invoice_ingest(invoice=invoice, client=do_client())

    assert (result.line_count, result.matched, result.unmatched, result.ambiguous) == (5, 2, 3, 0)
    assert result.net_amount == Decimal("1246.76")
    assert result.tax_amount == Decimal("124.68")
    assert result.gross_amount == Decimal("1371.44")
    invoice.refresh_from_db()
    assert invoice.lines_ingested_at is not None
    assert (invoice.line_count, invoice.matched_count, invoice.unmatched_count) == (5, 2, 3)
    assert (invoice.net_amount, invoice.tax_amount) == (Decimal("1246.76"), Decimal("124.68"))
    assert [d for _, d, _, _ in line_set(invoice)] == [row["description"] for row in ROWS]
    tax = CloudCostLine.objects.get(invoice=invoice, is_tax=True)
    assert (tax.hours, tax.kind) == (None, "other")


def test_reingest_replaces_the_line_set_without_duplicates(rsps, invoice):
    serve_invoice(rsps, invoice.invoice_uuid, invoice_csv(ROWS))
    invoice_ingest(invoice=invoice, client=do_client())
    first = line_set(invoice)
    invoice_ingest(invoice=invoice, client=do_client())
    assert line_set(invoice) == first
    assert CloudCostLine.objects.filter(invoice=invoice).count() == len(ROWS)

    serve_invoice(rsps, invoice.invoice_uuid, invoice_csv(ROWS[:2]))
    result = invoice_ingest(invoice=invoice, client=do_client())
    assert result.line_count == 2
    assert len(line_set(invoice)) == 2


def test_missing_column_keeps_the_old_lines_and_sets_last_error(rsps, invoice):
    serve_invoice(rsps, invoice.invoice_uuid, invoice_csv(ROWS))
    invoice_ingest(invoice=invoice, client=do_client())
    before = line_set(invoice)
    ingested_at = invoice.lines_ingested_at

    without_usd = [column for column in HEADER if column != "USD"]
    serve_invoice(rsps, invoice.invoice_uuid, invoice_csv(ROWS, header=without_usd))
    with pytest.raises(InvoiceUnreadable) as excinfo:
        invoice_ingest(invoice=invoice, client=do_client())

    assert "USD" in excinfo.value.message
    assert line_set(invoice) == before
    invoice.refresh_from_db()
    assert "required column(s) USD" in invoice.last_error
    assert (invoice.lines_ingested_at, invoice.line_count) == (ingested_at, len(ROWS))


def test_bad_amount_in_row_3_names_row_3_and_usd(rsps, invoice):
    serve_invoice(rsps, invoice.invoice_uuid, invoice_csv(ROWS))
    invoice_ingest(invoice=invoice, client=do_client())
    before = line_set(invoice)

    broken = [*ROWS[:2], {**ROWS[2], "USD": "$1,2x4.56"}, *ROWS[3:]]
    serve_invoice(rsps, invoice.invoice_uuid, invoice_csv(broken))
    with pytest.raises(InvoiceUnreadable):
        invoice_ingest(invoice=invoice, client=do_client())

    invoice.refresh_from_db()
    assert "row 3" in invoice.last_error and "column USD" in invoice.last_error
    assert line_set(invoice) == before


def test_a_good_ingest_clears_last_error(rsps, invoice):
    serve_invoice(rsps, invoice.invoice_uuid, "product,description\n")
    with pytest.raises(InvoiceUnreadable):
        invoice_ingest(invoice=invoice, client=do_client())
    serve_invoice(rsps, invoice.invoice_uuid, invoice_csv(ROWS))
    invoice_ingest(invoice=invoice, client=do_client())
    invoice.refresh_from_db()
    assert invoice.last_error == ""


def test_digitalocean_errors_are_recorded_and_raised(rsps, invoice):
    rsps.get(
        f"https://do.test/v2/customers/my/invoices/{invoice.invoice_uuid}/summary",
        status=404,
        json={"id": "not_found", "message": "The resource you were accessing could not be found."},
    )
    with pytest.raises(DONotFound):
        invoice_ingest(invoice=invoice, client=do_client())
    invoice.refresh_from_db()
    assert "404" in invoice.last_error
    assert invoice.lines_ingested_at is None


def test_the_summary_billing_period_is_authoritative(rsps):
    invoice = make_invoice(period=dt.date(2026, 5, 1))
    serve_invoice(rsps, invoice.invoice_uuid, invoice_csv(ROWS), billing_period="2026-04")
    assert invoice_ingest(invoice=invoice, client=do_client()).period == PERIOD
    invoice.refresh_from_db()
    assert invoice.period == PERIOD


def test_without_a_summary_period_the_history_period_stays(rsps, invoice):
    serve_invoice(rsps, invoice.invoice_uuid, invoice_csv(ROWS), billing_period=None)
    assert invoice_ingest(invoice=invoice, client=do_client()).period == PERIOD


def test_credits_reduce_the_net_amount(rsps, invoice):
    rows = [line(usd="$10.00"), line("Credits", "Promo credit", "-$4.00")]
    serve_invoice(rsps, invoice.invoice_uuid, invoice_csv(rows))
    result = invoice_ingest(invoice=invoice, client=do_client())
    assert result.net_amount == Decimal("6.00")
