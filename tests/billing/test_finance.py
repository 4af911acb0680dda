"""The finance push (SPEC §6), with the finance service faked by `responses`."""

from __future__ import annotations

import json
import logging
from decimal import Decimal

import jwt
import pytest
import requests
import responses
from django.conf import settings as django_settings
from django.utils import timezone

from billing.models import CloudInvoice
from billing.services import FinanceUnavailable, finance_payload, finance_push, invoice_ingest
from billing.tasks import push_to_finance
from tests.billing.factories import do_client, invoice_csv, line, make_invoice, serve_invoice

pytestmark = pytest.mark.django_db

FINANCE_URL = "https://finance.test"
IMPORT_URL = f"{FINANCE_URL}/api/v1/integrations/cloud/import-invoice"


@pytest.fixture
def finance(settings):
    settings.FINANCE_URL = FINANCE_URL
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def ingested_invoice(**overrides) -> CloudInvoice:
    values = {
        "lines_ingested_at": timezone.now(),
        "line_count": 3,
        "unmatched_count": 3,
        "net_amount": Decimal("1236.4800"),
        "tax_amount": Decimal("123.6500"),
        "amount": Decimal("1360.13"),
    }
    values.update(overrides)
    return make_invoice(**values)


@pytest.fixture
def eager_retries(monkeypatch):
    """Eager tasks retry in-process only when exceptions do not propagate (as on a worker)."""
    monkeypatch.setitem(push_to_finance.app.conf, "task_eager_propagates", False)


def sent(finance, index: int = 0) -> dict:
    return json.loads(finance.calls[index].request.body)


def test_created_push_sends_the_normalized_invoice_and_records_it(finance):
    invoice = ingested_invoice()
    finance.post(IMPORT_URL, json={"status": "created", "id": 9001})

    result = finance_push(invoice=invoice)

    assert (result.status, result.finance_invoice_id) == ("created", "9001")
    assert sent(finance) == {
        "source": "digitalocean",
        "external_id": invoice.invoice_uuid,
        "vendor": "DigitalOcean",
        "category": "cloud",
        "period": "2026-04-01",
        "currency": "USD",
        "amount_net_minor": 123648,
        "amount_tax_minor": 12365,
        "amount_gross_minor": 136013,
    }
    invoice.refresh_from_db()
    assert invoice.pushed_to_finance_at is not None
    assert (invoice.finance_status, invoice.finance_invoice_id) == ("created", "9001")
    assert len(invoice.finance_payload_hash) == 64
    assert invoice.last_error == ""


def test_the_token_is_short_lived_platform_admin(finance):
    finance.post(IMPORT_URL, json={"status": "created", "id": 1})
    finance_push(invoice=ingested_invoice())
    header = finance.calls[0].request.headers["Authorization"]
    assert header.startswith("Bearer ")
    claims = jwt.decode(
        header.removeprefix("Bearer "), django_settings.ARCADIA_JWT_SECRET, algorithms=["HS512"]
    )
    assert (claims["tenant_id"], claims["roles"]) == ("platform-admin", ["admin"])
    assert claims["exp"] - claims["iat"] == 300


def test_amounts_are_rounded_once_from_the_exact_sums():
    invoice = ingested_invoice(net_amount=Decimal("0.9999"), tax_amount=Decimal("0.0050"))
    payload = finance_payload(invoice)
    assert (payload["amount_net_minor"], payload["amount_tax_minor"]) == (100, 1)
    assert payload["amount_gross_minor"] == 101


def test_updated_answer_with_invoice_id_is_recorded(finance):
    invoice = ingested_invoice()
    finance.post(IMPORT_URL, json={"status": "updated", "invoice_id": "fin-42"})
    result = finance_push(invoice=invoice)
    assert (result.status, result.finance_invoice_id) == ("updated", "fin-42")
    invoice.refresh_from_db()
    assert (invoice.finance_status, invoice.finance_invoice_id) == ("updated", "fin-42")


def test_an_unchanged_invoice_is_not_pushed_again_unless_forced(finance):
    invoice = ingested_invoice()
    finance.post(IMPORT_URL, json={"status": "created", "id": 7})
    finance_push(invoice=invoice)
    invoice.refresh_from_db()

    assert finance_push(invoice=invoice).status == "unchanged"
    assert len(finance.calls) == 1

    finance.upsert(responses.POST, IMPORT_URL, json={"status": "updated", "id": 7})
    assert finance_push(invoice=invoice, force=True).status == "updated"
    assert len(finance.calls) == 2


def test_a_changed_invoice_is_pushed_again(finance):
    invoice = ingested_invoice()
    finance.post(IMPORT_URL, json={"status": "created", "id": 7})
    finance_push(invoice=invoice)
    CloudInvoice.objects.filter(pk=invoice.pk).update(tax_amount=Decimal("120.00"))
    invoice.refresh_from_db()
    finance.upsert(responses.POST, IMPORT_URL, json={"status": "updated", "id": 7})
    assert finance_push(invoice=invoice).status == "updated"
    assert sent(finance, 1)["amount_tax_minor"] == 12000


