"""invoice_ingest: the line set is replaced atomically, re-ingests never duplicate, a bad file
changes nothing but last_error. DigitalOcean is faked with `responses`."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import responses

from billing.models import CloudCostLine
from billing.services import InvoiceDoesNotAddUp, InvoiceUnreadable, invoice_ingest
from integrations.digitalocean import DONotFound
from tests.billing.factories import (
    HEADER,
    PERIOD,
    do_client,
    invoice_csv,
    line,
    make_invoice,
    serve_invoice,
)
from tests.inventory.factories import make_resource

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


# -- reconciliation: the lines add up to DigitalOcean's invoice amount ---------------------------
# ROWS: net 1246.76 + tax 124.68 = 1371.44 USD.


def ingested_state(invoice):
    invoice.refresh_from_db()
    return (
        line_set(invoice),
        invoice.line_count,
        invoice.net_amount,
        invoice.tax_amount,
        invoice.lines_ingested_at,
    )


@pytest.mark.parametrize(
    ("amount", "why"),
    [
        ("1371.45", "off by 0.01 USD"),
        ("1371.43", "off by 0.01 USD"),
        ("1246.76", "off by 124.68 USD"),  # the net alone: DigitalOcean's amount includes tax
    ],
)
def test_lines_must_add_up_to_the_summary_amount_tax_included(rsps, invoice, amount, why):
    serve_invoice(rsps, invoice.invoice_uuid, invoice_csv(ROWS))
    invoice_ingest(invoice=invoice, client=do_client())
    before = ingested_state(invoice)

    serve_invoice(rsps, invoice.invoice_uuid, invoice_csv(ROWS), amount=amount)
    with pytest.raises(InvoiceDoesNotAddUp) as excinfo:
        invoice_ingest(invoice=invoice, client=do_client())

    assert list(excinfo.value.fields) == ["amount"]
    assert ingested_state(invoice) == before
    assert "the file's 5 lines add up to 1371.44 USD (net 1246.76 + tax 124.68)" in (
        invoice.last_error
    )
    assert f"DigitalOcean's invoice amount is {amount} USD (invoice summary" in invoice.last_error
    assert why in invoice.last_error


def test_the_summary_amount_is_the_reference_over_billing_history(rsps):
    invoice = make_invoice(amount=Decimal("999.00"))  # a stale header
    serve_invoice(rsps, invoice.invoice_uuid, invoice_csv(ROWS), amount="1371.44")
    assert invoice_ingest(invoice=invoice, client=do_client()).gross_amount == Decimal("1371.44")


def test_without_a_summary_amount_the_billing_history_amount_is_the_reference(rsps):
    matching = make_invoice(amount=Decimal("1371.44"))
    serve_invoice(rsps, matching.invoice_uuid, invoice_csv(ROWS), amount=None)
    assert invoice_ingest(invoice=matching, client=do_client()).line_count == 5

    stale = make_invoice(amount=Decimal("1000.00"))
    serve_invoice(rsps, stale.invoice_uuid, invoice_csv(ROWS), amount=None)
    with pytest.raises(InvoiceDoesNotAddUp, match=r"is 1000\.00 USD \(billing history\)"):
        invoice_ingest(invoice=stale, client=do_client())
    assert not CloudCostLine.objects.filter(invoice=stale).exists()


@pytest.mark.parametrize("amount", ["n/a", "NaN", "1E+40", True])
def test_an_unreadable_summary_amount_is_refused_before_the_file_is_fetched(rsps, invoice, amount):
    serve_invoice(rsps, invoice.invoice_uuid, invoice_csv(ROWS), amount=amount)
    with pytest.raises(InvoiceUnreadable, match=r"summary's amount .* is not an amount in USD"):
        invoice_ingest(invoice=invoice, client=do_client())
    assert not [call for call in rsps.calls if call.request.url.endswith("/csv")]
    invoice.refresh_from_db()
    assert "not an amount" in invoice.last_error and invoice.lines_ingested_at is None


def test_a_header_only_file_is_taken_only_when_digitalocean_says_zero(rsps, invoice):
    serve_invoice(rsps, invoice.invoice_uuid, invoice_csv(ROWS))
    invoice_ingest(invoice=invoice, client=do_client())
    before = ingested_state(invoice)

    serve_invoice(rsps, invoice.invoice_uuid, invoice_csv([]), amount="1371.44")
    with pytest.raises(InvoiceDoesNotAddUp, match="the file has no lines"):
        invoice_ingest(invoice=invoice, client=do_client())
    assert ingested_state(invoice) == before

    serve_invoice(rsps, invoice.invoice_uuid, invoice_csv([]), amount="0.00")
    assert invoice_ingest(invoice=invoice, client=do_client()).line_count == 0
    assert not CloudCostLine.objects.filter(invoice=invoice).exists()


def test_the_figure_reconciled_is_the_gross_finance_is_sent(rsps, invoice):
    """Net and tax are each rounded half-up once (the finance payload); their sum must be
    DigitalOcean's amount. Sub-cent lines that round to it pass; a file whose separately
    rounded net and tax would overstate DigitalOcean's total by a cent does not."""
    rows = [line(usd="$10.0049"), line("Taxes", "GST (10%)", "$1.0004", hours="")]
    serve_invoice(rsps, invoice.invoice_uuid, invoice_csv(rows), amount="11.00")
    result = invoice_ingest(invoice=invoice, client=do_client())
    assert (result.net_amount, result.tax_amount) == (Decimal("10.0049"), Decimal("1.0004"))

    rows = [line(usd="$10.005"), line("Taxes", "GST (10%)", "$1.005", hours="")]
    serve_invoice(rsps, invoice.invoice_uuid, invoice_csv(rows), amount="11.01")
    with pytest.raises(InvoiceDoesNotAddUp, match=r"add up to 11\.02 USD .* off by 0\.01 USD"):
        invoice_ingest(invoice=invoice, client=do_client())
