"""billing_history_sync against the emulator: invoice headers, periods, ingest enqueueing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from billing.models import CloudInvoice
from billing.services import billing_history_sync
from tests.billing.factories import PERIOD

pytestmark = pytest.mark.django_db


def test_invoice_entries_become_headers_for_the_previous_month(
    emulator, emulator_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        result = billing_history_sync(client=emulator_client)

    invoice = CloudInvoice.objects.get()  # the Payment entries are not invoices
    assert invoice.invoice_uuid == emulator.invoice.uuid
    assert invoice.invoice_id == emulator.invoice.invoice_id
    assert invoice.period == PERIOD
    assert invoice.amount == Decimal("6411.66")
    assert invoice.issued_at == dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    assert invoice.lines_ingested_at is None
    assert (result.listed, result.created, result.to_ingest) == (1, 1, [invoice.invoice_uuid])
    assert len(callbacks) == 1  # the ingest is queued after commit


def test_a_second_sync_of_an_ingested_invoice_changes_and_queues_nothing(
    emulator_client, django_capture_on_commit_callbacks
):
    billing_history_sync(client=emulator_client, enqueue_ingest=False)
    CloudInvoice.objects.update(lines_ingested_at=dt.datetime(2026, 5, 2, tzinfo=dt.UTC))
    with django_capture_on_commit_callbacks() as callbacks:
        result = billing_history_sync(client=emulator_client)
    assert (result.created, result.updated, result.unchanged, result.to_ingest) == (0, 0, 1, [])
    assert callbacks == []


def test_a_not_yet_ingested_invoice_is_queued_again(emulator_client):
    billing_history_sync(client=emulator_client, enqueue_ingest=False)
    result = billing_history_sync(client=emulator_client, enqueue_ingest=False)
    assert result.to_ingest == [CloudInvoice.objects.get().invoice_uuid]


def test_a_changed_header_is_updated_and_reingested(emulator_client):
    billing_history_sync(client=emulator_client, enqueue_ingest=False)
    CloudInvoice.objects.update(
        amount=Decimal("1.00"), lines_ingested_at=dt.datetime(2026, 5, 2, tzinfo=dt.UTC)
    )
    result = billing_history_sync(client=emulator_client, enqueue_ingest=False)
    assert (result.updated, len(result.to_ingest)) == (1, 1)
    assert CloudInvoice.objects.get().amount == Decimal("6411.66")


def test_a_later_sync_keeps_the_period_the_summary_set(emulator_client):
    billing_history_sync(client=emulator_client, enqueue_ingest=False)
    CloudInvoice.objects.update(period=dt.date(2026, 3, 1))
    billing_history_sync(client=emulator_client, enqueue_ingest=False)
    assert CloudInvoice.objects.get().period == dt.date(2026, 3, 1)


def test_before_the_invoice_is_issued_there_is_nothing(emulator, emulator_client):
    emulator.set_clock(dt.datetime(2026, 4, 20, tzinfo=dt.UTC))
    result = billing_history_sync(client=emulator_client)
    assert result.listed == 0
    assert not CloudInvoice.objects.exists()


def test_unreadable_entries_are_skipped_not_fatal(emulator, emulator_client):
    emulator.faults.add(
        path_prefix="/v2/customers/my/billing_history",
        body='{"billing_history": [{"type": "Invoice", "invoice_uuid": "u-1", "date": "soon",'
        ' "amount": "1.00"}, {"type": "Invoice", "invoice_uuid": "u-2",'
        ' "date": "2026-03-01T00:00:00Z", "amount": "2.50"}], "links": {}, "meta": {"total": 2}}',
    )
    result = billing_history_sync(client=emulator_client, enqueue_ingest=False)
    assert len(result.skipped) == 1 and "u-1" in result.skipped[0]
    invoice = CloudInvoice.objects.get()
    assert (invoice.invoice_uuid, invoice.period) == ("u-2", dt.date(2026, 2, 1))
