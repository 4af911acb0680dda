"""`manage.py ingest_cost_invoices` against the emulator."""

from __future__ import annotations

from io import StringIO

import pytest
import responses
from django.core.management import CommandError, call_command

from arcadia_cloud.money import cents_to_units
from billing.models import CloudCostLine, CloudInvoice

pytestmark = pytest.mark.django_db

FINANCE_URL = "https://finance.test"
IMPORT_URL = f"{FINANCE_URL}/api/v1/integrations/cloud/import-invoice"


def run(*args: str) -> str:
    out = StringIO()
    call_command("ingest_cost_invoices", *args, stdout=out, stderr=out)
    return out.getvalue()


def test_syncs_ingests_and_prints_each_invoice(billing_token):
    output = run()
    invoice = CloudInvoice.objects.get()
    assert "billing history: 1 invoices listed, 1 new" in output
    billed = billing_token.invoice  # the emulator's invoice: what the file says
    count = len(billed.lines)
    net = cents_to_units(billed.total_cents - billed.tax_cents)
    tax, gross = cents_to_units(billed.tax_cents), cents_to_units(billed.total_cents)
    assert (
        f"invoice {invoice.invoice_uuid} (2026-04): {count} lines; 0 matched, {count} unmatched"
        in output
    )
    assert f"net {net} + tax {tax} = gross {gross} USD" in output
    assert "finance: skipped: FINANCE_URL is not set" in output
    assert "Nothing to ingest" in run()


def test_one_invoice_is_reingested_and_force_pushed(billing_token, settings):
    run()
    invoice = CloudInvoice.objects.get()
    settings.FINANCE_URL = FINANCE_URL
    with responses.RequestsMock() as finance:
        finance.add_passthru(billing_token.base_url)
        finance.post(IMPORT_URL, json={"status": "created", "id": 3})
        output = run("--invoice", invoice.invoice_uuid)
        assert "finance: created (id 3)" in output
        assert "finance: unchanged (id 3)" in run("--invoice", invoice.invoice_uuid)
        finance.upsert(responses.POST, IMPORT_URL, json={"status": "updated", "id": 3})
        assert "finance: updated (id 3)" in run("--invoice", invoice.invoice_uuid, "--force-push")
    assert CloudCostLine.objects.count() == 31


def test_unknown_invoice_and_missing_token_are_command_errors(billing_token, settings):
    with pytest.raises(CommandError, match="nope"):
        run("--invoice", "nope")
    settings.DO_TOKEN_BILLING = settings.DO_API_TOKEN = ""
    with pytest.raises(CommandError, match="No DigitalOcean billing token"):
        run()


def test_a_file_that_does_not_add_up_is_reported_and_fails_the_command(billing_token):
    header = billing_token.invoice_csv_bytes().split(b"\n", 1)[0] + b"\n"
    billing_token.serve_invoice_csv(header)
    out = StringIO()
    with pytest.raises(CommandError, match="1 invoice"):
        call_command("ingest_cost_invoices", stdout=out, stderr=out)
    assert "ingest failed: invoice lines do not add up" in out.getvalue()
    assert "the file has no lines" in CloudInvoice.objects.get().last_error