def test_4xx_stores_last_error_and_is_not_retried(finance):
    invoice = ingested_invoice()
    finance.post(IMPORT_URL, status=422, json={"error": {"message": "period is closed"}})
    result = push_to_finance.delay(invoice.invoice_uuid).get()
    assert result["status"] == "rejected"
    assert len(finance.calls) == 1
    invoice.refresh_from_db()
    assert "HTTP 422" in invoice.last_error and "period is closed" in invoice.last_error
    assert invoice.pushed_to_finance_at is None


def test_5xx_is_retried_by_the_task_then_succeeds(finance, eager_retries):
    invoice = ingested_invoice()
    finance.post(IMPORT_URL, status=503, body="upstream down")
    finance.post(IMPORT_URL, json={"status": "created", "id": 11})
    result = push_to_finance.delay(invoice.invoice_uuid).get()
    assert (result["status"], result["finance_invoice_id"]) == ("created", "11")
    assert len(finance.calls) == 2
    invoice.refresh_from_db()
    assert invoice.last_error == ""


def test_timeouts_are_retryable_and_recorded(finance):
    invoice = ingested_invoice()
    finance.post(IMPORT_URL, body=requests.ConnectTimeout("no route"))
    with pytest.raises(FinanceUnavailable):
        finance_push(invoice=invoice)
    invoice.refresh_from_db()
    assert "ConnectTimeout" in invoice.last_error


def test_a_2xx_without_json_is_retryable(finance):
    finance.post(IMPORT_URL, body="<html>ok</html>", status=200)
    with pytest.raises(FinanceUnavailable):
        finance_push(invoice=ingested_invoice())


def test_persistent_5xx_gives_up_after_the_retry_budget(finance, eager_retries):
    invoice = ingested_invoice()
    finance.post(IMPORT_URL, status=500)
    with pytest.raises(FinanceUnavailable):
        push_to_finance.delay(invoice.invoice_uuid).get()
    assert len(finance.calls) == push_to_finance.max_retries + 1
    invoice.refresh_from_db()
    assert "HTTP 500" in invoice.last_error


def test_without_finance_url_the_push_is_skipped_and_ingest_succeeds(
    settings, caplog, django_capture_on_commit_callbacks
):
    settings.FINANCE_URL = ""
    invoice = make_invoice()
    with responses.RequestsMock() as do_api:
        serve_invoice(do_api, invoice.invoice_uuid, invoice_csv([line()]))
        with (
            caplog.at_level(logging.INFO, logger="billing"),
            django_capture_on_commit_callbacks(execute=True) as callbacks,
        ):
            invoice_ingest(invoice=invoice, client=do_client())
    assert len(callbacks) == 1  # the push was queued, and skipped
    skipped = [
        r
        for r in caplog.records
        if r.name.startswith("billing") and "FINANCE_URL is not set" in r.getMessage()
    ]
    assert len(skipped) == 1
    invoice.refresh_from_db()
    assert invoice.lines_ingested_at is not None and invoice.pushed_to_finance_at is None


def test_ingest_pushes_after_commit(finance, django_capture_on_commit_callbacks):
    invoice = make_invoice()
    serve_invoice(finance, invoice.invoice_uuid, invoice_csv([line(usd="$10.00")]))
    finance.post(IMPORT_URL, json={"status": "created", "id": 5})
    with django_capture_on_commit_callbacks(execute=True):
        invoice_ingest(invoice=invoice, client=do_client())
    posts = [c for c in finance.calls if c.request.method == "POST"]
    assert len(posts) == 1
    assert json.loads(posts[0].request.body)["amount_net_minor"] == 1000
    invoice.refresh_from_db()
    assert invoice.finance_invoice_id == "5"


def test_pushing_an_invoice_not_ingested_is_refused(finance):
    from arcadia_cloud.errors import InvalidStateChange

    with pytest.raises(InvalidStateChange):
        finance_push(invoice=make_invoice())


def test_a_successful_push_keeps_an_ingest_error_but_clears_its_own(finance):
    invoice = ingested_invoice(last_error="invoice CSV is malformed, previous lines kept: ...")
    finance.post(IMPORT_URL, json={"status": "created", "id": 1})
    finance_push(invoice=invoice)
    assert invoice.last_error.startswith("invoice CSV is malformed")

    CloudInvoice.objects.filter(pk=invoice.pk).update(last_error="finance push failed: HTTP 503")
    invoice.refresh_from_db()
    finance_push(invoice=invoice, force=True)
    invoice.refresh_from_db()
    assert invoice.last_error == ""
