"""Billing Celery tasks: names, routing, schedules, no-token behaviour, idempotent ingest."""

from __future__ import annotations

import io
import logging

import pytest
import responses

from arcadia_cloud.celery import app as celery_app
from billing import tasks
from billing.models import CloudCostLine, CloudInvoice
from billing.schedules import SCHEDULES
from billing.services import FinanceUnavailable
from integrations.digitalocean import DORateLimited, DOServerError
from tests.billing.factories import (
    DO_BASE_URL,
    GrowingCsv,
    invoice_csv,
    line,
    make_invoice,
    serve_invoice,
)

DO_TASKS = (tasks.snapshot_balance, tasks.sync_billing_history)


@pytest.mark.parametrize(
    "task",
    [
        tasks.snapshot_balance,
        tasks.sync_billing_history,
        tasks.ingest_invoice,
        tasks.push_to_finance,
    ],
)
def test_tasks_route_to_the_billing_queue(task):
    assert task.name.startswith("billing.")
    assert celery_app.amqp.router.route({}, task.name)["queue"].name == "cloud_billing"
    assert task.time_limit and task.soft_time_limit


def test_retry_policies():
    for task in (*DO_TASKS, tasks.ingest_invoice):
        assert set(task.autoretry_for) == {DORateLimited, DOServerError}
    assert tuple(tasks.push_to_finance.autoretry_for) == (FinanceUnavailable,)
    assert tasks.push_to_finance.retry_backoff


def test_schedules():
    by_task = {spec.task: spec for spec in SCHEDULES}
    balance = by_task["billing.snapshot_balance"]
    history = by_task["billing.sync_billing_history"]
    assert (balance.minute, balance.hour, balance.queue) == ("7", "*", "cloud_billing")
    assert (history.minute, history.hour, history.queue) == ("23", "2", "cloud_billing")


@pytest.mark.parametrize(
    ("task", "args"),
    [
        (tasks.snapshot_balance, ()),
        (tasks.sync_billing_history, ()),
        (tasks.ingest_invoice, ("some-uuid",)),
    ],
)
def test_without_a_token_one_line_is_logged_and_the_task_succeeds(settings, caplog, task, args):
    settings.DO_API_TOKEN = settings.DO_TOKEN_BILLING = ""
    with caplog.at_level(logging.WARNING, logger="billing"):
        result = task.delay(*args).get()
    assert "no DigitalOcean billing token" in result["skipped"]
    lines = [r for r in caplog.records if "no DigitalOcean billing token" in r.getMessage()]
    assert len(lines) == 1


@pytest.mark.django_db
def test_snapshot_task_stores_a_snapshot(billing_token):
    result = tasks.snapshot_balance.delay().get()
    assert result["month_to_date_balance"] == "238.41"


@pytest.mark.django_db
def test_ingest_task_is_idempotent(settings):
    settings.DO_API_BASE_URL, settings.DO_TOKEN_BILLING, settings.FINANCE_URL = DO_BASE_URL, "t", ""
    invoice = make_invoice()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as do_api:
        serve_invoice(do_api, invoice.invoice_uuid, invoice_csv([line(), line("Taxes", "GST")]))
        first = tasks.ingest_invoice.delay(invoice.invoice_uuid).get()
        second = tasks.ingest_invoice.delay(invoice.invoice_uuid).get()
    assert first == second
    assert (first["status"], first["lines"]) == ("ingested", 2)
    assert CloudCostLine.objects.filter(invoice=invoice).count() == 2


@pytest.mark.django_db
def test_ingest_task_reports_an_unreadable_file_without_retrying(settings):
    settings.DO_API_BASE_URL, settings.DO_TOKEN_BILLING = DO_BASE_URL, "t"
    invoice = make_invoice()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as do_api:
        serve_invoice(do_api, invoice.invoice_uuid, "product,description\nDroplets,x\n")
        result = tasks.ingest_invoice.delay(invoice.invoice_uuid).get()
        csv_calls = [c for c in do_api.calls if c.request.url.endswith("/csv")]
    assert result["status"] == "failed"
    assert "required column(s) USD, start, end" in result["error"]
    assert len(csv_calls) == 1
    assert CloudInvoice.objects.get(pk=invoice.pk).last_error


@pytest.mark.django_db
def test_a_50_mb_file_is_cut_off_while_streaming_and_recorded(settings):
    """The probe's 464,000-line file, with the default limit (20 MiB): refused once the limit
    is crossed, not after holding 50 MB; the task reports it and the invoice says why."""
    settings.DO_API_BASE_URL, settings.DO_TOKEN_BILLING = DO_BASE_URL, "t"
    assert settings.DO_INVOICE_CSV_MAX_BYTES == 20 * 1024 * 1024
    invoice = make_invoice()
    body = GrowingCsv(50_000_000)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as do_api:
        serve_invoice(do_api, invoice.invoice_uuid, b"", amount="100.00")
        do_api.upsert(
            responses.GET,
            f"{DO_BASE_URL}/v2/customers/my/invoices/{invoice.invoice_uuid}/csv",
            body=io.BufferedReader(body),
            content_type="text/csv",
        )
        result = tasks.ingest_invoice.delay(invoice.invoice_uuid).get()

    assert result["status"] == "failed"
    assert "larger than 20971520 bytes (DO_INVOICE_CSV_MAX_BYTES)" in result["error"]
    assert body.served < 21 * 1024 * 1024  # the limit and a chunk, never the 50 MB
    invoice.refresh_from_db()
    assert invoice.last_error == result["error"]
    assert invoice.lines_ingested_at is None
