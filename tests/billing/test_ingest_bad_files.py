"""Bad DigitalOcean invoice files through the real task: the emulator serves the April invoice
(31 lines, USD 6,411.66 in its summary and billing history), the invoice is ingested and pushed
to finance once, then the emulator serves a broken file in its place.

Whatever is wrong with the file — it adds up to less than DigitalOcean's invoice amount (header
only, cut at a row boundary), it is too large, not UTF-8, carries NUL bytes or dates no invoice
has — the task records the reason in `last_error`, returns `failed` without a traceback, and the
invoice stays exactly as it was: the very same line rows, counts, totals and finance state, and
nothing is sent to finance.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
import responses
from django.db import DatabaseError, connection

from arcadia_cloud.money import cents_to_units
from billing.models import CloudCostLine, CloudInvoice
from billing.services import billing_history_sync
from billing.tasks import ingest_invoice
from integrations.digitalocean import DigitalOceanClient
from integrations.digitalocean.sandbox import DigitalOceanEmulator, load_fixture, run_emulator
from tests.billing.conftest import AFTER_PERIOD
from tests.billing.factories import PERIOD

pytestmark = pytest.mark.django_db

FINANCE_URL = "https://finance.test"
IMPORT_URL = f"{FINANCE_URL}/api/v1/integrations/cloud/import-invoice"
INVOICE_FIELDS = (
    "period",
    "amount",
    "line_count",
    "matched_count",
    "unmatched_count",
    "ambiguous_count",
    "net_amount",
    "tax_amount",
    "lines_ingested_at",
    "pushed_to_finance_at",
    "finance_status",
    "finance_invoice_id",
    "finance_payload_hash",
)
START, DESCRIPTION = 4, 2  # column positions in the emulator's CSV


@pytest.fixture
def finance(billing_token, settings):
    """Finance answers every import; DigitalOcean (the emulator) is reached for real."""
    settings.FINANCE_URL = FINANCE_URL
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_passthru(billing_token.base_url)
        mock.post(IMPORT_URL, json={"status": "created", "id": "fin-2026-04"})
        yield mock


@pytest.fixture
def ingested(emulator, emulator_client, finance, django_capture_on_commit_callbacks):
    """The April invoice, ingested from its good file and pushed to finance once."""
    billing_history_sync(client=emulator_client, enqueue_ingest=False)
    invoice = CloudInvoice.objects.get()
    assert run_ingest(invoice, django_capture_on_commit_callbacks)["status"] == "ingested"
    invoice.refresh_from_db()
    assert (invoice.line_count, invoice.finance_status) == (31, "created")
    assert len(finance_posts(finance)) == 1
    return invoice


def run_ingest(invoice: CloudInvoice, capture_on_commit) -> dict:
    """The real Celery task (eager), its after-commit finance push run as in production."""
    with capture_on_commit(execute=True):
        return ingest_invoice.delay(invoice.invoice_uuid).get()


def finance_posts(finance: responses.RequestsMock) -> list:
    return [call for call in finance.calls if call.request.url == IMPORT_URL]


def invoice_state(invoice: CloudInvoice) -> dict:
    row = CloudInvoice.objects.get(pk=invoice.pk)
    lines = list(
        CloudCostLine.objects.filter(invoice=invoice)
        .order_by("pk")
        .values_list("pk", "line_number", "description", "amount", "match_status")
    )
    return {"lines": lines, **{name: getattr(row, name) for name in INVOICE_FIELDS}}


def csv_rows(emulator: DigitalOceanEmulator) -> list[list[str]]:
    """The emulator's own file as rows (header first), to break one cell of."""
    return list(csv.reader(io.StringIO(emulator.invoice_csv_bytes().decode())))


