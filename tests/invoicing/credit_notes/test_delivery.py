"""Issued documents delivered: receivables pushed to finance exactly once under retries (finance
faked with `responses`), PDFs emailed to the billing emails (Django's locmem outbox)."""

from __future__ import annotations

import json

import pytest
import responses
from django.core import mail

from invoicing.credit_notes.services import credit_note_issue
from invoicing.documents.email import document_email_resend
from invoicing.models import DocumentEmail, ReceivablePush
from invoicing.receivables.services import IMPORT_PATH, receivable_push_again
from invoicing.tasks import email_document, push_receivable
from tests.conftest import TENANT_A
from tests.customers.factories import make_profile
from tests.invoicing.credit_notes.factories import issued_invoice, usage_line
from tests.invoicing.factories import ACTOR

pytestmark = pytest.mark.django_db
FINANCE = "https://finance.example"
URL = FINANCE + IMPORT_PATH


@pytest.fixture
def finance(settings):
    settings.FINANCE_URL = FINANCE
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def test_an_issued_invoice_is_pushed_once_through_a_5xx_retry(
    finance, django_capture_on_commit_callbacks
):
    make_profile(TENANT_A, legal_name="Orchid Labs Pty Ltd", abn="53 004 085 616")
    finance.add(responses.POST, URL, status=503, body="down")
    finance.add(responses.POST, URL, status=201, json={"status": "created", "id": "ar-1"})

    with django_capture_on_commit_callbacks(execute=True):
        invoice = issued_invoice(TENANT_A)

    # The 503: recorded, and the task asked Celery for a retry (eager mode raises it instead).
    push = ReceivablePush.objects.get(invoice=invoice)
    assert push.status == "pending" and "HTTP 503" in push.last_error
    # The retry, as a worker would run it.
    push_receivable.apply(args=[push.pk])
    push.refresh_from_db()
    assert (push.status, push.finance_status, push.finance_id) == ("pushed", "created", "ar-1")
    assert push.attempts == 2 and push.last_error == ""
    calls = [c for c in finance.calls if c.request.url == URL]
    assert len(calls) == 2
    body = json.loads(calls[-1].request.body)
    assert body["source"] == "arcadia-cloud" and body["type"] == "invoice"
    assert body["external_id"] == invoice.number
    assert body["customer"] == {
        "tenant_id": TENANT_A,
        "legal_name": "Orchid Labs Pty Ltd",
        "abn": "53004085616",
    }
    assert (body["amount_net_minor"], body["amount_tax_minor"], body["amount_gross_minor"]) == (
        12345,
        1235,
        13580,
    )
    assert body["issue_date"] == invoice.issued_at.date().isoformat()
    assert body["due_date"] == invoice.due_on.isoformat()
    assert calls[-1].request.headers["Authorization"].startswith("Bearer ")
    # The same key for the same payload: a retry is the same request.
    assert (
        calls[0].request.headers["Idempotency-Key"] == calls[1].request.headers["Idempotency-Key"]
    )

    # A redelivered task sends nothing: finance has this payload already.
    push_receivable.apply(args=[push.pk])
    assert len([c for c in finance.calls if c.request.url == URL]) == 2
    assert ReceivablePush.objects.filter(invoice=invoice).count() == 1


def test_a_4xx_is_stored_not_retried_and_push_again_sends_it(
    finance, django_capture_on_commit_callbacks
):
    finance.add(responses.POST, URL, status=422, json={"error": "unknown customer"})
    with django_capture_on_commit_callbacks(execute=True):
        invoice = issued_invoice(TENANT_A)
    push = ReceivablePush.objects.get(invoice=invoice)
    assert push.status == "rejected" and "HTTP 422" in push.last_error
    assert len(finance.calls) == 1

    finance.replace(responses.POST, URL, status=200, json={"status": "updated", "id": "ar-9"})
    with django_capture_on_commit_callbacks(execute=True):
        receivable_push_again(push=push, actor=ACTOR)
    push.refresh_from_db()
    assert (push.status, push.finance_status, push.last_error) == ("pushed", "updated", "")


def test_an_adjustment_note_is_pushed_as_a_credit_note(finance, django_capture_on_commit_callbacks):
    finance.add(responses.POST, URL, status=201, json={"status": "created", "id": "x"})
    invoice = issued_invoice(TENANT_A)
    with django_capture_on_commit_callbacks(execute=True):
        note = credit_note_issue(
            invoice=invoice,
            reason="x",
            lines=[{"line_id": usage_line(invoice).pk, "amount_cents": 3333}],
            actor=ACTOR,
        )
    push = ReceivablePush.objects.get(credit_note=note)
    assert push.status == "pushed"
    body = json.loads(finance.calls[-1].request.body)
    assert (body["type"], body["external_id"], body["adjusts_external_id"]) == (
        "credit_note",
        note.number,
        invoice.number,
    )
    assert (body["amount_net_minor"], body["amount_tax_minor"], body["amount_gross_minor"]) == (
        3333,
        333,
        3666,
    )


def test_without_finance_url_the_push_is_skipped(settings, django_capture_on_commit_callbacks):
    settings.FINANCE_URL = ""
    with django_capture_on_commit_callbacks(execute=True):
        invoice = issued_invoice(TENANT_A)
    assert ReceivablePush.objects.get(invoice=invoice).status == "skipped"


def test_issuing_emails_the_pdf_to_the_billing_emails(django_capture_on_commit_callbacks):
    make_profile(TENANT_A, billing_emails=["ap@orchid.example", "cfo@orchid.example"])
    with django_capture_on_commit_callbacks(execute=True):
        invoice = issued_invoice(TENANT_A)

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ap@orchid.example", "cfo@orchid.example"]
    assert invoice.number in message.subject
    ((name, content, mimetype),) = message.attachments
    assert name == f"{invoice.number}.pdf" and mimetype == "application/pdf"
    assert content.startswith(b"%PDF-")
    delivery = DocumentEmail.objects.get(invoice=invoice)
    assert delivery.status == "sent" and delivery.sent_at is not None

    with django_capture_on_commit_callbacks(execute=True):
        document_email_resend(email=delivery, actor=ACTOR)
    assert len(mail.outbox) == 2
    assert DocumentEmail.objects.filter(invoice=invoice, status="sent").count() == 2
    # A redelivered task does not send a sent email again.
    email_document.apply(args=[delivery.pk])
    assert len(mail.outbox) == 2


def test_no_billing_email_is_recorded_as_skipped(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        invoice = issued_invoice(TENANT_A)
    assert mail.outbox == []
    assert DocumentEmail.objects.get(invoice=invoice).status == "skipped"