def csv_text(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def with_cell(emulator: DigitalOceanEmulator, row: int, column: int, value: str) -> str:
    rows = csv_rows(emulator)
    rows[row][column] = value
    return csv_text(rows)


def amount_of(emulator: DigitalOceanEmulator) -> str:
    return str(cents_to_units(emulator.invoice.total_cents))


def assert_refused(result, invoice, before, finance, *fragments):
    """The task reported the failure, `last_error` says why, nothing changed or was pushed."""
    assert result["status"] == "failed"
    invoice.refresh_from_db()
    assert invoice.last_error == result["error"]
    assert "previous lines kept" in invoice.last_error
    for fragment in fragments:
        assert fragment in invoice.last_error
    assert invoice_state(invoice) == before
    assert len(finance_posts(finance)) == 1  # only the push of the good file


# -- 10. The lines must add up to DigitalOcean's invoice amount ---------------------------------


def test_a_header_only_file_does_not_wipe_the_invoice_or_push_a_zero_gross(
    ingested, emulator, finance, django_capture_on_commit_callbacks
):
    before = invoice_state(ingested)
    header = emulator.invoice_csv_bytes().decode().splitlines(keepends=True)[0]
    emulator.serve_invoice_csv(header.encode())

    result = run_ingest(ingested, django_capture_on_commit_callbacks)

    assert_refused(
        result,
        ingested,
        before,
        finance,
        "the file has no lines",
        f"DigitalOcean's invoice amount is {amount_of(emulator)} USD",
    )


def test_a_file_cut_at_a_row_boundary_is_refused(
    ingested, emulator, finance, django_capture_on_commit_callbacks
):
    before = invoice_state(ingested)
    lines = emulator.invoice_csv_bytes().decode().splitlines(keepends=True)
    assert len(lines) == 32  # the header and 31 rows
    emulator.serve_invoice_csv("".join(lines[:17]).encode())  # the header and 16 rows

    result = run_ingest(ingested, django_capture_on_commit_callbacks)

    assert_refused(
        result,
        ingested,
        before,
        finance,
        "the file's 16 lines add up to",
        f"DigitalOcean's invoice amount is {amount_of(emulator)} USD",
    )


def test_one_cent_off_is_refused(ingested, emulator, finance, django_capture_on_commit_callbacks):
    before = invoice_state(ingested)
    rows = csv_rows(emulator)
    usd = rows[0].index("USD")
    assert rows[1][usd] == "$12.00"
    rows[1][usd] = "$12.01"
    emulator.serve_invoice_csv(csv_text(rows).encode())

    result = run_ingest(ingested, django_capture_on_commit_callbacks)

    assert_refused(result, ingested, before, finance, "6411.67", "6411.66", "off by 0.01 USD")


def test_the_same_file_again_is_accepted_and_changes_nothing_at_finance(
    ingested, emulator, finance, django_capture_on_commit_callbacks
):
    before = invoice_state(ingested)
    result = run_ingest(ingested, django_capture_on_commit_callbacks)
    assert (result["status"], result["lines"]) == ("ingested", 31)
    after = invoice_state(ingested)
    assert after["net_amount"] + after["tax_amount"] == Decimal(amount_of(emulator))
    assert after["finance_payload_hash"] == before["finance_payload_hash"]
    assert len(finance_posts(finance)) == 1  # unchanged payload: not re-sent


def test_an_empty_invoice_is_accepted_when_digitalocean_says_its_amount_is_zero(
    settings, django_capture_on_commit_callbacks
):
    fixture = load_fixture()
    fixture["invoice"] = {"lines": []}
    emulator = DigitalOceanEmulator(fixture, period=PERIOD, clock=AFTER_PERIOD)
    with run_emulator(emulator):
        settings.DO_API_BASE_URL, settings.DO_TOKEN_BILLING = emulator.base_url, emulator.token
        settings.FINANCE_URL = ""
        client = DigitalOceanClient(emulator.base_url, emulator.token, sleep=lambda s: None)
        billing_history_sync(client=client, enqueue_ingest=False)
        invoice = CloudInvoice.objects.get()
        assert invoice.amount == 0

        result = run_ingest(invoice, django_capture_on_commit_callbacks)

    assert (result["status"], result["lines"]) == ("ingested", 0)
    invoice.refresh_from_db()
    assert invoice.is_ingested and invoice.last_error == ""


# -- 11. Size and encoding ------------------------------------------------------------------------


def latin1(emulator: DigitalOceanEmulator) -> bytes:
    return with_cell(emulator, 2, DESCRIPTION, "café-web-2 (s-1vcpu-2gb)").encode("latin-1")


def utf16(emulator: DigitalOceanEmulator) -> bytes:
    return emulator.invoice_csv_bytes().decode().encode("utf-16")


def nul_byte(emulator: DigitalOceanEmulator) -> bytes:
    return with_cell(emulator, 3, DESCRIPTION, "acme-db-1\x00 (s-2vcpu-4gb)").encode()


def year_one(emulator: DigitalOceanEmulator) -> bytes:
    return with_cell(emulator, 2, START, "0001-01-01 00:00:00 +0000").encode()


def year_9999_east_of_utc(emulator: DigitalOceanEmulator) -> bytes:
    return with_cell(emulator, 4, START, "9999-12-31 23:59:59 -0100").encode()


def padded(emulator: DigitalOceanEmulator) -> bytes:
    """The real file followed by 200 KB of blank lines (blank lines are no rows): only its
    size is wrong."""
    return emulator.invoice_csv_bytes() + b"\n" * 200_000


@pytest.mark.parametrize(
    ("build", "fragments"),
    [
        (latin1, ("not UTF-8", "line 3 of the file")),
        (utf16, ("UTF-16", "must be UTF-8")),
        (nul_byte, ("row 3", "column description", "NUL")),
        (year_one, ("row 2", "column start", "outside the years")),
        (year_9999_east_of_utc, ("row 4", "column start", "outside the years")),
        (padded, ("larger than", "DO_INVOICE_CSV_MAX_BYTES")),
    ],
    ids=["latin-1", "utf-16", "nul-byte", "year-1", "year-9999", "oversized"],
)
def test_a_malformed_file_is_recorded_and_changes_nothing(
    ingested, emulator, finance, settings, django_capture_on_commit_callbacks, build, fragments
):
    settings.DO_INVOICE_CSV_MAX_BYTES = 100_000  # the padded file is 203 KB, the others 3 KB
    before = invoice_state(ingested)
    emulator.serve_invoice_csv(build(emulator))

    result = run_ingest(ingested, django_capture_on_commit_callbacks)

    assert_refused(result, ingested, before, finance, *fragments)
    assert "\x00" not in ingested.last_error


def test_utf8_with_a_byte_order_mark_is_accepted(
    ingested, emulator, django_capture_on_commit_callbacks
):
    emulator.serve_invoice_csv(b"\xef\xbb\xbf" + emulator.invoice_csv_bytes())
    result = run_ingest(ingested, django_capture_on_commit_callbacks)
    assert (result["status"], result["lines"]) == ("ingested", 31)


def test_a_recovered_file_clears_the_error(ingested, emulator, django_capture_on_commit_callbacks):
    emulator.serve_invoice_csv(utf16(emulator))
    assert run_ingest(ingested, django_capture_on_commit_callbacks)["status"] == "failed"
    emulator.serve_invoice_csv(None)
    assert run_ingest(ingested, django_capture_on_commit_callbacks)["status"] == "ingested"
    ingested.refresh_from_db()
    assert ingested.last_error == ""


# -- every failure lands in last_error ------------------------------------------------------------

REFUSE_COST_LINES = """
CREATE FUNCTION test_refuse_cost_lines() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'cost lines are refused for this test';
END $$ LANGUAGE plpgsql;
CREATE TRIGGER test_refuse_cost_lines BEFORE INSERT ON cloud_cost_lines
    FOR EACH ROW EXECUTE FUNCTION test_refuse_cost_lines();
"""


def test_an_unexpected_failure_is_recorded_and_leaves_the_invoice_as_it_was(
    ingested, finance, on_postgres, django_capture_on_commit_callbacks
):
    """No file problem, no DigitalOcean error: the database refuses the new lines (a trigger,
    dropped with the test's transaction). Not a data error, so the task still fails loudly — but
    the reason is on the invoice and the previous lines are intact."""
    if not on_postgres:
        pytest.skip("needs PostgreSQL triggers")
    before = invoice_state(ingested)
    with connection.cursor() as cursor:
        cursor.execute(REFUSE_COST_LINES)

    with pytest.raises(DatabaseError, match="cost lines are refused"):
        run_ingest(ingested, django_capture_on_commit_callbacks)

    ingested.refresh_from_db()
    assert "ingest failed unexpectedly" in ingested.last_error
    assert "cost lines are refused for this test" in ingested.last_error
    assert "previous lines kept" in ingested.last_error
    assert invoice_state(ingested) == before
    assert len(finance_posts(finance)) == 1
